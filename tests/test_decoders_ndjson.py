"""NDJSON: one JSON value per non-blank line, whatever the chunking."""

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
from utcp_http_stream.decoders import aggregate, build_decoder
from utcp_http_stream.errors import StreamDecodeError

collect = collector("ndjson")


# -- basics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1}\n[2]\n"three"\n4\nnull\n', [{"a": 1}, [2], "three", 4, None]),
        (b"1\r\n2\r\n", [1, 2]),
        (b"1\n\n\n2\n", [1, 2]),
        (b"1\n  \t \r\n \n2", [1, 2]),
        (b"1\n2", [1, 2]),  # unterminated last line, parsed at close
        (b"1\n2\r", [1, 2]),
        (b"\xef\xbb\xbf1\n2\n", [1, 2]),  # a leading BOM is tolerated
        (b"\xef\xbb\xbf\n1\n", [1]),
        (b"", []),
        (b"\n\r\n", []),
        (b'  {"a": "\xc3\xa9"}  \n', [{"a": "é"}]),
        (b'"x\\ud800"\n', ["x\ud800"]),  # a lone surrogate escape, as the stdlib gives it
        (b"1\n[DONE]\n2\n", [1]),
        (b"1\n  [DONE] \r\n2\n", [1]),
        (b"1\n[DONE]", [1]),
        (
            b"123456789012345678901234567890\n-99999999999999999999\n",
            [123456789012345678901234567890, -99999999999999999999],
        ),
    ],
)
@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_lines(raw: bytes, expected: list[Any], backend: str) -> None:
    with json_backend(backend):
        whole = collect([raw])
        assert whole == (repr(expected), None)
        assert collect(one_byte_chunks(raw)) == whole
        for cut in range(len(raw) + 1):
            assert collect(split_at(raw, [cut])) == whole


def test_stop_marker_ends_the_stream_and_later_data_is_ignored() -> None:
    decoder = build_decoder("ndjson")
    assert decoder.feed(b"1\n2\n[DONE]\n3\n") == [1, 2]
    assert decoder.finished
    assert decoder.feed(b"not even json\n") == []
    assert decoder.close() == []
    assert decoder.items == 2


def test_stop_marker_that_is_valid_json() -> None:
    assert collect([b"1\n null \n2\n"], stop_marker="null") == (repr([1]), None)
    assert collect([b"1\nnull\n2\n"], stop_marker=None) == (repr([1, None, 2]), None)


def test_empty_stop_marker_disables_it() -> None:
    assert collect([b"1\n[DONE]\n2\n"], stop_marker="", on_malformed="raw") == (repr([1, "[DONE]", 2]), None)


# -- malformed lines -------------------------------------------------------------


def test_malformed_line_is_raised_after_earlier_items_are_delivered() -> None:
    decoder = build_decoder("ndjson")
    assert decoder.feed(b'{"a": 1}\n{"a": 2}\n{"a": oops}\n{"a": 4}\n') == [{"a": 1}, {"a": 2}]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.feed(b"5\n")
    error = caught.value
    assert error.position == "line 3"
    assert str(error).startswith("line 3 is not valid JSON (Expecting value at column 7): '{\"a\": oops}'; ")
    assert "set on_malformed to 'skip' or 'raw'" in str(error)
    assert error.excerpt == '{"a": oops}'
    assert isinstance(error, ValueError)
    with pytest.raises(StreamDecodeError):
        decoder.close()


def test_malformed_line_with_nothing_before_it_raises_at_once() -> None:
    decoder = build_decoder("ndjson")
    assert decoder.feed(b"1\n") == [1]
    with pytest.raises(StreamDecodeError, match="line 2 is not valid JSON"):
        decoder.feed(b"{\n2\n")


def test_malformed_unterminated_last_line_raises_at_close() -> None:
    decoder = build_decoder("ndjson")
    assert decoder.feed(b"1\n{") == [1]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.close()
    assert caught.value.position == "line 2"


@pytest.mark.parametrize(
    ("raw", "skip", "raw_mode"),
    [
        (b"1\n{x}\n2\n", [1, 2], [1, "{x}", 2]),
        (b"1\r\nNaNa\r\n2", [1, 2], [1, "NaNa", 2]),
        (b"1\n\xff\xfe\n2\n", [1, 2], [1, "\ufffd\ufffd", 2]),  # invalid UTF-8
        (b'1\n"\xed\xa0\x80"\n2\n', [1, 2], [1, '"\ufffd\ufffd\ufffd"', 2]),  # an encoded surrogate
        (b"1\n\xef\xbb\xbf2\n3\n", [1, 3], [1, "\ufeff2", 3]),  # a BOM past the first line
        (b"1\n[1,]\n", [1], [1, "[1,]"]),
        (b"1\n" + b"[" * 100_000 + b"]" * 100_000 + b"\n2\n", [1, 2], None),  # too deep for the stdlib
    ],
)
@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_malformed_modes(raw: bytes, skip: list[Any], raw_mode: list[Any] | None, backend: str) -> None:
    with json_backend(backend):
        decoder = build_decoder("ndjson", on_malformed="skip")
        assert decoder.feed(raw) + decoder.close() == skip
        assert decoder.malformed == 1
        if raw_mode is not None:
            assert collect([raw], on_malformed="raw") == (repr(raw_mode), None)
        items, error = collect([raw])
        assert items == repr([1]) and error is not None and error[1] == "line 2"


