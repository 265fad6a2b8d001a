"""JSON text sequences (RFC 7464): one value per RS-prefixed record, whatever the chunking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import (
    assert_json_items_ignore_chunking,
    chunkings,
    collector,
    json_backend,
    one_byte_chunks,
    split_at,
)
from tests.test_decoders_ndjson import json_values
from utcp_http_stream.decoders import aggregate, build_decoder, framing_for_content_type
from utcp_http_stream.errors import StreamDecodeError

collect = collector("json_seq")
RS = b"\x1e"


def seq(*texts: bytes) -> bytes:
    return b"".join(RS + text + b"\n" for text in texts)


# -- basics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (seq(b'{"a": 1}', b"[2]", b'"three"', b"4", b"null", b"true"), [{"a": 1}, [2], "three", 4, None, True]),
        (RS + b'{\n  "a": [\n    1,\n    2\n  ]\n}\n' + RS + b"3\n", [{"a": [1, 2]}, 3]),  # pretty-printed
        (RS + RS + RS + b"1\n" + RS + RS, [1]),  # empty records are ignored
        (b"\n  " + RS + b"1\n\n\r\n" + RS + b" 2 \r\n", [1, 2]),  # whitespace between records
        (RS + b'{"a": 1}', [{"a": 1}]),  # a complete object without its LF at EOF
        (RS + b'"text"', ["text"]),
        (RS + b"[1, 2]" + RS + b"3\n", [[1, 2], 3]),  # an array cut by the next RS is still whole
        (b"", []),
        (RS, []),
        (seq(b"1", b"[DONE]", b"2"), [1]),
        (RS + b"1\n" + RS + b" [DONE] ", [1]),
        (seq(b'{"\xc3\xa9": "\xe2\x82\xac"}'), [{"é": "€"}]),
        (seq(b"123456789012345678901234567890"), [123456789012345678901234567890]),
    ],
)
@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_records(raw: bytes, expected: list[Any], backend: str) -> None:
    with json_backend(backend):
        whole = collect([raw])
        assert whole == (repr(expected), None)
        assert collect(one_byte_chunks(raw)) == whole
        for cut in range(len(raw) + 1):
            assert collect(split_at(raw, [cut])) == whole


def test_a_record_is_produced_at_its_lf_before_the_next_rs() -> None:
    decoder = build_decoder("json_seq")
    assert decoder.feed(RS + b'{"a": ') == []
    assert decoder.feed(b"1}") == []
    assert decoder.feed(b"\n") == [{"a": 1}]
    assert decoder.feed(RS + b"[1,\n") == []
    assert decoder.feed(b"2]\n") == [[1, 2]]
    assert decoder.close() == []
    assert decoder.items == 2


@pytest.mark.parametrize("tail", [b"12", b"-3.5", b"true", b"false", b"null", b"1e5"])
def test_a_scalar_without_its_lf_at_eof_may_be_truncated(tail: bytes) -> None:
    decoder = build_decoder("json_seq")
    assert decoder.feed(seq(b"1") + RS + tail) == [1]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.close()
    assert caught.value.position == "record 2"
    assert "may be truncated (RFC 7464 section 2.4)" in str(caught.value)


def test_a_scalar_cut_by_the_next_rs_may_be_truncated() -> None:
    items, error = collect([RS + b"12" + RS + b"3\n"])
    assert items == repr([]) and error is not None and error[1] == "record 1"
    assert collect([RS + b"12" + RS + b"3\n"], on_malformed="skip") == (repr([3]), None)
    assert collect([RS + b"12"], on_malformed="raw") == (repr(["12"]), None)


def test_a_scalar_with_its_lf_is_complete() -> None:
    assert collect([RS + b"12\n"]) == (repr([12]), None)
    assert collect([RS + b"12 "]) == (repr([12]), None)  # whitespace proves the number ended


def test_stop_marker_ends_the_stream_and_later_data_is_ignored() -> None:
    decoder = build_decoder("json_seq")
    assert decoder.feed(seq(b"1", b"2", b"[DONE]") + b"garbage") == [1, 2]
    assert decoder.finished
    assert decoder.feed(b"more") == []
    assert decoder.close() == []


def test_stop_marker_that_is_valid_json() -> None:
    assert collect([seq(b"1", b"null", b"2")], stop_marker="null") == (repr([1]), None)
    assert collect([seq(b"1", b"null", b"2")], stop_marker=None) == (repr([1, None, 2]), None)


# -- malformed records -------------------------------------------------------------


def test_malformed_record_is_raised_after_earlier_items() -> None:
    decoder = build_decoder("json_seq")
    assert decoder.feed(seq(b"1", b"2", b"{oops}") + RS + b"4\n") == [1, 2]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.feed(b"")
    error = caught.value
    assert error.position == "record 3"
    assert str(error).startswith("record 3 is not valid JSON (")
    assert "set on_malformed to 'skip' or 'raw'" in str(error) and "RFC 7464" in str(error)
    assert error.excerpt == "{oops}"


def test_unterminated_malformed_record_at_eof_says_the_stream_ended() -> None:
    _, error = collect([seq(b"1") + RS + b'{"a": '])
    assert error is not None and error[1] == "record 2" and "the stream ended inside it" in error[2]


@pytest.mark.parametrize(
    ("raw", "skip", "raw_mode"),
    [
        (seq(b"1", b"{x}", b"2"), [1, 2], [1, "{x}", 2]),
        (b"junk" + seq(b"1"), [1], ["junk", 1]),  # data before the first RS
        (seq(b"1") + b"junk\n" + seq(b"2"), [1, 2], [1, "junk", 2]),  # data after a record
        (seq(b"1", b"\xff", b"2"), [1, 2], [1, "\ufffd", 2]),
        (seq(b"1", b"[1,]"), [1], [1, "[1,]"]),
    ],
)
def test_malformed_modes(raw: bytes, skip: list[Any], raw_mode: list[Any]) -> None:
    assert collect([raw], on_malformed="skip") == (repr(skip), None)
    assert collect([raw], on_malformed="raw") == (repr(raw_mode), None)
    _, error = collect([raw])
    assert error is not None


# -- limits and select --------------------------------------------------------------


def test_oversized_record_raises_after_earlier_items() -> None:
    decoder = build_decoder("json_seq", max_item_bytes=64)
    assert decoder.feed(seq(b"1") + RS + b'["') == [1]
    with pytest.raises(StreamDecodeError) as caught:
        for _ in range(100):
            decoder.feed(b"x" * 10)
    assert caught.value.position == "record 2"
    assert "longer than max_item_bytes (64 bytes)" in str(caught.value)


def test_record_of_exactly_the_limit_is_accepted() -> None:
    text = b"[" + b"1," * 4 + b"1]"  # 11 bytes
    assert collect([seq(text) + RS + text], max_item_bytes=len(text)) == (repr([[1] * 5] * 2), None)
    _, error = collect([seq(text)], max_item_bytes=len(text) - 1)
    assert error is not None and error[1] == "record 1"


def test_select_and_aggregate() -> None:
    raw = seq(b'{"delta": "The"}', b'{"delta": " sky"}', b'{"done": true}')
    decoder = build_decoder("json_seq", select="/delta")
    items = decoder.feed(raw) + decoder.close()
    assert items == ["The", " sky"] and decoder.skipped == 1
    assert aggregate("json_seq", items, "concat") == "The sky"
    assert aggregate("json_seq", items) == items


def test_content_type_table() -> None:
    assert framing_for_content_type("application/json-seq") == "json_seq"
    assert framing_for_content_type("Application/JSON-Seq; charset=utf-8") == "json_seq"


def test_many_short_lines_in_one_record_stay_linear() -> None:
    # Every LF of a pretty-printed array could end it: attempts must not be quadratic.
    body = RS + b"[\n" + b"1,\n" * 200_000 + b"1\n]\n"
    decoder = build_decoder("json_seq", max_item_bytes=len(body))
    items = []
    for start in range(0, len(body), 4096):
        items.extend(decoder.feed(body[start : start + 4096]))
    items.extend(decoder.close())
    assert len(items) == 1 and len(items[0]) == 200_001


# -- properties ------------------------------------------------------------------

_text = st.one_of(
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    json_values.map(lambda v: json.dumps(v, indent=1).encode()),
    st.sampled_from([b"", b"  ", b"[DONE]", b"{", b"NaN", b"\xff", b"1 2", b"\r", b"\n\n"]),
)
_record = st.tuples(
    st.sampled_from([RS, RS, RS + RS, b"", b" "]), _text, st.sampled_from([b"\n", b"\r\n", b"", b"\n\n"])
).map(b"".join)
json_seq_streams = st.lists(_record, max_size=10).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_items_and_errors_do_not_depend_on_chunking(data: st.DataObject) -> None:
    assert_json_items_ignore_chunking(collect, data.draw(json_seq_streams), data)


@settings(max_examples=150, deadline=None)
@given(st.lists(json_values, max_size=10), st.data())
def test_valid_stream_round_trips(values: list[Any], data: st.DataObject) -> None:
    indent = data.draw(st.sampled_from([None, 2]))
    raw = b"".join(RS + json.dumps(v, indent=indent).encode() + b"\n" for v in values)
    assert collect(data.draw(chunkings(raw)), stop_marker=None) == (repr(values), None)
