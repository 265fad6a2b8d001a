"""What a non-streaming call (``call_tool``) returns for a whole stream.

The streaming API yields items one by one; ``call_tool`` has to return one
value, and that value should look like what the server meant: the body for
bytes, the document for JSON, the text for text, the list of items for the
item framings, optionally concatenated (the usual shape for an LLM's token
deltas).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from utcp_http_stream.decoders.framing import FRAMINGS
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["AGGREGATE_MODES", "ResultBudget", "aggregate", "encoded_size"]

#: The ``aggregate`` choices.
AGGREGATE_MODES: tuple[str, ...] = ("auto", "concat")


def aggregate(framing: str, items: list[Any], mode: str = "auto") -> Any:
    """Combine a stream's items into ``call_tool``'s result.

    - ``bytes``: the body (the chunks joined);
    - ``json``: the document (``None`` when the stream produced none);
    - ``text``: the lines joined with ``"\\n"`` (the body's last line ending,
      if any, is not restored);
    - ``ndjson``/``sse``/``json_seq``: the list of items; with ``mode="concat"``, all-str
      items joined into one str (``""`` for no items) and all-bytes items into
      one bytes, any other mix returned as the list.

    ``concat`` changes only the list framings: the others already give one value.
    """
    if mode not in AGGREGATE_MODES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATE_MODES)}, not {mode!r}")
    whole = _ONE_VALUE.get(framing)
    if whole is not None:
        return whole(items)
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; expected one of {', '.join(FRAMINGS)}")
    return _concat(items) if mode == "concat" else list(items)


def _document(items: list[Any]) -> Any:
    """The json framing's one document, or ``None`` when there was none."""
    return items[0] if items else None


# The framings whose items make one value whatever the mode: the body, the
# document, the text.
_ONE_VALUE: dict[str, Callable[[list[Any]], Any]] = {
    "bytes": b"".join,
    "json": _document,
    "text": "\n".join,
}


def _concat(items: list[Any]) -> Any:
    """All-str items as one str (``""`` for none), all-bytes items as one
    bytes, any other mix as the list."""
    for kind in (str, bytes):
        if all(isinstance(item, kind) for item in items):
            return kind().join(items)
    return list(items)


def encoded_size(value: Any) -> int:
    """About how many bytes ``value`` takes as JSON (str counted in
    characters): cheap, iterative (deep items cannot exhaust the stack)."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 2 + 2 * len(item)
            for key, inner in item.items():
                size += len(key) + 2 if isinstance(key, str) else 8
                stack.append(inner)
        elif isinstance(item, list | tuple):
            size += 2 + len(item)
            stack.extend(item)
        else:
            size += 8  # numbers, true/false/null and anything else: a few bytes
    return size


class ResultBudget:
    """The ``max_result_bytes`` bound on what ``call_tool`` aggregates: body
    bytes for the bytes framing, the items' encoded size for the others. Past
    the limit a ``StreamDecodeError`` names the setting; streaming is not
    affected (nothing is kept there)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def add(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise StreamDecodeError(
                f"the aggregated result is larger than max_result_bytes={self.limit} bytes; raise "
                "max_result_bytes on the call template (up to the client's max_result_bytes_ceiling), or "
                "stream the tool (call_tool_streaming) instead of aggregating it",
                position=f"byte {self.used}",
            )

    def add_items(self, items: list[Any]) -> None:
        size = 0
        for item in items:
            size += len(item) if isinstance(item, str | bytes) else encoded_size(item)
        self.add(size)