def test_invalid_utf8_error_names_the_byte() -> None:
    _, error = collect([b'"\xff"\n'])
    assert error is not None and "invalid UTF-8: invalid start byte at byte 1" in error[2]


# -- size limit ----------------------------------------------------------------


def test_oversized_line_raises_as_soon_as_the_limit_is_passed() -> None:
    decoder = build_decoder("ndjson", max_item_bytes=4096)
    assert decoder.feed(b'{"ok": true}\n["') == [{"ok": True}]
    fed = 2
    with pytest.raises(StreamDecodeError) as caught:
        while fed < 10 * 4096:
            decoder.feed(b"x" * 100)
            fed += 100
    assert fed <= 4096 < fed + 100  # the piece that passed the limit raised
    error = caught.value
    assert error.position == "line 2"
    assert "line 2 is longer than max_item_bytes (4096 bytes)" in str(error)
    assert "raise max_item_bytes" in str(error)
    assert error.excerpt.startswith('["xxx') and error.excerpt.endswith("...")
    assert len(error.excerpt) <= 83


def test_lines_before_an_oversized_line_are_delivered_first() -> None:
    decoder = build_decoder("ndjson", max_item_bytes=10)
    assert decoder.feed(b"1\n2\n" + b"3" * 11 + b"\n4\n") == [1, 2]
    with pytest.raises(StreamDecodeError, match="line 3 is longer"):
        decoder.feed(b"")


def test_line_of_exactly_the_limit_with_split_crlf_is_accepted() -> None:
    line = b"1" * 10
    for raw in (line + b"\r\n", line + b"\r", line + b"\n"):
        whole = collect([raw], max_item_bytes=10)
        assert whole == (repr([int(line)]), None)
        for cut in range(len(raw) + 1):
            assert collect(split_at(raw, [cut]), max_item_bytes=10) == whole
    _, error = collect([line + b"1\r\n"], max_item_bytes=10)
    assert error is not None and error[1] == "line 1"


# -- select ----------------------------------------------------------------------


def _ollama_stream() -> bytes:
    lines = [
        {"model": "llama3", "created_at": "2024-05-01T12:00:00Z", "response": word, "done": False}
        for word in ["The", " sky", " is", " blue", "."]
    ]
    lines.append({"model": "llama3", "created_at": "2024-05-01T12:00:01Z", "done": True, "total_duration": 5})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.mark.parametrize("backend", ["orjson", "json"])
def test_ollama_generate_stream_with_select(backend: str) -> None:
    raw = _ollama_stream()
    with json_backend(backend):
        decoder = build_decoder("ndjson", select="/response")
        items = []
        for start in range(0, len(raw), 50):
            items.extend(decoder.feed(raw[start : start + 50]))
        items.extend(decoder.close())
    assert items == ["The", " sky", " is", " blue", "."]
    assert (decoder.items, decoder.skipped) == (5, 1)  # the final line has no "response"
    assert aggregate("ndjson", items, "concat") == "The sky is blue."
    assert aggregate("ndjson", items) == items


def test_select_applies_to_every_item_but_not_to_raw_lines() -> None:
    raw = b'{"a": {"b": 1}}\n{"a": 2}\nbad\n{"a": {"b": null}}\n'
    assert collect([raw], select="/a/b", on_malformed="raw") == (repr([1, "bad", None]), None)


# -- properties ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=6,
)
_ndjson_line = st.one_of(
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.sampled_from([b"", b"  ", b"[DONE]", b" [DONE] ", b"{", b"NaN", b"\xff", b"\xef\xbb\xbf1", b"\r", b"1\r2"]),
)
ndjson_streams = st.tuples(
    st.sampled_from([b"", b"\xef\xbb\xbf"]),
    st.lists(st.tuples(_ndjson_line, st.sampled_from([b"\n", b"\r\n"])).map(b"".join), max_size=12),
    _ndjson_line,  # unterminated tail
).map(lambda t: t[0] + b"".join(t[1]) + t[2])


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_items_and_errors_do_not_depend_on_chunking(data: st.DataObject) -> None:
    assert_json_items_ignore_chunking(collect, data.draw(ndjson_streams), data)


@settings(max_examples=150, deadline=None)
@given(st.lists(json_values, max_size=10), st.data())
def test_valid_stream_round_trips(values: list[Any], data: st.DataObject) -> None:
    raw = b"".join(json.dumps(v).encode() + data.draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"])) for v in values)
    assert collect(data.draw(chunkings(raw)), stop_marker=None) == (repr(values), None)


TRICKY = [
    b'\xef\xbb\xbf{"\xc3\xa9": "\xe2\x82\xac"}\r\n\r\n  \n[1,\r\n2]\n{"a":1}\r\n"\xf0\x9f\x98\x80"',
    b'1\r\n2\r\n\r\n{"a": [1, {"b": "\\u00e9"}]}\r\n[DONE]\r\n3\r\n',
]


@pytest.mark.parametrize("raw", TRICKY)
@pytest.mark.parametrize("on_malformed", ["error", "raw"])
def test_every_pair_of_cut_points(raw: bytes, on_malformed: str) -> None:
    whole = collect([raw], on_malformed=on_malformed)
    for first in range(len(raw) + 1):
        assert collect(split_at(raw, [first]), on_malformed=on_malformed) == whole, first
        for second in range(first, len(raw) + 1, 2):
            assert collect(split_at(raw, [first, second]), on_malformed=on_malformed) == whole, (
                first,
                second,
            )
