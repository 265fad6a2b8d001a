"""The HTTP engine: the one package that does network I/O.

``StreamClient`` owns a pooled ``aiohttp.ClientSession``; ``client.stream()``
is an async context manager (like httpx's) whose body is a ``StreamResponse``
exposing ``status``, ``headers`` and async iteration over decoded items, raw
bytes or SSE events. Everything that makes a stream trustworthy lives here:
the three timeouts, redirect re-validation, the OAuth2 bearer and its single
refresh on 401, interruption detection, prompt connection teardown when the
consumer leaves, and reconnection.

- ``client``: the pool, sending, redirects, OAuth2 bearer, status errors;
- ``response``: iteration, interruption and reconnection;
- ``body``: reading aiohttp's body stream (idle limit, cut detection);
- ``oauth``: the token endpoint request.
"""

from utcp_http_stream.transport.client import MAX_REDIRECTS, StreamClient, coerce_template
from utcp_http_stream.transport.response import StreamResponse

__all__ = ["MAX_REDIRECTS", "StreamClient", "StreamResponse", "coerce_template"]
