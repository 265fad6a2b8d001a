"""Incremental LF line splitting, shared by the ndjson and text decoders.

Lines end at LF; one CR before the LF (CRLF) is removed, even when the CR and
the LF arrive in different chunks. A lone CR is data (unlike SSE, where CR
alone ends a line: see ``sse.py``). The splitter works on ``bytes`` or on
``str`` alike (text in a charset where LF is not the byte 0x0A is split after
decoding).

Complexity goal: worst case O(n) in the data processed, whatever the chunking.
A partial line is kept as a list of the pieces that arrived, joined exactly
once when its LF arrives; each new chunk is searched for LF on its own, never
together with what is already buffered. Feeding one long line in 64-byte
pieces therefore costs the same as feeding it at once, give or take a constant
(``bench/decoders.py`` measures the ratio). A line longer than the limit is
refused as soon as the buffered part exceeds it, so memory stays bounded by
``limit`` plus one chunk.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from utcp_http_stream.decoders.diagnostics import decode_error, prefix_for_excerpt
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["LineSplitter", "first_too_long"]

AnyStr = TypeVar("AnyStr", bytes, str)


def first_too_long(lines: list[Any], limit: int) -> int:
    """The index of the first of ``lines`` longer than ``limit``, or -1 when
    none is (measured at C speed first: in the common case none is)."""
    if max(map(len, lines)) <= limit:
        return -1
    return next(index for index, line in enumerate(lines) if len(line) > limit)


class LineSplitter(Generic[AnyStr]):
    """Split a stream of ``bytes`` (or ``str``) pieces into lines.

    :meth:`feed` returns the lines completed by the new data, without their
    line ending; :meth:`close` returns the unterminated last line, if any. An
    oversized line is not returned: the lines before it are, and
    :attr:`error` is set; the caller decides when to raise it (after it has
    delivered the earlier lines), and any later call raises it.
    """

    __slots__ = (
        "_cr",
        "_empty",
        "_limit",
        "_limit_bytes",
        "_newline",
        "_pending",
        "_pending_len",
        "_probe_cr",
        "_probe_newline",
        "error",
        "lines_done",
    )

    def __init__(self, limit: int, newline: AnyStr = b"\n", *, unit: int = 1) -> None:
        """``limit`` is the longest line accepted, in bytes. When splitting
        ``str``, ``unit`` is the charset's smallest character size in bytes
        (2 for UTF-16), so a line of ``n`` characters counts as ``n * unit``
        bytes: exact for the common characters, never an overestimate."""
        self._limit_bytes = limit
        self._limit = limit // unit  # in units of len()
        self._newline: AnyStr = newline
        self._cr: AnyStr = "\r" if isinstance(newline, str) else b"\r"  # type: ignore[assignment]
        self._empty: AnyStr = newline[:0]
        # Membership probes: for bytes an int (a plain memchr; ``b"\n" in data``
        # first tries the needle as an int and pays for the failed attempt).
        self._probe_newline: Any = newline if isinstance(newline, str) else newline[0]
        self._probe_cr: Any = "\r" if isinstance(newline, str) else 0x0D
        self._pending: list[AnyStr] = []  # pieces of the current partial line
        self._pending_len = 0
        #: Lines returned so far (the next line is number ``lines_done + 1``).
        self.lines_done = 0
        #: The oversized-line error, once one was met; the splitter is then dead.
        self.error: StreamDecodeError | None = None

    def feed(self, data: AnyStr) -> list[AnyStr]:
        """Lines completed by ``data``, in order."""
        if self.error is not None:
            raise self.error
        if self._probe_newline not in data:
            if data:  # no line completes: remember the piece
                self._hold(data)
            return []
        lines = data.split(self._newline)
        tail = lines.pop()
        arrived = self._pending_len + len(data)
        if self._pending:
            lines[0] = self._take_held(lines[0])
        cr = self._cr
        if self._probe_cr in data or lines[0].endswith(cr):
            lines = [line.removesuffix(cr) for line in lines]
        # The lines together are no longer than what arrived, so only a chunk
        # that could hold an oversized line pays for measuring each one.
        if arrived > self._limit:
            lines, tail = self._cut_at_oversized(lines, tail)
        self.lines_done += len(lines)
        if tail:
            self._hold(tail)
        return lines

    def _hold(self, piece: AnyStr) -> None:
        """Keep ``piece`` of the partial line (no copy) and check the limit."""
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len > self._limit:
            self._check_partial()

    def _take_held(self, last: AnyStr) -> AnyStr:
        """The held pieces and ``last`` joined into one line; nothing is held
        afterwards."""
        self._pending.append(last)
        line = self._empty.join(self._pending)
        self._pending = []
        self._pending_len = 0
        return line

    def close(self) -> AnyStr | None:
        """The unterminated last line (one trailing CR removed), or ``None``."""
        if self.error is not None:
            raise self.error
        if not self._pending:
            return None
        self.lines_done += 1
        return self._take_held(self._empty).removesuffix(self._cr)

    def _cut_at_oversized(self, lines: list[AnyStr], tail: AnyStr) -> tuple[list[AnyStr], AnyStr]:
        """(lines, tail) unchanged when no line is oversized; else the lines
        before the first oversized one, which is refused, and no tail."""
        bad = first_too_long(lines, self._limit)
        if bad < 0:
            return lines, tail
        self._fail(self.lines_done + bad + 1, lines[bad])
        return lines[:bad], self._empty

    def _check_partial(self) -> None:
        # The partial line may end with the CR of a CRLF whose LF is still to
        # come: that CR is not part of the line, so allow it.
        over = self._pending_len - self._limit
        if over > 1 or not self._pending[-1].endswith(self._cr):
            self._fail(self.lines_done + 1, self._empty.join(self._pending))

    def _fail(self, line_number: int, line: AnyStr) -> None:
        self._pending = []  # stop holding the oversized line
        self._pending_len = 0
        self.error = decode_error(
            f"line {line_number} is longer than max_item_bytes ({self._limit_bytes} bytes)",
            "raise max_item_bytes in the call template if such lines are expected "
            "(nothing more of this line was buffered)",
            position=f"line {line_number}",
            data=line[: prefix_for_excerpt(self._limit)],
        )
