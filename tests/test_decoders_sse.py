"""SSE: the WHATWG event stream interpretation, at byte level, in any chunking."""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import chunkings, collector, json_backend, one_byte_chunks, split_at
from tests.sse_cases import SSE_CASES, SSE_OPTION_CASES
from utcp_http_stream.decoders import ServerSentEvent, SseParser, aggregate, build_decoder
from utcp_http_stream.errors import StreamDecodeError

collect = collector("sse")

# -- harness -------------------------------------------------------------------


# -- the case table ------------------------------------------------------------


@pytest.mark.parametrize(("name", "raw", "expected"), SSE_CASES, ids=[case[0] for case in SSE_CASES])
def test_sse_case_table(name: str, raw: bytes, expected: list[Any]) -> None:
    whole = collect([raw])
    assert whole == (repr(expected), None)
    assert collect(one_byte_chunks(raw)) == whole
    for cut in range(len(raw) + 1):
        assert collect(split_at(raw, [cut])) == whole, cut


@pytest.mark.parametrize(
    ("name", "raw", "options", "expected"), SSE_OPTION_CASES, ids=[case[0] for case in SSE_OPTION_CASES]
)
def test_sse_option_case_table(name: str, raw: bytes, options: dict[str, Any], expected: list[Any]) -> None:
    whole = collect([raw], **options)
    assert whole == (repr(expected), None)
    assert collect(one_byte_chunks(raw), **options) == whole
    for cut in range(len(raw) + 1):
        assert collect(split_at(raw, [cut]), **options) == whole, cut


@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_case_table_same_with_both_json_backends(backend: str) -> None:
    with json_backend(backend):
        for _, raw, expected in SSE_CASES:
            assert collect([raw]) == (repr(expected), None)


# -- a reference written straight from the spec text ---------------------------


def reference(raw: bytes, last_event_id: str | None = None) -> tuple[list[ServerSentEvent], str | None, int | None]:
    """Decode the whole stream, then interpret it line by line, as the spec
    describes it (no chunking, no bytes)."""
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the unterminated rest is discarded
    events = []
    data = event_type = ""
    id_buffer = last_id = last_event_id
    retry = event_retry = None
    for line in lines:
        if line == "":
            last_id = id_buffer
            if data:
                events.append(ServerSentEvent(event_type or "message", data.removesuffix("\n"), last_id, event_retry))
            data = event_type = ""
            event_retry = None
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\x00" not in value:
            id_buffer = value
        elif field == "retry" and value and all(c in "0123456789" for c in value):
            retry = event_retry = int(value)
    return events, last_id, retry


