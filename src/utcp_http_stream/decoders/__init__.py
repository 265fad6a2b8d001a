"""Sans-I/O incremental decoders: response body bytes in, stream items out.

Nothing here does I/O, imports aiohttp or is async: ``protocol.py`` moves the
bytes, these modules decide what they mean, and every edge case is a unit test
that feeds bytes. The public surface:

- :func:`build_decoder` returns a :class:`Decoder` for a framing
  (``feed(bytes) -> items``, ``close() -> items``, ``finished``, ``items``);
- :func:`aggregate` turns a whole stream's items into ``call_tool``'s result;
- :func:`framing_for_content_type`, :func:`charset_of` and
  :func:`accept_header_for` map between media types and framings;
- :class:`ServerSentEvent` and :class:`SseParser`, the WHATWG SSE parser;
- :func:`compile_pointer`, :class:`Pointer` and :data:`MISSING`, RFC 6901
  JSON Pointers for ``select``.
"""

from __future__ import annotations

from utcp_http_stream.decoders.aggregate import AGGREGATE_MODES, aggregate
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, ON_MALFORMED, Decoder
from utcp_http_stream.decoders.build import build_decoder
from utcp_http_stream.decoders.framing import (
    FRAMINGS,
    accept_header_for,
    charset_of,
    framing_for_content_type,
)
from utcp_http_stream.decoders.pointer import MISSING, Pointer, compile_pointer
from utcp_http_stream.decoders.sse import ServerSentEvent, SseParser

__all__ = [
    "AGGREGATE_MODES",
    "DEFAULT_MAX_ITEM_BYTES",
    "FRAMINGS",
    "MISSING",
    "ON_MALFORMED",
    "Decoder",
    "Pointer",
    "ServerSentEvent",
    "SseParser",
    "accept_header_for",
    "aggregate",
    "build_decoder",
    "charset_of",
    "compile_pointer",
    "framing_for_content_type",
]
