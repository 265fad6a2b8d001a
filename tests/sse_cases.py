"""SSE cases written from the WHATWG HTML "event stream interpretation" rules.

One case per rule, shared by the decoder unit tests and the end-to-end tests
(which serve each ``raw`` body from a real HTTP server and compare what the
plugin yields).

- ``SSE_CASES``: ``(name, raw_bytes, expected_values)`` for the default
  settings (``stream_format: sse``, ``stop_marker: "[DONE]"``, no ``select``,
  no ``sse_event_types``): each item is the event data parsed as JSON when
  valid, else the data string.
- ``SSE_OPTION_CASES``: ``(name, raw_bytes, options, expected)`` where
  ``options`` are call template fields / ``build_decoder`` keywords
  (``events=True`` yields :class:`ServerSentEvent` objects, to observe ``id``,
  ``retry`` and the event type).
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.decoders import ServerSentEvent

SSE_CASES: list[tuple[str, bytes, list[Any]]] = [
    # Byte order mark: one leading UTF-8 BOM is dropped, and only one.
    ("bom dropped", b"\xef\xbb\xbfdata: a\n\n", ["a"]),
    ("second bom is data", b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", ["b"]),
    ("bom only at stream start", b"data: a\n\n\xef\xbb\xbfdata: b\n\n", ["a"]),
    # Line endings: LF, CRLF and a lone CR all end a line.
    ("lf endings", b"data: a\n\ndata: b\n\n", ["a", "b"]),
    ("crlf endings", b"data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"]),
    ("cr endings", b"data: a\r\rdata: b\r\r", ["a", "b"]),
    ("mixed endings", b"data: a\r\n\rdata: b\n\r\ndata: c\r\n\n", ["a", "b", "c"]),
    ("cr then crlf is two line endings", b"data: a\r\r\ndata: b\n\n", ["a", "b"]),
    ("lf cr is two line endings", b"data: a\n\rdata: b\n\n", ["a", "b"]),
    # Comments.
    ("comment lines ignored", b": keep-alive\ndata: a\n: more\n\n", ["a"]),
    ("comment only block dispatches nothing", b": ping\n\n: ping\n\ndata: a\n\n", ["a"]),
    ("comment after data keeps the event", b"data: a\n:\n\n", ["a"]),
    # Field and value split.
    ("line without colon is a field with empty value", b"data\n\n", [""]),
    ("two data lines without colon", b"data\ndata\n\n", ["\n"]),
    ("one leading space removed", b"data:  two spaces\n\n", [" two spaces"]),
    ("no space after colon", b"data:x\n\n", ["x"]),
    ("tab is not removed", b"data:\tx\n\n", ["\tx"]),
    ("trailing space kept", b"data: x \n\n", ["x "]),
    ("value split at the first colon only", b"data: a: b:c\n\n", ["a: b:c"]),
    ("field names are case-sensitive", b"Data: a\n\ndata: b\n\n", ["b"]),
    ("unknown fields ignored", b"foo: bar\ndata: a\nbaz\n\n", ["a"]),
    ("space before colon makes another field", b"data : a\n\n", []),
    # Data accumulation and dispatch.
    ("multi-line data joined with LF", b"data: a\ndata: b\ndata: c\n\n", ["a\nb\nc"]),
    ("json spread over data lines", b'data: {"a":\ndata: 1}\n\n', [{"a": 1}]),
    ("block without data dispatches nothing", b"event: x\nid: 1\nretry: 5\n\ndata: a\n\n", ["a"]),
    ("empty data line dispatches the empty string", b"data:\n\n", [""]),
    ("empty data after text keeps a trailing LF", b"data: a\ndata:\n\n", ["a\n"]),
    ("several blank lines dispatch once", b"data: a\n\n\n\n", ["a"]),
    ("leading blank lines", b"\n\r\n\rdata: a\n\n", ["a"]),
    # End of stream: the incomplete event is discarded.
    ("incomplete last event discarded", b"data: a\n\ndata: b\n", ["a"]),
    ("unterminated last line discarded", b"data: a\n\ndata: b", ["a"]),
    ("unterminated blank-free stream yields nothing", b"data: a", []),
    # JSON when valid, else the string.
    (
        "json versus string data",
        b'data: {"a": [1, 2]}\n\ndata: not json\n\ndata: 42\n\ndata: "s"\n\ndata: null\n\n',
        [{"a": [1, 2]}, "not json", 42, "s", None],
    ),
    (
        "stdlib json rules: Infinity and big integers",
        b"data: Infinity\n\ndata: 123456789012345678901234567890\n\n",
        [float("inf"), 123456789012345678901234567890],
    ),
    # Decoding: UTF-8 with replacement, whatever the splitting.
    ("multibyte utf-8", "data: é€😀\n\n".encode(), ["é€😀"]),
    ("invalid utf-8 replaced", b"data: a\xffb\xe2\x82\n\n", ["a\ufffdb\ufffd"]),
    # Stop marker.
    ("stop marker ends the stream", b"data: a\n\ndata: [DONE]\n\ndata: b\n\n", ["a"]),
    ("stop marker must be the whole data", b"data: [DONE] \n\ndata: x[DONE]\n\n", ["[DONE] ", "x[DONE]"]),
    ("stop marker in any event type", b"event: end\ndata: [DONE]\n\ndata: b\n\n", []),
]


def _event(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


SSE_OPTION_CASES: list[tuple[str, bytes, dict[str, Any], list[Any]]] = [
    # Event types and the sse_event_types filter.
    (
        "event type filter",
        b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n",
        {"sse_event_types": ["b", "message"]},
        [2, 3],
    ),
    (
        "default event type is message",
        b"event: a\ndata: 1\n\ndata: 3\n\nevent:\ndata: 4\n\n",
        {"sse_event_types": ["message"]},
        [3, 4],
    ),
    (
        "event type named and reset after dispatch",
        b"event: add\ndata: a\n\ndata: b\n\nevent: x\n\ndata: c\n\n",
        {"events": True},
        [_event("a", "add"), _event("b"), _event("c")],
    ),
    # id: persists, NUL refused, empty value resets.
    (
        "last event id persists across events",
        b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
        {"events": True},
        [_event("a", id="7"), _event("b", id="7"), _event("c", id="")],
    ),
    (
        "id containing NUL is ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        {"events": True},
        [_event("a", id="1"), _event("b", id="1")],
    ),
    (
        "id without data still updates the last event id",
        b"id: 5\n\ndata: a\n\n",
        {"events": True},
        [_event("a", id="5")],
    ),
    (
        "id keeps one leading space only",
        b"id:  x\ndata: a\n\n",
        {"events": True},
        [_event("a", id=" x")],
    ),
    # retry: only ASCII digits.
    (
        "retry only when all ascii digits",
        b"retry: 1000\ndata: a\n\nretry: 10x\ndata: b\n\nretry:\ndata: c\n\nretry: -5\ndata: d\n\n",
        {"events": True},
        [_event("a", retry=1000), _event("b"), _event("c"), _event("d")],
    ),
    # select, stop marker and filters together.
    ("select", b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: {"a": [3]}\n\n', {"select": "/a"}, [1, [3]]),
    ("custom stop marker", b"data: a\n\ndata: END\n\ndata: b\n\n", {"stop_marker": "END"}, ["a"]),
    ("no stop marker", b"data: a\n\ndata: [DONE]\n\n", {"stop_marker": None}, ["a", "[DONE]"]),
    (
        "stop marker of a filtered-out type is ignored",
        b"event: other\ndata: [DONE]\n\ndata: a\n\n",
        {"sse_event_types": ["message"]},
        ["a"],
    ),
    (
        "events keep the stop marker and filter",
        b"event: t\ndata: a\n\ndata: b\n\nevent: t\ndata: [DONE]\n\nevent: t\ndata: c\n\n",
        {"events": True, "sse_event_types": ["t"]},
        [_event("a", "t")],
    ),
]
