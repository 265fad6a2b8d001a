"""build_decoder's validation and aggregate (what call_tool returns)."""

from __future__ import annotations

from typing import Any

import pytest

from utcp_http_stream.decoders import FRAMINGS, Decoder, ServerSentEvent, aggregate, build_decoder
from utcp_http_stream.decoders.build import cached_decoder_factory
from utcp_http_stream.errors import StreamDecodeError, TemplateError


@pytest.mark.parametrize("framing", FRAMINGS)
def test_every_framing_builds_a_decoder(framing: str) -> None:
    decoder: Decoder = build_decoder(framing)
    assert decoder.finished is False and decoder.items == 0 and decoder.skipped == 0
    assert decoder.feed(b"") == []


@pytest.mark.parametrize(
    ("framing", "options", "message"),
    [
        ("auto", {}, "unknown framing 'auto'.*framing_for_content_type"),
        ("xml", {}, "unknown framing 'xml'"),
        ("ndjson", {"on_malformed": "ignore"}, "on_malformed must be one of error, skip, raw"),
        ("bytes", {"chunk_size": 0}, "chunk_size must be at least 1"),
        ("ndjson", {"max_item_bytes": 0}, "max_item_bytes must be at least 1"),
        ("ndjson", {"select": "a/b"}, "invalid JSON Pointer 'a/b'"),
        ("text", {"select": "/a"}, "select needs a JSON framing.*the framing is text"),
        ("bytes", {"select": ""}, "select needs a JSON framing"),
        ("sse", {"sse_event_types": "message"}, "sse_event_types must be a list of str"),
        ("sse", {"sse_event_types": [1]}, "sse_event_types must be a list of str"),
    ],
)
def test_bad_arguments(framing: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        build_decoder(framing, **options)
    assert isinstance(caught.value, ValueError)


def test_a_cached_factory_makes_a_fresh_decoder_each_time() -> None:
    make = cached_decoder_factory("sse", 4096, None, 1 << 20, "error", None, "[DONE]", ("update",), False)
    assert cached_decoder_factory("sse", 4096, None, 1 << 20, "error", None, "[DONE]", ("update",), False) is make
    first, second = make("7"), make(None)
    assert first is not second
    assert first.feed(b"event: update\ndata: 1\n\ndata: 2\n\n") == [1]  # the type filter applies
    assert first.last_event_id == "7" and second.last_event_id is None  # the resume id is per decoder


def test_a_failed_check_is_not_cached() -> None:
    for _ in range(2):  # raised again, not remembered as a factory
        with pytest.raises(TemplateError, match="chunk_size must be at least 1"):
            cached_decoder_factory("bytes", 0, None, 1 << 20, "error", None, "[DONE]", None, False)


def test_unknown_charset_is_a_decode_error_about_the_response() -> None:
    with pytest.raises(StreamDecodeError) as caught:
        build_decoder("json", charset="x-unknown")
    assert caught.value.position == "headers"
    build_decoder("ndjson", charset="x-unknown")  # NDJSON and SSE are always UTF-8
    build_decoder("sse", charset="x-unknown")


@pytest.mark.parametrize(
    ("framing", "items", "mode", "expected"),
    [
        ("bytes", [b"a", b"b"], "auto", b"ab"),
        ("bytes", [], "auto", b""),
        ("json", [{"a": 1}], "auto", {"a": 1}),
        ("json", [], "auto", None),
        ("json", ["text"], "concat", "text"),
        ("text", ["a", "", "b"], "auto", "a\n\nb"),
        ("text", ["a", "b"], "concat", "a\nb"),  # text is already one value
        ("text", [], "auto", ""),
        ("ndjson", [1, "a"], "auto", [1, "a"]),
        ("ndjson", ["a", "b"], "auto", ["a", "b"]),
        ("ndjson", ["a", "b"], "concat", "ab"),
        ("ndjson", [b"a", b"b"], "concat", b"ab"),
        ("ndjson", ["a", 1], "concat", ["a", 1]),  # a mix stays a list
        ("ndjson", ["a", b"b"], "concat", ["a", b"b"]),
        ("sse", [], "concat", ""),
        ("sse", [], "auto", []),
        ("sse", ["Hel", "lo"], "concat", "Hello"),
        ("sse", [ServerSentEvent(data="x")], "concat", [ServerSentEvent(data="x")]),
    ],
)
def test_aggregate(framing: str, items: list[Any], mode: str, expected: Any) -> None:
    assert aggregate(framing, items, mode) == expected


def test_aggregate_returns_a_new_list() -> None:
    items = [1, 2]
    result = aggregate("ndjson", items)
    assert result == items and result is not items


def test_aggregate_refuses_unknown_modes_and_framings() -> None:
    with pytest.raises(ValueError, match="aggregate must be one of auto, concat"):
        aggregate("ndjson", [], "join")
    with pytest.raises(ValueError, match="unknown framing"):
        aggregate("xml", [])


# -- max_result_bytes ------------------------------------------------------------------


def test_result_budget_names_the_setting_past_its_limit():
    from utcp_http_stream.decoders.aggregate import Aggregation

    budget = Aggregation("ndjson", "auto", 100)
    budget.add(60)
    budget.add_items(["x" * 30])
    with pytest.raises(StreamDecodeError, match="max_result_bytes=100"):
        budget.add_items([{"k": "v" * 20}])


def test_an_aggregation_of_a_bytes_body_reads_raw_and_returns_the_bytes():
    from utcp_http_stream.decoders.aggregate import Aggregation

    kept = Aggregation("bytes", "auto", 10)
    assert kept.mode == "raw"
    kept.keep([b"abc", b"def"], 6)
    assert kept.result() == b"abcdef"
    with pytest.raises(StreamDecodeError, match="max_result_bytes=10"):
        kept.keep([b"ghijk"], 11)


def test_an_aggregation_measures_items_only_once_the_body_outgrew_its_limit():
    from utcp_http_stream.decoders.aggregate import Aggregation

    kept = Aggregation("ndjson", "auto", 30)
    assert kept.mode == "items"
    kept.keep(["x" * 20], 25)  # the body is within the limit: the items are not measured
    assert kept.used == 0
    kept.keep(["y"], 31)  # now they are, all of them
    assert kept.used == 21
    with pytest.raises(StreamDecodeError, match="max_result_bytes=30"):
        kept.keep(["z" * 10], 45)
    assert Aggregation("json", "auto", 100).result() is None
    concat = Aggregation("ndjson", "concat", 100)
    concat.keep(["a", "b"], 4)
    assert concat.result() == "ab"


def test_encoded_size_is_iterative_and_close_to_json():
    import json

    from utcp_http_stream.decoders.aggregate import encoded_size

    value: Any = "leaf"
    for _ in range(5000):  # far deeper than the stack allows for recursion
        value = [value]
    assert encoded_size(value) > 5000
    doc = {"id": 12, "text": "hello world", "tags": ["a", "b"], "ok": True, "none": None}
    assert abs(encoded_size(doc) - len(json.dumps(doc))) < 30