_line = st.one_of(
    st.tuples(
        st.sampled_from(["data", "data", "data", "event", "id", "retry", "", "Data", "foo", "data ", "\ufeffdata"]),
        st.sampled_from([":", ": ", ": ", ":  ", "", ":\t"]),
        st.one_of(
            st.sampled_from(
                ["", "[DONE]", "1", "42", '{"a": 1}', '{"a":', "null", "é€😀", "x\x00y", "10x", "a:b", " "]
            ),
            st.text(max_size=6),
        ),
    ).map("".join),
    st.sampled_from(["", ":", ": comment"]),
).map(str.encode)
_segment = st.one_of(
    st.tuples(_line, st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\n\r\n", b"\r\r"])).map(b"".join),
    st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3", b"\xef\xbb\xbf", b"\r", b"\n", b"\x00"]),
)
sse_streams = st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb"]), st.lists(_segment, max_size=16)).map(
    lambda t: t[0] + b"".join(t[1])
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_parser_matches_the_spec_reference_in_any_chunking(data: st.DataObject) -> None:
    raw = data.draw(sse_streams)
    chunks = data.draw(chunkings(raw))
    initial = data.draw(st.sampled_from([None, "", "41"]))
    parser = SseParser(initial)
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    assert parser.close() == []
    assert (events, parser.last_event_id, parser.retry) == reference(raw, initial)


# The shape of nearly every real stream ("data: ..." then a blank line), which
# the parser recognises for a whole batch at once; with the odd other line.
_common_event = st.one_of(
    st.text(max_size=12).map(lambda v: f"data: {v}".encode()).map(lambda line: line + b"\n\n"),
    st.sampled_from([b"data: [DONE]\r\n\r\n", b"data: x\r\r", b": ping\n\n", b"id: 3\n", b"data:\n\n", b"\n"]),
)
common_streams = st.lists(_common_event, max_size=20).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_common_shape_matches_the_spec_reference_in_any_chunking(data: st.DataObject) -> None:
    raw = data.draw(common_streams)
    parser = SseParser()
    events = []
    for chunk in data.draw(chunkings(raw)):
        events.extend(parser.feed(chunk))
    assert (events, parser.last_event_id, parser.retry) == reference(raw)


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_values_do_not_depend_on_chunking(data: st.DataObject) -> None:
    raw = data.draw(sse_streams)
    options = {
        "max_item_bytes": data.draw(st.sampled_from([4, 12, 40, 8 * 1024 * 1024])),
        "stop_marker": data.draw(st.sampled_from(["[DONE]", None, "1"])),
        "select": data.draw(st.sampled_from([None, "", "/a"])),
        "on_malformed": data.draw(st.sampled_from(["error", "skip", "raw"])),
        "sse_event_types": data.draw(st.sampled_from([None, ["message"], ["message", "1"]])),
        "events": data.draw(st.booleans()),
    }
    whole = collect([raw], **options)
    assert collect(data.draw(chunkings(raw)), **options) == whole
    assert collect(one_byte_chunks(raw), **options) == whole


TRICKY = [
    b"\xef\xbb\xbfdata: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\r\n\r\nid: 1\rdata: [1,\rdata: 2]\r\r",
    b'\xef\xbb\xbf: c\r\nevent: e\r\ndata: {"a": "\xc3\xa9"}\r\n\r\ndata\r\rretry: 12\r\n\r\ndata: x',
    b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n\r\r\n\ndata: \xff\xe2\x82\n\ndata: [DONE]\n\ndata: b\n\n",
]


@pytest.mark.parametrize("raw", TRICKY)
@pytest.mark.parametrize("events", [False, True])
def test_every_cut_point_and_every_pair_of_cut_points(raw: bytes, events: bool) -> None:
    whole = collect([raw], events=events)
    assert whole[1] is None
    for first in range(len(raw) + 1):
        assert collect(split_at(raw, [first]), events=events) == whole, first
        for second in range(first, len(raw) + 1, 3):
            assert collect(split_at(raw, [first, second]), events=events) == whole, (first, second)


# -- the parser's own API ------------------------------------------------------


def test_bom_split_across_chunks_is_dropped_once() -> None:
    parser = SseParser()
    assert parser.feed(b"\xef") == []
    assert parser.feed(b"\xbb") == []
    assert parser.feed(b"\xbf\xef\xbb\xbfdata: a\n\n") == []  # the second BOM makes an unknown field
    assert parser.feed(b"data: b\n\n") == [ServerSentEvent(data="b")]


def test_partial_bom_then_other_bytes_is_data() -> None:
    parser = SseParser()
    assert parser.feed(b"\xef\xbb") == []
    assert parser.feed(b"data: a\n\n") == []  # "\ufffddata" is an unknown field
    assert parser.feed(b"data: b\n\n") == [ServerSentEvent(data="b")]


def test_cr_at_end_of_chunk_then_lf_is_one_line_ending() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    # Had the LF counted as a second line ending, "a" would dispatch here.
    assert parser.feed(b"\n") == []
    assert parser.feed(b"data: b\r") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\n\r\n") == [ServerSentEvent(data="a\nb")]


def test_cr_is_a_line_ending_at_once() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r\r") == [ServerSentEvent(data="a")]


def test_multibyte_character_split_across_chunks() -> None:
    raw = "data: é€😀\n\n".encode()
    parser = SseParser()
    events = []
    for i in range(len(raw)):
        events.extend(parser.feed(raw[i : i + 1]))
    assert events == [ServerSentEvent(data="é€😀")]


def test_last_event_id_changes_only_when_an_event_is_dispatched() -> None:
    parser = SseParser("3")
    assert parser.last_event_id == "3"
    parser.feed(b"data: a\nid: 4\n")
    assert parser.last_event_id == "3"  # the block is not complete yet
    assert parser.feed(b"\n") == [ServerSentEvent(data="a", id="4")]
    assert parser.last_event_id == "4"
    parser.feed(b"id: 5\ndata: b\n")
    assert parser.close() == []  # the incomplete event is discarded...
    assert parser.last_event_id == "4"  # ...and so is its id


def test_resumed_parser_keeps_the_id_until_the_server_sends_another() -> None:
    parser = SseParser("9")
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent(data="a", id="9")]


