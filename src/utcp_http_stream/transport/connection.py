"""Making a pooled session: the connector, TLS, the address guard on every
new connection, and the plugin-side content decoding."""

from __future__ import annotations

import ssl

import aiohttp

from utcp_http_stream.decompress import accept_encoding
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.transport.guard import ConnectGuard

__all__ = ["make_session"]

# Every limit is enforced by this package (the pool wait and the header wait
# in the client, idle and total per body read in transport.body): aiohttp's
# own timers would add a timer per request, and its sock_read drops buffered
# bytes when it fires.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)


def make_session(settings: ClientSettings, tls: ssl.SSLContext) -> aiohttp.ClientSession:
    """A session for one event loop. The pool's limits are enforced by
    :class:`~utcp_http_stream.transport.sessions.LoopPool`, not here, so that
    the wait for a connection is its own timeout phase."""
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=0,
        ttl_dns_cache=300,
        ssl=tls,
        keepalive_timeout=settings.keepalive_expiry / 1000,
        socket_factory=ConnectGuard(settings.allow_local_addresses).socket_factory,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=settings.trust_env,
        timeout=_NO_AIOHTTP_TIMEOUT,
        # Content decoding is the plugin's (decompress.py): bounded pieces,
        # and a compressed stream cut short is detected, not returned as whole.
        auto_decompress=False,
        headers={"Accept-Encoding": accept_encoding()},
    )
