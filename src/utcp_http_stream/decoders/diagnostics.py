"""Short, printable excerpts of offending data for :class:`StreamDecodeError`.

An error message is read by a person deciding what to change, often in a log
line: it must show what the data looked like without dumping megabytes or
control characters into the terminal. Every decoder builds its messages here so
they look the same everywhere: what is wrong and where, the data, what to change.
"""

from __future__ import annotations

from utcp_http_stream.errors import StreamDecodeError

__all__ = ["EXCERPT_CHARS", "decode_error", "excerpt", "json_error_reason", "prefix_for_excerpt"]

#: Longest excerpt, in characters, before the ``...`` marker.
EXCERPT_CHARS = 80

# Never decode more than this many bytes to build an excerpt (4 bytes is the
# longest UTF-8 sequence, so this always covers EXCERPT_CHARS characters).
_EXCERPT_BYTES = EXCERPT_CHARS * 4


def prefix_for_excerpt(limit: int) -> int:
    """How many leading bytes of an oversized line to keep for its excerpt.

    Both a buffered partial line and a complete line that exceed ``limit``
    hold at least ``limit + 1`` bytes, so taking at most that many makes the
    error message identical wherever the chunk boundaries fell.
    """
    return min(_EXCERPT_BYTES, limit + 1)


def excerpt(data: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """Return at most ``limit`` printable characters of ``data`` (bytes are
    decoded as UTF-8 with replacement), control characters escaped, and
    ``...`` appended when something was cut."""
    text, cut = _leading_text(data, limit)
    text = text[:limit]
    if not text.isprintable():
        text = _escaped(text)
        cut = cut or len(text) > limit
        text = text[:limit]
    return text + "..." if cut else text


def _leading_text(data: bytes | str, limit: int) -> tuple[str, bool]:
    """(the start of ``data`` as text, whether it is longer than ``limit``
    characters); bytes are decoded as UTF-8 with replacement, at most
    ``_EXCERPT_BYTES`` of them."""
    if isinstance(data, bytes | bytearray | memoryview):
        text = bytes(data[:_EXCERPT_BYTES]).decode("utf-8", "replace")
        return text, len(data) > _EXCERPT_BYTES or len(text) > limit
    return data, len(data) > limit


def _escaped(text: str) -> str:
    """``text`` with each unprintable character written as its escape."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def json_error_reason(exc: BaseException) -> str:
    """Why a JSON text was refused, in a few words with the column."""
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8: {exc.reason} at byte {exc.start}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    msg = getattr(exc, "msg", None)
    colno = getattr(exc, "colno", None)
    if msg is not None and colno is not None:
        return f"{msg} at column {colno}"
    return str(exc)


def decode_error(what: str, advice: str, *, position: str, data: bytes | str | None = None) -> StreamDecodeError:
    """``"{what}: '{excerpt}'; {advice}"``: the rule broken and where (``what``),
    the offending data, and which call template field to change (``advice``)."""
    shown = excerpt(data) if data is not None else ""
    message = f"{what}: '{shown}'; {advice}" if data is not None else f"{what}; {advice}"
    return StreamDecodeError(message, position=position, excerpt=shown)