def test_retry_applies_at_once_and_is_reported_on_its_event() -> None:
    parser = SseParser()
    parser.feed(b"retry: 2500\n")
    assert parser.retry == 2500
    assert parser.feed(b"data: a\n\ndata: b\n\n") == [
        ServerSentEvent(data="a", retry=2500),
        ServerSentEvent(data="b"),
    ]
    parser.feed(b"retry: 99999999999999999999999\n\n")
    assert parser.retry == 10**18 - 1  # clamped: effectively never


def test_server_sent_event_is_frozen_and_parses_json() -> None:
    event = ServerSentEvent(data='{"a": [1, 2]}')
    assert event.event == "message" and event.id is None and event.retry is None
    assert event.json() == {"a": [1, 2]}
    with pytest.raises(FrozenInstanceError):
        event.data = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ServerSentEvent(data="not json").json()


def test_decoder_exposes_reconnection_state() -> None:
    decoder = build_decoder("sse", last_event_id="1")
    assert decoder.last_event_id == "1" and decoder.retry is None  # type: ignore[attr-defined]
    decoder.feed(b"retry: 3000\nid: 2\ndata: x\n\n")
    assert decoder.last_event_id == "2" and decoder.retry == 3000  # type: ignore[attr-defined]


# -- limits ----------------------------------------------------------------------


def test_oversized_line_raises_as_soon_as_the_limit_is_passed() -> None:
    decoder = build_decoder("sse", max_item_bytes=1000)
    assert decoder.feed(b"data: ok\n\ndata: ") == ["ok"]
    fed = 6
    with pytest.raises(StreamDecodeError) as caught:
        while True:
            decoder.feed(b"x" * 64)
            fed += 64
    assert fed <= 1000 < fed + 64  # raised by the piece that passed the limit
    error = caught.value
    assert error.position == "event 2"
    assert "max_item_bytes (1000 bytes)" in str(error) and "line 3" in str(error)
    assert error.excerpt.startswith("data: xxx") and len(error.excerpt) <= 83
    with pytest.raises(StreamDecodeError):
        decoder.feed(b"\n\n")  # the decoder stays failed
    with pytest.raises(StreamDecodeError):
        decoder.close()


def test_oversized_event_data_names_the_event() -> None:
    decoder = build_decoder("sse", max_item_bytes=12)
    assert decoder.feed(b"data: 1\n\ndata: 2\n\n") == [1, 2]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.feed(b"data:123456\ndata:123456\n")  # 13 bytes of data, lines of 11
    assert caught.value.position == "event 3"
    assert "its data exceeds max_item_bytes (12 bytes) at line 6" in str(caught.value)


def test_events_before_an_oversized_line_are_delivered_first() -> None:
    decoder = build_decoder("sse", max_item_bytes=20)
    assert decoder.feed(b"data: a\n\ndata: b\n\ndata: " + b"x" * 30) == ["a", "b"]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.feed(b"\n\n")
    assert caught.value.position == "event 3"


