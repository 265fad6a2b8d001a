"""What a non-streaming call (``call_tool``) returns for a whole stream.

The streaming API yields items one by one; ``call_tool`` has to return one
value, and that value should look like what the server meant: the body for
bytes, the document for JSON, the text for text, the list of items for the
item framings, optionally concatenated (the usual shape for an LLM's token
deltas).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from utcp_http_stream.decoders.framing import FRAMINGS
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["AGGREGATE_MODES", "Aggregation", "aggregate", "encoded_size"]

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


class Aggregation:
    """What ``call_tool`` keeps of a stream, within ``max_result_bytes``.

    ``mode`` is what to read the stream as: ``raw`` for a bytes body
    aggregated whole (its pieces written once into one buffer, no per-chunk
    slicing), else ``items``. Past the limit (body bytes for the bytes
    framing, the items' encoded size for the others) a ``StreamDecodeError``
    names the setting; streaming is not affected (nothing is kept there).
    """

    __slots__ = ("_buffer", "_items", "_measuring", "aggregate_mode", "framing", "limit", "mode", "used")

    def __init__(self, framing: str, aggregate: str, limit: int) -> None:
        self.framing = framing
        #: The template's ``aggregate`` (``auto`` or ``concat``).
        self.aggregate_mode = aggregate
        self.limit = limit
        self.used = 0
        self._measuring = False
        self._items: list[Any] = []
        self._buffer: io.BytesIO | None = io.BytesIO() if framing == "bytes" and aggregate == "auto" else None
        self.mode = "items" if self._buffer is None else "raw"

    def keep(self, batch: list[Any], body_bytes: int) -> None:
        """Add one batch. ``body_bytes``, the body's size so far, bounds the
        items' encoded size, so the items are measured only once the body
        outgrew the budget (then all kept so far)."""
        if self._buffer is not None:
            for chunk in batch:
                self.add(len(chunk))
                self._buffer.write(chunk)
            return
        if self._measuring or body_bytes > self.limit:
            if not self._measuring:
                self._measuring = True
                self.add_items(self._items)
            self.add_items(batch)
        self._items.extend(batch)

    def result(self) -> Any:
        """What ``call_tool`` returns (see :func:`aggregate`)."""
        if self._buffer is not None:
            return self._buffer.getvalue()
        return aggregate(self.framing, self._items, self.aggregate_mode)

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
