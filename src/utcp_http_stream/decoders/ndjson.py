"""The ndjson framing: one JSON value per non-blank line.

The common case, a chunk of many small valid lines, is parsed by one call of
:func:`jsonlib.loads_many_utf8`; only a chunk holding a blank, malformed or
stop line is walked line by line.
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.decoders import jsonlib
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, MALFORMED_HINT, ItemDecoder, stop_bytes
from utcp_http_stream.decoders.diagnostics import decode_error, json_error_reason
from utcp_http_stream.decoders.lines import LineSplitter
from utcp_http_stream.decoders.pointer import Pointer

__all__ = ["NdjsonDecoder"]

_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"


class NdjsonDecoder(ItemDecoder):
    """One parsed JSON value per non-blank line (LF or CRLF; whitespace-only
    lines skipped; a leading byte order mark tolerated; the unterminated last
    line parsed at close). Lines are UTF-8, as RFC 8259 requires of JSON."""

    __slots__ = ("_batch", "_lines", "_mode", "_pointer", "_stop")

    def __init__(
        self,
        *,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        on_malformed: str = "error",
        select: Pointer | None = None,
        stop_marker: str | None = None,
    ) -> None:
        super().__init__()
        self._lines: LineSplitter[bytes] = LineSplitter(max_item_bytes)
        self._mode = on_malformed
        self._pointer = select
        self._stop = stop_bytes(stop_marker)
        # The whole-batch fast path cannot see a stop marker that is itself
        # valid JSON (say "null"): such a marker needs the line-by-line path.
        self._batch = self._stop is None or not _is_json(self._stop)

    def feed(self, data: bytes) -> list[Any]:
        if self._error is not None or self.finished:
            return self._halted()
        splitter = self._lines
        lines = splitter.feed(data)
        if not lines and splitter.error is None:  # hot path: a piece of a long line
            return lines
        return self._settle(lines, splitter.error, self._parse, splitter.lines_done - len(lines))

    def close(self) -> list[Any]:
        if self._error is not None:
            raise self._error
        if self.finished:
            return []
        base = self._lines.lines_done
        last = self._lines.close()
        out = self._parse_one_by_one([last], base) if last is not None else []
        return self._deliver(out)

    def _parse(self, lines: list[bytes], base: int) -> list[Any]:
        if self._batch:
            # Fails (None) on a blank, malformed or stop line, or a BOM.
            values = jsonlib.loads_many_utf8(lines)
            if values is not None:
                return values if self._pointer is None else self._select(self._pointer, values)
        return self._parse_one_by_one(lines, base)

    def _parse_one_by_one(self, lines: list[bytes], base: int) -> list[Any]:
        out: list[Any] = []
        loads_utf8 = jsonlib.loads_utf8
        pointer = self._pointer
        if base == 0:
            lines = _without_bom(lines)
        for index, line in enumerate(lines):
            stripped = line.strip(_JSON_WHITESPACE)
            if not stripped:
                continue
            if stripped == self._stop:
                self.finished = True
                break
            try:
                value = loads_utf8(line)
            except (ValueError, RecursionError) as exc:
                if self._malformed(out, base + index + 1, line, exc):
                    continue
                break
            self._keep(out, pointer, value)
        return out

    def _malformed(self, out: list[Any], number: int, line: bytes, exc: BaseException) -> bool:
        """Apply ``on_malformed`` to line ``number``, not JSON: True to go on."""
        error = decode_error(
            f"line {number} is not valid JSON ({json_error_reason(exc)})",
            f"{MALFORMED_HINT}, or check that the server sends NDJSON (one JSON document per line)",
            position=f"line {number}",
            data=line,
        )
        return self._on_malformed(out, line.decode("utf-8", "replace"), error)


def _without_bom(lines: list[bytes]) -> list[bytes]:
    """The first lines of the body (at least one), a leading byte order mark removed."""
    if lines[0].startswith(_BOM):
        return [lines[0][len(_BOM) :], *lines[1:]]
    return lines


def _is_json(text: bytes) -> bool:
    try:
        jsonlib.loads_utf8(text)
    except (ValueError, RecursionError):
        return False
    return True
