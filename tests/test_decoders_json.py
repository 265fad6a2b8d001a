"""JSON: the jsonlib backends agree with the stdlib, and the json framing."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import collector, json_backend, split_at
from utcp_http_stream.decoders import aggregate, build_decoder, jsonlib
from utcp_http_stream.decoders.build import json_document
from utcp_http_stream.errors import StreamDecodeError, TemplateError

collect = collector("json")

BACKENDS = ["orjson", "json"]


def outcome(function: Any, data: Any) -> str:
    """What parsing gives, comparable across backends (repr: NaN equals NaN,
    -0.0 differs from 0.0, int differs from float)."""
    try:
        return "value " + repr(function(data))
    except (ValueError, RecursionError) as exc:
        return "error " + type(exc).__name__


# -- jsonlib ---------------------------------------------------------------------


def test_orjson_is_used_when_installed_and_can_be_switched_off() -> None:
    assert jsonlib.ORJSON_AVAILABLE and jsonlib.USING_ORJSON and jsonlib.backend() == "orjson"
    with json_backend("json"):
        assert not jsonlib.USING_ORJSON and jsonlib.backend() == "json"
    assert jsonlib.USING_ORJSON
    with pytest.raises(ValueError, match="unknown JSON backend 'simdjson'"):
        jsonlib.set_backend("simdjson")


EDGE_CASES = [
    "NaN",
    "-Infinity",
    "[Infinity, NaN]",
    str(2**80),
    str(-(2**80)),
    "18446744073709551615",  # the largest unsigned 64-bit integer
    "18446744073709551616",  # one more: orjson alone would make it a float
    "-9223372036854775809",
    '{"id": 123456789012345678901234567890, "x": [1e400, -1e400]}',
    "1E400",
    "1e-400",
    "-0",
    "-0.0",
    "0.1000000000000000055511151231257827021181583404541015625",
    "9007199254740993.0",
    '"\\ud800"',  # a lone surrogate escape
    '"\\udc00\\ud800"',
    '"\\ud83d\\ude00"',
    '{"a": 1, "a": 2}',  # duplicate keys: the last wins
    '{"a": {"b": [1, {"c": [true, false, null]}]}}',
    "[" * 2000 + "]" * 2000,  # deeper than orjson allows
    '"\\u0000\x7f"',
    " \t\r\n1 \t\r\n",
    "\ufeff1",
    "",
    "[1,]",
    "{'a': 1}",
    '"\x01"',
    "01",
    "1 2",
]


@pytest.mark.parametrize("text", EDGE_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_loads_is_identical_to_the_stdlib(text: str, backend: str) -> None:
    with json_backend(backend):
        assert outcome(jsonlib.loads, text) == outcome(json.loads, text)
        raw = text.encode("utf-8", "surrogatepass")
        assert outcome(jsonlib.loads, raw) == outcome(json.loads, raw)
        assert outcome(jsonlib.loads_utf8, raw) == outcome(lambda b: json.loads(b.decode("utf-8")), raw)


def test_the_edge_cases_give_the_stdlib_values() -> None:
    assert math.isnan(jsonlib.loads("NaN"))
    assert jsonlib.loads("18446744073709551616") == 2**64
    assert type(jsonlib.loads(str(2**80))) is int
    assert jsonlib.loads('"\\ud800"') == "\ud800"
    assert jsonlib.loads(b"1E400") == math.inf


@pytest.mark.parametrize(
    "raw",
    [
        b'"\xed\xa0\x80"',  # an encoded surrogate: refused by strict UTF-8, accepted by json.loads(bytes)
        b"\xef\xbb\xbf1",  # a BOM: json.loads(bytes) skips it, RFC 8259 text may not have one
        b"1\x00",  # json.loads(bytes) would guess UTF-16
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_loads_utf8_is_strict_utf8(raw: bytes, backend: str) -> None:
    with json_backend(backend):
        assert outcome(jsonlib.loads, raw) == outcome(json.loads, raw)
        assert outcome(jsonlib.loads_utf8, raw) == outcome(lambda b: json.loads(b.decode("utf-8")), raw)
        assert outcome(jsonlib.loads_utf8, raw).startswith("error")


@pytest.mark.parametrize("backend", BACKENDS)
def test_loads_many_utf8(backend: str) -> None:
    with json_backend(backend):
        assert jsonlib.loads_many_utf8([b"1", b'{"a": [2]}', b' "x" ']) == [1, {"a": [2]}, "x"]
        assert jsonlib.loads_many_utf8([]) == []
        assert jsonlib.loads_many_utf8([b"1", b""]) is None
        assert jsonlib.loads_many_utf8([b"1", b"[DONE]"]) is None
        deep = b"[" * 5000 + b"]" * 5000  # too deep for orjson, and for json before Python 3.13
        many = jsonlib.loads_many_utf8([deep])
        assert many is None or many == [jsonlib.loads_utf8(deep)]  # None: the caller parses one by one
        many = jsonlib.loads_many_utf8([b"1", str(2**70).encode()])
        assert many is None or many == [1, 2**70]  # never a float


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**80), 2**80) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_any_dumped_value_parses_as_with_the_stdlib(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    expected = outcome(json.loads, text)
    for backend in BACKENDS:
        with json_backend(backend):
            assert outcome(jsonlib.loads, text) == expected
            assert outcome(jsonlib.loads, text.encode("utf-8", "surrogatepass")) == expected
            assert jsonlib.loads_many_utf8([text.encode("utf-8", "surrogatepass")]) in (
                None,
                [jsonlib.loads(text)],
            )


_json_alphabet = st.sampled_from([*'{}[]:,"\\ 0123456789.eE+-tfnrulsaINfiyu\ud800\x00\t\r\nNaN', "\\u", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_json_alphabet, max_size=20).map("".join))
def test_any_text_gives_the_stdlib_outcome(text: str) -> None:
    expected = outcome(json.loads, text)
    for backend in BACKENDS:
        with json_backend(backend):
            assert outcome(jsonlib.loads, text) == expected


# -- the json framing ------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_document_in_any_chunking(backend: str) -> None:
    raw = '{"nan": NaN, "big": 1208925819614629174706176, "nested": {"a": [1, {"é": "€"}]}}'.encode()
    expected = {"nan": math.nan, "big": 2**80, "nested": {"a": [1, {"é": "€"}]}}
    with json_backend(backend):
        whole = collect([raw])
        assert whole == (repr([expected]), None)
        for cut in range(len(raw) + 1):
            assert collect(split_at(raw, [cut])) == whole


def test_nothing_is_produced_before_close() -> None:
    decoder = build_decoder("json")
    assert decoder.feed(b'{"a": ') == [] and decoder.feed(b"1}") == []
    assert decoder.close() == [{"a": 1}]
    assert decoder.items == 1 and not decoder.finished


@pytest.mark.parametrize(
    ("raw", "charset", "expected"),
    [
        (b'\xef\xbb\xbf{"a": 1}', None, {"a": 1}),  # a BOM, as the stdlib allows for bytes
        ('{"a": "é"}'.encode("utf-16"), None, {"a": "é"}),  # the stdlib recognises UTF-16
        ('{"a": "é"}'.encode("utf-16-le"), "utf-16-le", {"a": "é"}),
        ('\ufeff{"a": "é"}'.encode("utf-16-be"), "utf-16-be", {"a": "é"}),
        ('{"a": "é"}'.encode("latin-1"), "iso-8859-1", {"a": "é"}),
        (b'{"a": 1}', "utf-8", {"a": 1}),
        (b'{"a": 1}', "us-ascii", {"a": 1}),
    ],
)
def test_charsets(raw: bytes, charset: str | None, expected: Any) -> None:
    assert collect([raw], charset=charset) == (repr([expected]), None)


def test_oversized_document_raises_as_soon_as_the_limit_is_passed() -> None:
    decoder = build_decoder("json", max_item_bytes=1000)
    fed = 0
    with pytest.raises(StreamDecodeError) as caught:
        while fed < 5000:
            decoder.feed(b" " * 100)
            fed += 100
    assert fed == 1000  # the piece that made it 1100 bytes raised
    assert "larger than max_item_bytes (1000 bytes)" in str(caught.value)
    assert "raise max_item_bytes" in str(caught.value)
    with pytest.raises(StreamDecodeError):
        decoder.close()


@pytest.mark.parametrize("raw", [b"", b" \r\n\t "])
def test_empty_body(raw: bytes) -> None:
    items, error = collect([raw])
    assert items == "[]" and error is not None
    assert error[1] == "document"
    assert "the response body is empty" in error[2] and "on_malformed" in error[2]
    assert collect([raw], on_malformed="skip") == ("[]", None)
    assert collect([raw], on_malformed="raw") == (repr([raw.decode()]), None)
    assert aggregate("json", []) is None


def test_malformed_document() -> None:
    raw = b'{\n  "a": 1,\n  "b": oops\n}'
    items, error = collect([raw])
    assert items == "[]" and error is not None
    assert error[1] == "line 3 column 8"
    assert "not valid JSON (Expecting value at line 3 column 8)" in error[2]
    assert "set on_malformed to 'skip' or 'raw'" in error[2]
    assert "oops" in error[3]
    assert collect([raw], on_malformed="skip") == ("[]", None)
    assert collect([raw], on_malformed="raw") == (repr([raw.decode()]), None)
    _, error = collect([b'{"a": "\xff"}'])
    assert error is not None and error[1] == "document" and "invalid UTF-8" in error[2]


@pytest.mark.parametrize(
    ("raw", "charset"), [(b" \r\n ", "iso-8859-1"), ("\ufeff \n".encode("utf-16"), "utf-16")]
)
def test_a_blank_body_in_a_declared_charset_is_empty(raw: bytes, charset: str) -> None:
    """Blankness is judged on the decoded text (after its BOM), only once parsing failed."""
    items, error = collect([raw], charset=charset)
    assert items == "[]" and error is not None and "the response body is empty" in error[2]
    assert collect([raw], charset=charset, on_malformed="skip") == ("[]", None)


def test_select() -> None:
    assert collect([b'{"data": {"items": [1, 2]}}'], select="/data/items/1") == ("[2]", None)
    decoder = build_decoder("json", select="/missing")
    decoder.feed(b"{}")
    assert decoder.close() == [] and decoder.skipped == 1 and decoder.items == 0


def test_aggregate_is_the_document() -> None:
    assert aggregate("json", [{"a": 1}]) == {"a": 1}
    assert aggregate("json", [{"a": 1}], "concat") == {"a": 1}
    assert aggregate("json", []) is None


# -- JsonDocument: a whole body's items with no decoder ---------------------------

_WHOLE_BODIES = [
    b'{"data": {"items": [1, 2]}}',
    b"[1, 2, 3]",
    b"",
    b" \r\n ",
    b'{"a": oops}',
    b'{"a": "\xff"}',
    b'\xef\xbb\xbf{"a": 1}',
    '{"a": "é"}'.encode("latin-1"),
    b"12345678901234567890123",  # an integer beyond 64 bits: the stdlib's value
]


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "items", repr(run())
    except StreamDecodeError as exc:
        return "error", (exc.position, str(exc))


@pytest.mark.parametrize("raw", _WHOLE_BODIES)
@pytest.mark.parametrize("on_malformed", ["error", "skip", "raw"])
@pytest.mark.parametrize("select", [None, "/data/items/1", "/missing"])
@pytest.mark.parametrize("charset", [None, "iso-8859-1"])
def test_a_json_document_gives_what_a_fed_and_closed_decoder_gives(
    raw: bytes, on_malformed: str, select: str | None, charset: str | None
) -> None:
    """The items, the counters and the error (position and words) are the decoder's."""
    document = json_document(charset, 1 << 20, on_malformed, select)
    decoder = build_decoder("json", charset=charset, on_malformed=on_malformed, select=select)

    def fed_and_closed() -> list[Any]:
        decoder.feed(raw)
        return decoder.close()

    counts = build_decoder("json")  # a fresh decoder's counters, for the document to count into
    assert _outcome(lambda: document.items(raw, counts)) == _outcome(fed_and_closed)
    assert (counts.items, counts.skipped, counts.malformed) == (decoder.items, decoder.skipped, decoder.malformed)
    assert _outcome(lambda: document.items(raw)) == _outcome(fed_and_closed)  # counting is optional


def test_a_json_document_is_checked_once_and_shared() -> None:
    assert json_document(None, 1000, "error", "/a") is json_document(None, 1000, "error", "/a")
    with pytest.raises(TemplateError, match="JSON Pointer"):
        json_document(None, 1000, "error", "a")
    with pytest.raises(TemplateError, match="on_malformed"):
        json_document(None, 1000, "ignore", None)
    with pytest.raises(StreamDecodeError, match="unknown charset"):
        json_document("no-such-charset", 1000, "error", None)