def test_stop_marker_before_an_oversized_line_wins() -> None:
    decoder = build_decoder("sse", max_item_bytes=20)
    assert decoder.feed(b"data: a\n\ndata: [DONE]\n\ndata: " + b"x" * 30) == ["a"]
    assert decoder.finished
    assert decoder.feed(b"more") == [] and decoder.close() == []


def test_data_exactly_at_the_limit_is_accepted() -> None:
    assert collect([b"data:12345\ndata:6789\n\n"], max_item_bytes=10) == (repr(["12345\n6789"]), None)
    assert collect([b"data:" + b"x" * 5 + b"\n\n"], max_item_bytes=10) == (repr(["xxxxx"]), None)


# -- select and on_malformed -----------------------------------------------------


def test_non_json_data_with_select_follows_on_malformed() -> None:
    raw = b'data: {"a": 1}\n\ndata: oops\n\ndata: {"a": 2}\n\n'
    assert collect([raw], select="/a", on_malformed="skip") == (repr([1, 2]), None)
    assert collect([raw], select="/a", on_malformed="raw") == (repr([1, "oops", 2]), None)
    items, error = collect([raw], select="/a")
    assert items == repr([1])
    assert error is not None and error[1] == "event 2"
    assert "set on_malformed to 'skip' or 'raw'" in error[2] and error[3] == "oops" and ": 'oops';" in error[2]


def test_select_counts_skipped_items() -> None:
    decoder = build_decoder("sse", select="/a")
    assert decoder.feed(b'data: {"a": 1}\n\ndata: {"b": 1}\n\ndata: [1]\n\n') == [1]
    assert (decoder.items, decoder.skipped) == (1, 2)


def test_select_is_ignored_for_events() -> None:
    decoder = build_decoder("sse", select="/a", events=True)
    assert decoder.feed(b'data: {"b": 1}\n\n') == [ServerSentEvent(data='{"b": 1}')]


# -- real-world shapes ---------------------------------------------------------


def _openai_stream(words: list[str]) -> bytes:
    out = []
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}
    out.append({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for word in words:
        out.append({**chunk, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
    out.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(item)}\n\n" for item in out) + "data: [DONE]\n\n"
    return body.encode()


def test_openai_chat_completion_stream() -> None:
    raw = _openai_stream(["Hel", "lo", ", wörld", "!"])
    decoder = build_decoder("sse", select="/choices/0/delta/content")
    items = []
    for start in range(0, len(raw), 37):
        items.extend(decoder.feed(raw[start : start + 37]))
        if decoder.finished:
            break
    items.extend(decoder.close())
    assert items == ["", "Hel", "lo", ", wörld", "!"]
    assert decoder.finished and decoder.skipped == 1  # the final delta has no content
    assert aggregate("sse", items, "concat") == "Hello, wörld!"


def _anthropic_stream() -> bytes:
    def event(kind: str, payload: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n"

    parts = [
        event("message_start", {"message": {"id": "msg_1", "role": "assistant", "content": []}}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": " there"}}),
        event("ping", {}),
        event("content_block_stop", {"index": 0}),
        event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        event("message_stop", {}),
    ]
    return "".join(parts).replace("\n", "\r\n").encode()


def test_anthropic_messages_stream() -> None:
    raw = _anthropic_stream()
    options: dict[str, Any] = {"sse_event_types": ["content_block_delta"], "select": "/delta/text"}
    assert collect([raw], **options) == (repr(["Hello", " there"]), None)
    assert collect(one_byte_chunks(raw), **options) == (repr(["Hello", " there"]), None)
    events, _ = collect([raw], events=True)
    assert "event='ping'" in events and "event='message_stop'" in events


@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_real_world_streams_with_both_backends(backend: str) -> None:
    with json_backend(backend):
        assert collect([_openai_stream(["a", "b"])], select="/choices/0/delta/content") == (
            repr(["", "a", "b"]),
            None,
        )
