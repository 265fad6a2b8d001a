"""The json_seq framing (RFC 7464): RS-prefixed, LF-terminated JSON texts.

A record begins at an RS byte (0x1E) and holds one JSON text. Its value is
produced at the first LF after which the record so far parses, so a
pretty-printed record spanning many lines works as well as a compact one;
a record that never parses at an LF is judged whole when the next RS (or the
end of the stream) arrives. Whitespace between records and empty records
(consecutive RS bytes) are ignored; anything else that is not inside a
record is malformed, as is a record that is not JSON.

RFC 7464 section 2.4: a record that ends without its LF may have been cut.
An object, array or string that parses completely cannot have lost anything
and is produced; a number, ``true``, ``false`` or ``null`` there could be a
shortened value, so it is malformed (``StreamDecodeError`` by default, never
a silently wrong value).

Complexity goal: worst case O(n) in the bytes processed, whatever the
chunking. A record is buffered once in a ``bytearray``; after a failed parse
attempt at an LF, the next attempt waits until the record has at least
doubled, so a record of many short lines costs O(n) parse work in all. The
attempts depend only on the record's content, never on the chunk
boundaries, so neither do the items. The common case, a chunk of whole
compact records, is parsed in one batch (:meth:`JsonSeqDecoder._whole_records`).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from utcp_http_stream.decoders import jsonlib
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, MALFORMED_HINT, ItemDecoder, stop_bytes
from utcp_http_stream.decoders.diagnostics import decode_error, json_error_reason, prefix_for_excerpt
from utcp_http_stream.decoders.pointer import Pointer

__all__ = ["JsonSeqDecoder"]

_RS = b"\x1e"
_LF = b"\n"
_WS = b" \t\r\n"
_SCALARS = (bool, int, float, type(None))


class JsonSeqDecoder(ItemDecoder):
    """One parsed JSON value per RFC 7464 record, produced at its LF.

    Records are numbered by the RS bytes met so far (``record 3`` is the text
    after the third RS), which is what error positions name.
    """

    __slots__ = ("_buf", "_limit", "_mode", "_next_try", "_open", "_pointer", "_record", "_stop")

    def __init__(
        self,
        *,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        on_malformed: str = "error",
        select: Pointer | None = None,
        stop_marker: str | None = None,
    ) -> None:
        super().__init__()
        self._limit = max_item_bytes
        self._mode = on_malformed
        self._pointer = select
        self._stop = stop_bytes(stop_marker)
        # The current record's bytes (after its RS), or the stray bytes after
        # a produced record / before the first RS.
        self._buf = bytearray()
        self._open = False  # inside a record whose value is not produced yet
        self._record = 0
        self._next_try = 0  # record length from which the next LF is tried

    def feed(self, data: bytes) -> list[Any]:
        if self._error is not None or self.finished:
            return self._halted()
        if self._open and 0x0A not in data and 0x1E not in data:  # hot path: a piece of a long record
            self._buf += data
            if len(self._buf) > self._limit and self._oversized():
                raise self._error  # type: ignore[misc]  # set by _oversized
            return []
        out: list[Any] = []
        self._walk(data, out)
        return self._deliver(out)

    def _walk(self, data: bytes, out: list[Any]) -> None:
        """Records and pieces of records in ``data``, RS by RS."""
        pos = 0
        batch = True  # one batch attempt per chunk: a failed one is not retried record by record
        rs = data.find(_RS)
        while rs >= 0:
            self._take(data, pos, rs, out)
            if self._error is not None or self.finished:
                return
            self._end_record(out, at_eof=False)
            if self._error is not None or self.finished:
                return
            pos = self._whole_records(data, rs, out) if batch else rs
            if pos == rs:  # no batch: open the record that starts here
                batch = False
                self._record += 1
                self._open = True
                self._next_try = 0
                pos = rs + 1
            rs = data.find(_RS, pos)
        self._take(data, pos, len(data), out)

    def _whole_records(self, data: bytes, rs: int, out: list[Any]) -> int:
        """The fast path: the records from the RS at ``rs`` to the chunk's last
        RS, when every one is a compact JSON text and its LF (what a server
        writes), parsed in one batch. Returns the RS to go on from (``rs``
        itself when the batch does not apply: the records are then taken one
        by one, with the same result)."""
        last = data.rfind(_RS)
        if last <= rs:
            return rs
        records = data[rs + 1 : last]
        segments = records.split(_RS)
        if not self._batchable(records, segments):
            return rs
        values = jsonlib.loads_many_utf8([segment[:-1] for segment in segments])
        if values is None:  # a blank, malformed or stdlib-only record
            return rs
        self._record += len(segments)
        out.extend(values if self._pointer is None else self._select(self._pointer, values))
        return last

    def _batchable(self, records: bytes, segments: list[bytes]) -> bool:
        """Each segment one compact JSON text and its LF, within the limit,
        and no stop marker among them: C-level scans only."""
        return (
            records.count(_LF) == len(segments)
            and (self._stop is None or self._stop not in records)
            and all(map(bytes.endswith, segments, repeat(_LF)))
            and max(map(len, segments)) <= self._limit + 1
        )

    def close(self) -> list[Any]:
        if self._error is not None:
            raise self._error
        if self.finished:
            return []
        out: list[Any] = []
        self._end_record(out, at_eof=True)
        return self._deliver(out)

    # -- inside one record -------------------------------------------------------

    def _take(self, data: bytes, pos: int, stop: int, out: list[Any]) -> None:
        """Add ``data[pos:stop]`` (no RS in it) to the current record, trying
        to parse it at each LF that is due."""
        if not self._open:
            self._stray(data[pos:stop])
            return
        buf = self._buf
        while True:
            # No LF before the record reaches _next_try bytes is worth a parse attempt.
            lf = data.find(_LF, pos + max(0, self._next_try - len(buf)), stop)
            buf += data[pos : stop if lf < 0 else lf]
            if self._oversized() or lf < 0:
                return
            if self._try_at_lf(out):
                self._stray(data[lf + 1 : stop])
                return
            buf += _LF
            pos = lf + 1

    def _try_at_lf(self, out: list[Any]) -> bool:
        """Parse the record at an LF: True when it produced its value (or was
        the stop marker), and the record is settled."""
        size = len(self._buf)
        self._next_try = max(2 * size, size + 1)
        text = bytes(self._buf).strip(_WS)
        if not text:
            return False
        if text == self._stop:
            self.finished = True
            return True
        try:
            value = jsonlib.loads_utf8(text)
        except (ValueError, RecursionError):
            return False
        self._settle_record()
        self._keep(out, self._pointer, value)
        return True

    def _settle_record(self) -> None:
        self._open = False
        self._buf = bytearray()

    def _stray(self, data: bytes) -> None:
        """Bytes outside a record: whitespace is fine, the rest is kept until
        the next RS to be reported as one malformed piece."""
        if not self._buf:
            data = data.lstrip(_WS)
        if data:
            self._buf += data
            self._oversized()

    def _oversized(self) -> bool:
        buf = self._buf
        limit = self._limit
        if len(buf) <= limit or len(buf.rstrip(_WS)) <= limit:
            return False
        where = self._where()
        self._error = decode_error(
            f"{where} is longer than max_item_bytes ({limit} bytes)",
            "raise max_item_bytes in the call template if such records are expected "
            "(nothing more of this record was buffered)",
            position=where,
            data=bytes(buf[: prefix_for_excerpt(limit)]),
        )
        self._buf = bytearray()
        return True

    def _where(self) -> str:
        if self._open:
            return f"record {self._record}"
        if self._record == 0:
            return "the data before the first record separator"
        return f"the data after record {self._record}"

    # -- at the end of a record (next RS, or end of stream) ---------------------------

    def _end_record(self, out: list[Any], *, at_eof: bool) -> None:
        buf = self._buf
        text = bytes(buf).strip(_WS)
        terminated = buf[-1:] in (b" ", b"\t", b"\r", b"\n")
        was_open = self._open
        self._settle_record()
        if not text:
            return
        if not was_open:
            self._malformed(out, text, "is not part of any record (records start with the RS byte 0x1E)", None)
        elif text == self._stop:
            self.finished = True
        else:
            self._finish(out, text, terminated=terminated, at_eof=at_eof)

    def _finish(self, out: list[Any], text: bytes, *, terminated: bool, at_eof: bool) -> None:
        try:
            value = jsonlib.loads_utf8(text)
        except (ValueError, RecursionError) as exc:
            cut = " (the stream ended inside it)" if at_eof else ""
            self._malformed(out, text, f"is not valid JSON ({json_error_reason(exc)}){cut}", self._record)
            return
        if not terminated and isinstance(value, _SCALARS):
            self._malformed(
                out,
                text,
                "ends without its line feed, so this number, true, false or null may be truncated "
                "(RFC 7464 section 2.4)",
                self._record,
            )
            return
        self._keep(out, self._pointer, value)

    def _malformed(self, out: list[Any], text: bytes, what: str, record: int | None) -> None:
        if record is None:
            where = "data before the first record" if self._record == 0 else f"data after record {self._record}"
        else:
            where = f"record {record}"
        error = decode_error(
            f"{where} {what}",
            f"{MALFORMED_HINT}, or check that the server sends JSON text sequences (RFC 7464)",
            position=where,
            data=text,
        )
        self._on_malformed(out, text.decode("utf-8", "replace"), error)
