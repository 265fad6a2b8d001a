"""The sse framing: dispatched events (from ``sse.py``) to stream items.

Decisions that do not depend on the event (is there a type filter, a stop
marker, a pointer) are taken once; the data of a batch of events is parsed by
one call of :func:`jsonlib.loads_many_utf8` when it is all valid JSON.
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.decoders import jsonlib
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, MALFORMED_HINT, ItemDecoder
from utcp_http_stream.decoders.diagnostics import decode_error, json_error_reason
from utcp_http_stream.decoders.pointer import Pointer
from utcp_http_stream.decoders.sse import RawEvent, SseParser, decoded_events

__all__ = ["SseDecoder"]


class SseDecoder(ItemDecoder):
    """Per dispatched event: its data parsed as JSON when it is valid JSON,
    else the data string (or, with ``events=True``, the
    :class:`ServerSentEvent` itself). Events whose type is not in
    ``event_types`` are dropped; an event whose data equals the stop marker
    ends the stream.

    With ``select`` the data is expected to be JSON, so ``on_malformed``
    decides what happens to an event that is not; without it a non-JSON
    event is simply its string.
    """

    __slots__ = ("_events", "_filtering", "_mode", "_parser", "_pointer", "_stop", "_stop_text", "_types")

    def __init__(
        self,
        *,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        on_malformed: str = "error",
        select: Pointer | None = None,
        stop_marker: str | None = None,
        event_types: list[str] | None = None,
        last_event_id: str | None = None,
        events: bool = False,
    ) -> None:
        super().__init__()
        self._parser = SseParser(last_event_id, max_item_bytes=max_item_bytes)
        self._mode = on_malformed
        self._events = events
        self._pointer = None if events else select
        self._types = None if event_types is None else frozenset(event_types)
        self._stop, self._stop_text = _stop_forms(stop_marker or None)
        self._filtering = event_types is not None or bool(stop_marker)  # filter by type, or stop at a marker

    @property
    def last_event_id(self) -> str | None:
        """The ``Last-Event-ID`` to send when reconnecting (when non-empty)."""
        return self._parser.last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds the server asked for, if any."""
        return self._parser.retry

    def feed(self, data: bytes) -> list[Any]:
        if self._error is not None or self.finished:
            return self._halted()
        parser = self._parser
        raw = parser.feed_raw(data)
        if not raw and parser.error is None:  # hot path: a piece of a long event
            return raw
        return self._settle(raw, parser.error, self._emit)

    def close(self) -> list[Any]:
        if self._error is not None:
            raise self._error
        if self.finished:
            return []
        return self._parser.close()  # the incomplete last event is discarded

    def _emit(self, raw: list[RawEvent]) -> list[Any]:
        if self._filtering:
            raw = self._filtered(raw)
        if self._events:
            return decoded_events(raw)
        values = jsonlib.loads_many_utf8([event[2] for event in raw])
        if values is None:
            return self._emit_one_by_one(raw)
        return values if self._pointer is None else self._select(self._pointer, values)

    def _filtered(self, raw: list[RawEvent]) -> list[RawEvent]:
        """The events of the wanted types, up to the stop marker (which sets
        :attr:`finished`)."""
        types, stop, stop_text = self._types, self._stop, self._stop_text
        kept = []
        for event in raw:
            if types is not None and event[1] not in types:
                continue
            if event[2] == stop or (stop_text is not None and event[2].decode("utf-8", "replace") == stop_text):
                self.finished = True
                break
            kept.append(event)
        return kept

    def _emit_one_by_one(self, raw: list[RawEvent]) -> list[Any]:
        out: list[Any] = []
        pointer = self._pointer
        for number, _, data, _, _ in raw:
            text = data.decode("utf-8", "replace")
            try:
                value = jsonlib.loads(text)
            except (ValueError, RecursionError) as exc:
                if pointer is None:
                    out.append(text)  # not JSON: the data string is the item
                    continue
                if self._malformed(out, number, text, exc):
                    continue
                break
            self._keep(out, pointer, value)
        return out

    def _malformed(self, out: list[Any], number: int, text: str, exc: BaseException) -> bool:
        """Apply ``on_malformed`` to event ``number``, whose data is not JSON
        although ``select`` is set: True to go on."""
        error = decode_error(
            f"event {number} data is not valid JSON ({json_error_reason(exc)}), but select is set",
            f"{MALFORMED_HINT}, or list the JSON event types in sse_event_types",
            position=f"event {number}",
            data=text,
        )
        return self._on_malformed(out, text, error)


def _stop_forms(stop: str | None) -> tuple[bytes | None, str | None]:
    """(bytes, text) to compare event data with: data is compared as raw
    bytes, but a marker holding U+FFFD could equal replaced invalid bytes,
    so only then is decoded text compared."""
    if stop is None:
        return None, None
    if "\ufffd" in stop:
        return None, stop
    return stop.encode("utf-8"), None
