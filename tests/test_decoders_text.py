"""Text: one str per line in the response charset, whatever the chunking."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import chunkings, collector, one_byte_chunks, split_at
from utcp_http_stream.decoders import aggregate, build_decoder
from utcp_http_stream.errors import StreamDecodeError

collect = collector("text", as_repr=False)


def assert_any_cut_gives(raw: bytes, expected: tuple[Any, ...], **options: Any) -> None:
    assert collect([raw], **options) == expected
    assert collect(one_byte_chunks(raw), **options) == expected
    for cut in range(len(raw) + 1):
        assert collect(split_at(raw, [cut]), **options) == expected, cut


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\nb\n", ["a", "b"]),
        (b"a\r\nb\r\n", ["a", "b"]),
        (b"a\n\n\nb", ["a", "", "", "b"]),  # empty lines are items; the last line needs no LF
        (b"\n", [""]),
        (b"", []),
        (b"a\rb\n", ["a\rb"]),  # a lone CR is data
        (b"a\r\r\n", ["a\r"]),  # only one CR is part of the line ending
        (b"a\r", ["a"]),  # a trailing CR at the end of the body counts as the line ending
        (b"\xef\xbb\xbfa\n\xef\xbb\xbfb\n", ["a", "\ufeffb"]),  # only the leading BOM is dropped
        (" é€😀 \n".encode(), [" é€😀 "]),
        (b"x\ny\n[DONE]\nz\n", ["x", "y"]),
        (b"x\n[DONE]", ["x"]),
        (b"x\n [DONE]\n", ["x", " [DONE]"]),  # the whole line must equal the marker
    ],
)
def test_lines(raw: bytes, expected: list[str]) -> None:
    assert_any_cut_gives(raw, (expected, None))


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("utf-8", "héllo\r\nwörld €😀\n\nend"),
        ("latin-1", "héllo\r\nwörld\n\nend"),
        ("cp1252", "price: 5€\nnext"),
        ("shift_jis", "日本語\r\nテキスト\n"),
        ("gb18030", "中文\n😀\n"),
        ("utf-16", "héllo\r\n€😀\n\nend"),  # with its BOM
        ("utf-16-le", "\ufeffhéllo\r\nplain\n"),  # a BOM character is dropped too
        ("utf-32-be", "a\nb😀\r\n"),
        ("cp037", "EBCDIC\r\nlines\n"),
        ("utf-8-sig", "\ufeffbom\nline"),
    ],
)
def test_charsets(charset: str, text: str) -> None:
    raw = text.encode(charset)
    expected = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    if expected[-1] == "":
        expected.pop()
    assert_any_cut_gives(raw, (expected, None), charset=charset)


def test_charset_names_are_case_insensitive_aliases() -> None:
    assert collect(["é\n".encode("latin-1")], charset="ISO-8859-1") == (["é"], None)
    assert collect([b"a\n"], charset="UTF8") == (["a"], None)


def test_multibyte_character_split_across_chunks_is_not_mangled() -> None:
    decoder = build_decoder("text")
    assert decoder.feed(b"caf\xc3") == []
    assert decoder.feed(b"\xa9 \xf0\x9f") == []
    assert decoder.feed(b"\x98\x80\n") == ["café 😀"]


def test_unknown_charset_is_an_actionable_error() -> None:
    with pytest.raises(StreamDecodeError) as caught:
        build_decoder("text", charset="no-such-charset")
    assert str(caught.value) == (
        "unknown charset in the response Content-Type: 'no-such-charset'; "
        "set stream_format to 'bytes' in the call template to receive the raw body"
    )
    with pytest.raises(StreamDecodeError, match=r"unknown charset .*'base64'"):
        build_decoder("text", charset="base64")  # a bytes-to-bytes codec is no charset


# -- invalid bytes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "raw", "bad_line", "replaced"),
    [
        ("utf-8", b"ok\nbad \xff\xfe here\r\nfine\n", 2, "bad \ufffd\ufffd here"),
        ("utf-8", b"ok\ntruncated \xe2\x82\nfine\n", 2, "truncated \ufffd"),
        ("ascii", b"ok\nnon-ascii \xc3\xa9\nfine\n", 2, "non-ascii \ufffd\ufffd"),
        (
            "utf-16-le",
            "ok\n".encode("utf-16-le") + b"\x00\xd8x\x00\n\x00" + "fine\n".encode("utf-16-le"),
            2,
            "\ufffdx",
        ),
    ],
)
def test_invalid_bytes_per_mode(charset: str, raw: bytes, bad_line: int, replaced: str) -> None:
    assert_any_cut_gives(raw, (["ok", "fine"], None), charset=charset, on_malformed="skip")
    assert_any_cut_gives(raw, (["ok", replaced, "fine"], None), charset=charset, on_malformed="raw")
    items, error = collect([raw], charset=charset)
    assert items == ["ok"]
    assert error is not None
    assert error[1] == f"line {bad_line}"
    assert f"line {bad_line} is not valid" in error[2]
    assert "set on_malformed to 'skip' or 'raw'" in error[2] and "stream_format to 'bytes'" in error[2]
    assert error[3] == replaced and f"'{replaced}'" in error[2]  # the excerpt is in the message
    assert_any_cut_gives(raw, (items, error), charset=charset)


def test_invalid_bytes_in_the_unterminated_last_line() -> None:
    decoder = build_decoder("text")
    assert decoder.feed(b"a\nb\xe2\x82") == ["a"]
    with pytest.raises(StreamDecodeError) as caught:
        decoder.close()
    assert caught.value.position == "line 2" and "unexpected end of data" in str(caught.value)


def test_earlier_lines_are_delivered_before_the_error() -> None:
    decoder = build_decoder("text")
    assert decoder.feed(b"a\nb\n\xff\nc\n") == ["a", "b"]
    with pytest.raises(StreamDecodeError, match="line 3"):
        decoder.feed(b"d\n")
    with pytest.raises(StreamDecodeError, match="line 3"):
        decoder.close()


def test_malformed_counter() -> None:
    decoder = build_decoder("text", on_malformed="skip")
    decoder.feed(b"\xff\n\xfe\nok\n")
    assert (decoder.items, decoder.malformed) == (1, 2)  # type: ignore[attr-defined]


# -- stop marker and limits -----------------------------------------------------


def test_stop_marker_ends_the_stream() -> None:
    decoder = build_decoder("text", stop_marker="END")
    assert decoder.feed(b"a\nEND\n\xff invalid, but after the end\n") == ["a"]
    assert decoder.finished
    assert decoder.feed(b"more\n") == [] and decoder.close() == []
    assert collect([b"a\n[DONE]\n"], stop_marker=None) == (["a", "[DONE]"], None)


def test_oversized_line_raises_as_soon_as_the_limit_is_passed() -> None:
    decoder = build_decoder("text", max_item_bytes=1000)
    assert decoder.feed(b"short\n") == ["short"]
    fed = 0
    with pytest.raises(StreamDecodeError) as caught:
        while fed < 5000:
            decoder.feed(b"y" * 64)
            fed += 64
    assert fed <= 1000 < fed + 64
    assert caught.value.position == "line 2"
    assert "max_item_bytes (1000 bytes)" in str(caught.value)


def test_limit_counts_bytes_not_characters() -> None:
    assert collect(["éé\n".encode()], max_item_bytes=4) == (["éé"], None)
    assert collect(["ééé\n".encode()], max_item_bytes=4)[1] is not None
    # UTF-16: each character counts as two bytes.
    assert collect(["ab\n".encode("utf-16-le")], charset="utf-16-le", max_item_bytes=4) == (["ab"], None)
    assert collect(["abc\n".encode("utf-16-le")], charset="utf-16-le", max_item_bytes=4)[1] is not None


def test_aggregate_joins_lines() -> None:
    items, _ = collect([b"a\r\n\r\nb\n"])
    assert aggregate("text", items) == "a\n\nb"
    assert aggregate("text", items, "concat") == "a\n\nb"


# -- properties ------------------------------------------------------------------

_text_line = st.one_of(st.text(max_size=8), st.sampled_from(["", "[DONE]", "é€😀", "\r", "a\rb"]))
_charsets = st.sampled_from(["utf-8", "latin-1", "utf-16-le", "utf-16", "shift_jis"])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_lines_do_not_depend_on_chunking(data: st.DataObject) -> None:
    charset = data.draw(_charsets)
    lines = data.draw(st.lists(_text_line, max_size=8))
    endings = data.draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + end for line, end in zip(lines, endings, strict=True))
    text += data.draw(_text_line)
    raw = text.encode(charset, "replace")
    raw = data.draw(st.sampled_from([raw, raw + b"\xff", b"\xef\xbb\xbf" + raw, raw[:-1] if raw else raw]))
    options = {
        "charset": charset,
        "max_item_bytes": data.draw(st.sampled_from([6, 8 * 1024 * 1024])),
        "stop_marker": data.draw(st.sampled_from(["[DONE]", None])),
        "on_malformed": data.draw(st.sampled_from(["error", "skip", "raw"])),
    }
    whole = collect([raw], **options)
    assert collect(data.draw(chunkings(raw)), **options) == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(), max_size=8), st.data())
def test_utf8_text_round_trips(lines: list[str], data: st.DataObject) -> None:
    lines = [line.replace("\n", " ") for line in lines]
    raw = "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")
    items, error = collect(data.draw(chunkings(raw)), stop_marker=None, on_malformed="raw")
    expected = [line.removesuffix("\r").encode("utf-8", "surrogatepass").decode("utf-8", "replace") for line in lines]
    if expected:
        expected[0] = expected[0].removeprefix("\ufeff")
    assert (items, error) == (expected, None)


TRICKY = [
    b"\xef\xbb\xbfcaf\xc3\xa9\r\n\r\n\xf0\x9f\x98\x80\r\r\n\xe2\x82\xac\nlast",
    b"a\r\n\xff\r\nb\r\n[DONE]\r\nc",
]


@pytest.mark.parametrize("raw", TRICKY)
@pytest.mark.parametrize("on_malformed", ["error", "skip", "raw"])
def test_every_pair_of_cut_points(raw: bytes, on_malformed: str) -> None:
    whole = collect([raw], on_malformed=on_malformed)
    for first in range(len(raw) + 1):
        for second in range(first, len(raw) + 1):
            assert collect(split_at(raw, [first, second]), on_malformed=on_malformed) == whole, (
                first,
                second,
            )
