"""What a non-streaming call (``call_tool``) returns for a whole stream.

The streaming API yields items one by one; ``call_tool`` has to return one
value, and that value should look like what the server meant: the body for
bytes, the document for JSON, the text for text, the list of items for the
item framings, optionally concatenated (the usual shape for an LLM's token
deltas).
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.decoders.framing import FRAMINGS

__all__ = ["AGGREGATE_MODES", "aggregate"]

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
    if framing == "bytes":
        return b"".join(items)
    if framing == "json":
        return items[0] if items else None
    if framing == "text":
        return "\n".join(items)
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; expected one of {', '.join(FRAMINGS)}")
    if mode == "concat":
        if all(isinstance(item, str) for item in items):
            return "".join(items)
        if all(isinstance(item, bytes) for item in items):
            return b"".join(items)
    return list(items)
