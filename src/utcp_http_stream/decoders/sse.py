"""Server-sent events: the WHATWG HTML "event stream interpretation", at byte level.

We own the framing instead of reading text lines from the HTTP library, so the
details that decide interoperability are exactly the spec's: one leading UTF-8
BOM dropped (even when split across chunks); lines end at CRLF, LF or a lone
CR, and a CR at the end of one chunk followed by an LF at the start of the next
is one line ending; ``:`` starts a comment; the value loses one leading space;
``data`` lines accumulate; ``id`` persists across events and is refused when it
contains NUL; ``retry`` is taken only when all ASCII digits; a blank line
dispatches, and a block without ``data`` dispatches nothing; the incomplete
event at the end of the stream is discarded.

The stream is UTF-8 decoded with replacement, as the spec says. Field names,
CR, LF, ``:`` and the space are ASCII and can never be part of a multibyte
sequence, so splitting bytes first and decoding each value afterwards gives the
same text as decoding the whole stream first, never mangles a character split
across chunks, and never decodes byte by byte.

Complexity goal: worst case O(n) in bytes processed, like ``lines.py``: each
chunk is split on its own (``bytes.splitlines`` knows exactly CR, LF and CRLF),
and a partial line is kept as pieces joined once when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Any

from utcp_http_stream.decoders import jsonlib
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES
from utcp_http_stream.decoders.diagnostics import decode_error, prefix_for_excerpt
from utcp_http_stream.decoders.lines import first_too_long
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["RawEvent", "ServerSentEvent", "SseParser", "decoded_events"]

_BOM = b"\xef\xbb\xbf"
_CR = 0x0D
_LF = 0x0A
# int() refuses thousands of digits; a reconnection time of more than 10**18 ms
# (31 million years) means "never", so longer values are clamped.
_MAX_RETRY_DIGITS = 18
_MAX_RETRY = 10**_MAX_RETRY_DIGITS - 1

# A dispatched event, as the decoders consume it: the event number (1-based,
# counting every dispatched event), the event type, the data as raw UTF-8
# bytes (decoding is deferred: JSON parses bytes directly), the last event ID,
# and the retry value given in this event's block.
RawEvent = tuple[int, str, bytes, str | None, int | None]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    ``id`` is the last event ID in force when the event was dispatched (it
    persists across events, as the spec requires; ``None`` when no ID was ever
    set). ``retry`` is the reconnection time, in milliseconds, given in this
    event's own block, or ``None``.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON (raises :class:`ValueError` when it is not)."""
        return jsonlib.loads(self.data)


def decoded_events(raw: list[RawEvent]) -> list[ServerSentEvent]:
    """The :class:`ServerSentEvent` of each raw event, its data decoded."""
    return [ServerSentEvent(kind, data.decode("utf-8", "replace"), id_, retry) for _, kind, data, id_, retry in raw]


