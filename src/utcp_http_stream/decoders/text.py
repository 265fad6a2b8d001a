"""The text framing: one ``str`` per line, in the response charset.

Most charsets (UTF-8, Latin-1, the Windows code pages, the Asian multibyte
ones) encode LF as the byte 0x0A and never use that byte inside a character,
so the body is split into lines as bytes (``lines.py``) and each batch of
complete lines is decoded at once: a character split across chunks is whole
again by the time its line is decoded. The other charsets (UTF-16/32, EBCDIC,
the stateful ISO-2022 family) go through the codec's incremental decoder first
and are split as ``str``.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from itertools import repeat
from typing import Any

from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, MALFORMED_HINT, ItemDecoder
from utcp_http_stream.decoders.diagnostics import decode_error
from utcp_http_stream.decoders.lines import LineSplitter
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["TextDecoder", "lookup_charset"]

# Undecodable bytes in the str path are replaced by this lone surrogate (no
# valid decoding produces one), so each line can still be judged on its own.
_MARK = "\udfff"
_MARK_ERRORS = "utcp_http_stream.decoders.mark"
codecs.register_error(_MARK_ERRORS, lambda exc: (_MARK, exc.end))  # type: ignore[arg-type,return-value]


def _splits_as_bytes(info: codecs.CodecInfo) -> bool:
    """Whether LF is always the byte 0x0A in this charset and lines can be
    decoded one by one (true for UTF-8, Latin-1, the Windows code pages and
    the Asian multibyte charsets; false for UTF-16/32, EBCDIC and the stateful
    ISO-2022 family)."""
    if info.name.startswith("iso2022") or info.name in ("hz", "utf-7"):
        return False
    try:
        return "\n".encode(info.name) == b"\n" and b"a\nb".decode(info.name) == "a\nb"
    except (UnicodeError, LookupError):
        return False


def _is_text_codec(info: codecs.CodecInfo) -> bool:
    """Whether a codec decodes bytes to text (``base64``, ``zlib`` or
    ``rot13`` do not), told by decoding nothing: public API only."""
    try:
        return isinstance(codecs.decode(b"", info.name), str)
    except Exception:
        return False


def lookup_charset(charset: str) -> codecs.CodecInfo:
    """The codec for a response charset, or a :class:`StreamDecodeError` (the
    charset comes from the server) saying how to get the body anyway."""
    try:
        info = codecs.lookup(charset)
    except LookupError:
        info = None
    if info is None or not _is_text_codec(info):
        raise decode_error(
            "unknown charset in the response Content-Type",
            "set stream_format to 'bytes' in the call template to receive the raw body",
            position="headers",
            data=charset,
        )
    return info


class _ByteOrderSniffer:
    """Incremental decoder for the bare "utf-16"/"utf-32" labels.

    Python's own refuses a stream without a byte order mark; the WHATWG
    Encoding standard reads such a "utf-16" body as little-endian. Pick the
    byte order from the BOM when there is one (the BOM itself decodes to
    U+FEFF and is dropped with the first line's) and little-endian otherwise.
    """

    __slots__ = ("_bits", "_decoder", "_head")

    def __init__(self, bits: int) -> None:
        self._bits = bits
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._decoder is None:
            self._head += data
            width = self._bits // 8
            if len(self._head) < width and not final:
                return ""
            big_endian_bom = "\ufeff".encode(f"utf-{self._bits}-be")
            order = "be" if self._head.startswith(big_endian_bom) else "le"
            self._decoder = codecs.getincrementaldecoder(f"utf-{self._bits}-{order}")(_MARK_ERRORS)
            data, self._head = self._head, b""
        return self._decoder.decode(data, final)


def _unmarked(lines: list[str]) -> list[str] | None:
    """Lines decoded by the incremental decoder, or None when one of them
    holds undecodable bytes (marked)."""
    return None if any(map(str.__contains__, lines, repeat(_MARK))) else lines


def _incremental_decoder(info: codecs.CodecInfo) -> codecs.IncrementalDecoder | _ByteOrderSniffer:
    if info.name in ("utf-16", "utf-32"):
        return _ByteOrderSniffer(int(info.name[4:]))
    return info.incrementaldecoder(_MARK_ERRORS)


class TextDecoder(ItemDecoder):
    """One ``str`` per line, without its line ending (LF or CRLF); empty lines
    as ``""``; the unterminated last line at close; a leading byte order mark
    dropped. Lines are decoded whole, so a multibyte character split across
    chunks is never mangled."""

    __slots__ = ("_batch_texts", "_charset", "_incremental", "_lines", "_mode", "_stop")

    def __init__(
        self,
        charset: str | None = None,
        *,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        on_malformed: str = "error",
        stop_marker: str | None = None,
    ) -> None:
        super().__init__()
        info = lookup_charset(charset or "utf-8")
        self._charset = info.name
        self._mode = on_malformed
        self._stop = stop_marker or None
        self._lines: LineSplitter[Any]
        # The lines of a batch as text, in one go; None when one of them is
        # malformed and each must be judged.
        self._batch_texts: Callable[[list[Any]], list[str] | None]
        if _splits_as_bytes(info):
            self._incremental = None
            self._lines = LineSplitter(max_item_bytes)
            self._batch_texts = self._decode_batch
        else:
            self._incremental = _incremental_decoder(info)
            unit = len("aa".encode(info.name)) - len("a".encode(info.name))
            self._lines = LineSplitter(max_item_bytes, "\n", unit=max(unit, 1))
            self._batch_texts = _unmarked

    def feed(self, data: bytes) -> list[str]:
        if self._error is not None or self.finished:
            return self._halted()
        splitter = self._lines
        lines = splitter.feed(data if self._incremental is None else self._decode(data, False))
        if not lines and splitter.error is None:  # hot path: a piece of a long line
            return lines
        return self._settle(lines, splitter.error, self._emit, splitter.lines_done - len(lines))

    def close(self) -> list[str]:
        if self._error is not None or self.finished:
            return self._halted()
        base = self._lines.lines_done
        lines = self._last_lines()
        return self._settle(lines, self._lines.error, self._emit, base)

    def _last_lines(self) -> list[Any]:
        """At the end of the body: what the decoder still held, and the
        unterminated last line."""
        lines = []
        if self._incremental is not None:
            lines = self._lines.feed(self._decode(b"", True))
        if self._lines.error is None:
            last = self._lines.close()
            if last is not None:
                lines.append(last)
        return lines

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            return self._incremental.decode(data, final)  # type: ignore[union-attr]
        except UnicodeError as exc:  # not a decoding error (those are marked): a codec's refusal
            number = self._lines.lines_done + 1
            self._error = StreamDecodeError(
                f"the body cannot be decoded as {self._charset} from line {number} on ({exc}); "
                "set stream_format to 'bytes' in the call template to receive the raw body",
                position=f"line {number}",
            )
            raise self._error from None

    def _emit(self, lines: list[Any], base: int) -> list[str]:
        texts = self._batch_texts(lines)
        if texts is None:
            return self._emit_one_by_one(lines, base)
        if base == 0 and texts[0].startswith("\ufeff"):
            texts[0] = texts[0][1:]
        stop = self._stop
        if stop is not None and stop in texts:
            self.finished = True
            return texts[: texts.index(stop)]
        return texts

    def _decode_batch(self, lines: list[bytes]) -> list[str] | None:
        """Byte lines as text, decoded in one go (one decode and one split);
        None when one of them is malformed."""
        try:
            texts = b"\n".join(lines).decode(self._charset).split("\n")
        except UnicodeDecodeError:
            return None
        if len(texts) != len(lines):  # pragma: no cover - a charset mapping other bytes to LF
            return None
        return texts

    def _emit_one_by_one(self, lines: list[Any], base: int) -> list[str]:
        """The slow path, for a batch with undecodable bytes: judge each line."""
        out: list[str] = []
        for index, line in enumerate(lines):
            text = self._line_text(base + index + 1, line)
            if text is None:
                if self._error is not None:
                    break
                continue
            if base + index == 0 and text.startswith("\ufeff"):
                text = text[1:]
            if text == self._stop:
                self.finished = True
                break
            out.append(text)
        return out

    def _line_text(self, number: int, line: Any) -> str | None:
        """Line ``number`` as text, or what :meth:`_malformed_line` makes of it."""
        if self._incremental is None:
            try:
                return line.decode(self._charset)
            except UnicodeDecodeError as exc:
                return self._malformed_line(number, line.decode(self._charset, "replace"), exc)
        if _MARK in line:
            return self._malformed_line(number, line.replace(_MARK, "\ufffd"), None)
        return line

    def _malformed_line(self, number: int, replaced: str, exc: UnicodeDecodeError | None) -> str | None:
        """``replaced`` (raw), ``None`` (skip), or ``None`` with the error recorded."""
        if self._mode == "raw":
            self.malformed += 1
            return replaced
        if self._mode == "skip":
            self.malformed += 1
            return None
        where = f"{exc.reason} at byte {exc.start}" if exc is not None else "undecodable bytes"
        self._error = decode_error(
            f"line {number} is not valid {self._charset} text ({where})",
            f"{MALFORMED_HINT}, or stream_format to 'bytes' to receive the raw body",
            position=f"line {number}",
            data=replaced,
        )
        return None
