"""Building the decoder for a framing from the call template's fields.

The one entry point the protocol uses: it validates the arguments once, so the
decoders themselves never re-check them per chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, ON_MALFORMED, Decoder
from utcp_http_stream.decoders.chunks import BytesDecoder
from utcp_http_stream.decoders.document import JsonDecoder, JsonDocument
from utcp_http_stream.decoders.framing import FRAMINGS
from utcp_http_stream.decoders.json_seq import JsonSeqDecoder
from utcp_http_stream.decoders.ndjson import NdjsonDecoder
from utcp_http_stream.decoders.pointer import Pointer, compile_pointer
from utcp_http_stream.decoders.sse_items import SseDecoder
from utcp_http_stream.decoders.text import TextDecoder
from utcp_http_stream.errors import TemplateError

__all__ = ["DecoderFactory", "build_decoder", "cached_decoder_factory", "decoder_factory", "json_document"]


#: Makes a fresh decoder; its argument is the SSE resume id (ignored by the other framings).
DecoderFactory = Callable[[str | None], Decoder]


def build_decoder(
    framing: str,
    *,
    chunk_size: int = 4096,
    charset: str | None = None,
    max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
    on_malformed: str = "error",
    select: str | None = None,
    stop_marker: str | None = "[DONE]",
    sse_event_types: list[str] | None = None,
    last_event_id: str | None = None,
    events: bool = False,
) -> Decoder:
    """The decoder for a framing (see :data:`FRAMINGS`), configured from the
    call template's fields.

    ``charset`` applies to ``text`` and ``json`` (SSE and NDJSON are always
    UTF-8); ``select``, ``stop_marker`` (``None`` or ``""``: no marker) and
    ``on_malformed`` apply to the JSON framings, ``stop_marker`` and
    ``on_malformed`` also to ``text``; ``sse_event_types``, ``last_event_id``
    and ``events`` only to ``sse``. Raises :class:`TemplateError` (a
    :class:`ValueError`) for a bad argument, and :class:`StreamDecodeError` for
    an unknown charset, which comes from the response.
    """
    make = decoder_factory(
        framing, chunk_size, charset, max_item_bytes, on_malformed, select, stop_marker, sse_event_types, events
    )
    return make(last_event_id)


def decoder_factory(
    framing: str,
    chunk_size: int,
    charset: str | None,
    max_item_bytes: int,
    on_malformed: str,
    select: str | None,
    stop_marker: str | None,
    sse_event_types: Sequence[str] | None,
    events: bool,
) -> DecoderFactory:
    """:func:`build_decoder`'s arguments (all of them, in its order, without
    ``last_event_id``; the defaults are build_decoder's) checked once: the
    factory it returns makes fresh decoders with no check (a call template
    is called again and again; see :func:`cached_decoder_factory`)."""
    _check_settings(framing, on_malformed, chunk_size, max_item_bytes)
    pointer = _select_pointer(select, framing)
    _check_event_types(sse_event_types)
    if framing == "bytes":
        return lambda _id: BytesDecoder(chunk_size)
    if framing == "text":
        return lambda _id: TextDecoder(
            charset, max_item_bytes=max_item_bytes, on_malformed=on_malformed, stop_marker=stop_marker
        )
    if framing in ("ndjson", "json_seq"):
        kind = NdjsonDecoder if framing == "ndjson" else JsonSeqDecoder
        return lambda _id: kind(
            max_item_bytes=max_item_bytes, on_malformed=on_malformed, select=pointer, stop_marker=stop_marker
        )
    if framing == "sse":
        types = None if sse_event_types is None else list(sse_event_types)
        return lambda last_event_id: SseDecoder(
            max_item_bytes=max_item_bytes,
            on_malformed=on_malformed,
            select=pointer,
            stop_marker=stop_marker,
            event_types=types,
            last_event_id=last_event_id,
            events=events,
        )
    # Checked above: made here, not through json_document(), which would check again.
    document = JsonDocument(charset, max_item_bytes, on_malformed, pointer)
    return lambda _id: JsonDecoder(document)


#: :func:`decoder_factory` from a bounded cache (positional, hashable
#: arguments: ``sse_event_types`` as a tuple). A check that fails is not cached.
cached_decoder_factory = functools.lru_cache(maxsize=256)(decoder_factory)


@functools.lru_cache(maxsize=256)
def json_document(charset: str | None, max_item_bytes: int, on_malformed: str, select: str | None) -> JsonDocument:
    """The json framing's :class:`JsonDocument` for these template fields,
    checked once, from a bounded cache (a check that fails is not cached)."""
    _check_settings("json", on_malformed, 1, max_item_bytes)
    return JsonDocument(charset, max_item_bytes, on_malformed, _select_pointer(select, "json"))


def _check_settings(framing: str, on_malformed: str, chunk_size: int, max_item_bytes: int) -> None:
    """Refuse an unknown framing or ``on_malformed``, and a size below 1."""
    if framing not in FRAMINGS:
        raise TemplateError(
            f"unknown framing {framing!r}; expected one of {', '.join(FRAMINGS)} "
            "(resolve 'auto' with framing_for_content_type first)"
        )
    if on_malformed not in ON_MALFORMED:
        raise TemplateError(f"on_malformed must be one of {', '.join(ON_MALFORMED)}, not {on_malformed!r}")
    for name, size in (("chunk_size", chunk_size), ("max_item_bytes", max_item_bytes)):
        if size < 1:
            raise TemplateError(f"{name} must be at least 1, not {size}")


def _check_event_types(sse_event_types: Sequence[str] | None) -> None:
    if sse_event_types is not None and (
        isinstance(sse_event_types, str) or not all(isinstance(t, str) for t in sse_event_types)
    ):
        raise TemplateError(f"sse_event_types must be a list of str, not {sse_event_types!r}")


def _select_pointer(select: str | None, framing: str) -> Pointer | None:
    """``select`` compiled, for a JSON framing only."""
    if select is None:
        return None
    try:
        pointer = compile_pointer(select)
    except ValueError as exc:
        raise TemplateError(f"select: {exc}") from None
    if framing in ("text", "bytes"):
        raise TemplateError(
            f"select needs a JSON framing (ndjson, sse, json_seq or json), but the framing is {framing}; "
            "remove select from the call template or set stream_format to a JSON framing"
        )
    return pointer
