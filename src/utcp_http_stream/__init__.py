"""utcp-http-stream: the streaming-HTTP communication protocol for UTCP.

Installing the distribution registers the ``streamable_http`` call template
type (and its older name ``http_stream``) through the ``utcp.plugins`` entry
point; ``register()`` is what that entry point calls.

Public names are imported lazily so that importing a leaf module (say the
sans-I/O decoders) does not pull in aiohttp or utcp.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from utcp_http_stream.errors import (
    AuthError,
    HttpStatusError,
    HttpStreamError,
    InsecureUrlError,
    StreamDecodeError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
    TlsError,
)

__version__ = "0.1.0"

CALL_TEMPLATE_TYPES = ("streamable_http", "http_stream")

_LAZY = {
    "StreamableHttpCallTemplate": "utcp_http_stream.template",
    "StreamableHttpCallTemplateSerializer": "utcp_http_stream.template",
    "ReconnectPolicy": "utcp_http_stream.template",
    "StreamableHttpCommunicationProtocol": "utcp_http_stream.protocol",
    "StreamClient": "utcp_http_stream.transport",
    "StreamResponse": "utcp_http_stream.transport",
    "ServerSentEvent": "utcp_http_stream.decoders.sse",
}

__all__ = [
    "CALL_TEMPLATE_TYPES",
    "AuthError",
    "HttpStatusError",
    "HttpStreamError",
    "InsecureUrlError",
    "ReconnectPolicy",
    "ServerSentEvent",
    "StreamClient",
    "StreamDecodeError",
    "StreamInterruptedError",
    "StreamResponse",
    "StreamTimeoutError",
    "StreamableHttpCallTemplate",
    "StreamableHttpCallTemplateSerializer",
    "StreamableHttpCommunicationProtocol",
    "TemplateError",
    "TlsError",
    "register",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'utcp_http_stream' has no attribute {name!r}")
    return getattr(import_module(module), name)


def register() -> None:
    """Register the call template serializer and the protocol factory for both
    type names, overriding any earlier registration (utcp-http's included).

    A factory, not an instance: every ``UtcpClient`` owns its own protocol, its
    own connection pool, and closes them in ``client.close()``.
    """
    from utcp.plugins.discovery import register_call_template, register_communication_protocol_factory

    from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol
    from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

    serializer = StreamableHttpCallTemplateSerializer()
    for type_name in CALL_TEMPLATE_TYPES:
        register_call_template(type_name, serializer, override=True)
        register_communication_protocol_factory(type_name, StreamableHttpCommunicationProtocol, override=True)