class SseParser:
    """Incremental parser: :meth:`feed` bytes, get the events they complete.

    ``last_event_id`` is what a client sends as ``Last-Event-ID`` when it
    reconnects (send it only when non-empty: an ``id`` field with an empty
    value resets it); pass it back to the constructor of the parser for the
    new connection. ``retry`` is the reconnection time the server asked for.

    A line longer than ``max_item_bytes``, or an event whose data grows beyond
    it, raises :class:`StreamDecodeError` naming the event. Events completed
    before the offending line are returned first; the error is raised by the
    same call when there are none, else by the next call.
    """

    __slots__ = (
        "_after_cr",
        "_at_start",
        "_data_len",
        "_data_parts",
        "_dispatched",
        "_event_retry",
        "_event_type",
        "_head",
        "_id_buffer",
        "_limit",
        "_lines_done",
        "_pending",
        "_pending_len",
        "error",
        "last_event_id",
        "retry",
    )

    def __init__(self, last_event_id: str | None = None, *, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES) -> None:
        #: The last event ID string of the event source (updated at dispatch).
        self.last_event_id = last_event_id
        #: The reconnection time in milliseconds, once the server set one.
        self.retry: int | None = None
        #: The oversized line/event error, once one was met; the parser is then dead.
        self.error: StreamDecodeError | None = None
        self._limit = max_item_bytes
        # The spec's "last event ID buffer", seeded with the ID being resumed
        # from (as browsers do), so a reconnect does not forget it.
        self._id_buffer = last_event_id
        self._event_type = "message"  # the event type buffer; empty means "message"
        self._event_retry: int | None = None
        self._data_parts: list[bytes] = []
        self._data_len = 0  # bytes of data so far, plus one LF per data line
        self._dispatched = 0
        self._lines_done = 0
        self._pending: list[bytes] = []  # pieces of the current partial line
        self._pending_len = 0
        self._at_start = True  # the leading BOM is still to be looked for
        self._head = b""  # the first bytes while they may still be a BOM
        self._after_cr = False  # the last chunk ended with CR: skip one LF

    # -- public API -----------------------------------------------------------

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Events dispatched by ``data``, in order."""
        raw = self.feed_raw(data)
        if not raw and self.error is not None:
            raise self.error
        return decoded_events(raw)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: the incomplete event, if any, is discarded (the spec
        says so), so this returns nothing; it raises a pending error."""
        if self.error is not None:
            raise self.error
        self._pending = []
        self._pending_len = 0
        self._data_parts = []
        self._data_len = 0
        return []

    # -- the parser proper ----------------------------------------------------

    def feed_raw(self, data: bytes) -> list[RawEvent]:
        """Like :meth:`feed`, but returns :data:`RawEvent` tuples and never
        raises a new error itself: it sets :attr:`error` for the caller to raise
        once it has delivered the events returned (a later call raises it)."""
        if self.error is not None:
            raise self.error
        if self._at_start or self._after_cr:
            data = self._strip_start(data)
        if _LF not in data and _CR not in data:  # int probes: a plain memchr each
            self._hold(data)  # no line completes: remember the piece
            return []
        return self._feed_lines(data)

    def _feed_lines(self, data: bytes) -> list[RawEvent]:
        """The events dispatched by the lines ``data`` completes (it holds a
        line ending); its partial last line is held."""
        arrived = self._pending_len + len(data)
        lines, tail = self._split_lines(data)
        events: list[RawEvent] = []
        # The lines together are no longer than what arrived, so only a chunk
        # that could hold an oversized line pays for measuring each.
        if arrived > self._limit:
            self._process_measured(lines, events)
        else:
            self._process(lines, events)
        if tail and self.error is None:
            self._hold(tail)
        return events

    def _strip_start(self, data: bytes) -> bytes:
        """``data`` without the stream's leading BOM and without the LF that
        completes a CRLF split across chunks."""
        if self._at_start:
            data = self._drop_bom(data)
        if self._after_cr and data:
            self._after_cr = False
            if data[0] == _LF:
                return data[1:]
        return data

    def _drop_bom(self, data: bytes) -> bytes:
        head = self._head + data
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head  # could still be a BOM: wait for more bytes
            return b""
        self._at_start = False
        self._head = b""
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _hold(self, piece: bytes) -> None:
        """Keep ``piece`` of the partial line (no copy) and check its length."""
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len > self._limit:
            self._line_too_long(self._lines_done + 1, b"".join(self._pending))

    def _split_lines(self, data: bytes) -> tuple[list[bytes], bytes]:
        """(complete lines, partial last line) of ``data``, which holds a line
        ending; the partial line held before is joined to the first line."""
        lines = data.splitlines()
        last = data[-1]
        if last == _LF or last == _CR:
            tail = b""
            self._after_cr = last == _CR
        else:
            tail = lines.pop()
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        return lines, tail

    def _process_measured(self, lines: list[bytes], events: list[RawEvent]) -> None:
        """:meth:`_process` for lines that may include one longer than the
        limit: the lines before it are interpreted, then it is refused."""
        bad = first_too_long(lines, self._limit)
        if bad < 0:
            self._process(lines, events)
            return
        if bad:
            self._process(lines[:bad], events)
        if self.error is None:
            self._line_too_long(self._lines_done + 1, lines[bad])

    def _process(self, lines: list[bytes], events: list[RawEvent]) -> None:
        """Interpret complete lines, none of them too long: by C-level scans
        when they are the common shape, else line by line."""
        if self._only_data_blank_pairs(lines):
            self._process_data_blank_pairs(lines, events)
        else:
            self._process_each(lines, events)

    def _process_each(self, lines: list[bytes], events: list[RawEvent]) -> None:
        """Interpret complete lines one by one. Data and blank lines are
        handled here with the event's data in locals (stored back at the end,
        or before an error is recorded); the other fields are rarer and go
        through :meth:`_set_field`."""
        parts = self._data_parts
        data_len = self._data_len
        dispatched = self._dispatched
        limit_with_lf = self._limit + 1
        for index, line in enumerate(lines):
            if not line:  # blank line: dispatch the event
                self.last_event_id = self._id_buffer
                if parts:
                    dispatched += 1
                    events.append((dispatched, self._event_type, b"\n".join(parts), self._id_buffer, self._event_retry))
                    parts = []
                    data_len = 0
                self._event_type = "message"
                self._event_retry = None
                continue
            # "data:" is by far the most common line: recognise it first.
            if line.startswith(b"data:"):
                value = line[6:] if line.startswith(b"data: ") else line[5:]
            elif line == b"data":  # the field name alone: an empty data line
                value = b""
            else:
                self._set_field(line)
                continue
            parts.append(value)
            data_len += len(value) + 1
            if data_len > limit_with_lf:
                self._dispatched = dispatched
                self._data_too_long(self._lines_done + index + 1, line)
                return
        self._lines_done += len(lines)
        self._data_parts = parts
        self._data_len = data_len
        self._dispatched = dispatched

    def _set_field(self, line: bytes) -> None:
        """A line that is neither blank nor data: ``event``, ``id`` and
        ``retry`` set the parser's state; comments (an empty field name) and
        any other field are ignored."""
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"event":
            self._event_type = value.decode("utf-8", "replace") or "message"
        elif name == b"id":
            if 0 not in value:  # no NUL
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry":
            self._set_retry(value)

    def _set_retry(self, value: bytes) -> None:
        """A ``retry`` field: taken only when all ASCII digits (which
        ``bytes.isdigit()`` means), clamped to :data:`_MAX_RETRY`."""
        if value.isdigit():
            self.retry = self._event_retry = int(value) if len(value) <= _MAX_RETRY_DIGITS else _MAX_RETRY

    def _only_data_blank_pairs(self, lines: list[bytes]) -> bool:
        """Between events (no data, type or retry pending), and ``lines`` are
        pairs of one ``data: `` line and a blank line: C-level scans only."""
        return (
            not self._data_parts
            and self._event_type == "message"
            and self._event_retry is None
            and not len(lines) & 1
            and not any(lines[1::2])
            and all(map(bytes.startswith, lines[0::2], repeat(b"data: ")))
        )

    def _process_data_blank_pairs(self, lines: list[bytes], events: list[RawEvent]) -> None:
        """The shape of nearly every stream (OpenAI, most servers): events of
        one ``data: `` line each, then a blank line, and no other field. The
        caller checked that with C-level scans; the result is what the general
        loop gives, built without a Python step per line. Each value fits in
        the limit, since its line does."""
        first = self._dispatched + 1
        values = [line[6:] for line in lines[0::2]]
        self._dispatched += len(values)
        self._lines_done += len(lines)
        events.extend(
            zip(
                range(first, first + len(values)),
                repeat("message"),
                values,
                repeat(self._id_buffer),
                repeat(None),
                strict=False,
            )
        )
        self.last_event_id = self._id_buffer

    def _line_too_long(self, line_number: int, line: bytes) -> None:
        self._fail(
            f"line {line_number} is longer than max_item_bytes ({self._limit} bytes)",
            "(nothing more of this line was buffered)",
            line[: prefix_for_excerpt(self._limit)],
        )

    def _data_too_long(self, line_number: int, line: bytes) -> None:
        self._fail(f"its data exceeds max_item_bytes ({self._limit} bytes) at line {line_number}", "", line)

    def _fail(self, what: str, note: str, line: bytes) -> None:
        self._pending = []  # stop holding the oversized data
        self._pending_len = 0
        self._data_parts = []
        self._data_len = 0
        event_number = self._dispatched + 1
        advice = "raise max_item_bytes in the call template if such events are expected"
        self.error = decode_error(
            f"event {event_number}: {what}",
            f"{advice} {note}".rstrip(),
            position=f"event {event_number}",
            data=line,
        )
