"""The LF line splitter shared by the ndjson and text framings."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utcp_http_stream.decoders.lines import LineSplitter
from utcp_http_stream.errors import StreamDecodeError


def split_all(splitter: LineSplitter, pieces: list) -> list:
    lines = []
    for piece in pieces:
        lines.extend(splitter.feed(piece))
    last = splitter.close()
    if last is not None:
        lines.append(last)
    return lines


def test_bytes_and_str() -> None:
    assert split_all(LineSplitter(100), [b"a\r", b"\nb\n", b"c"]) == [b"a", b"b", b"c"]
    assert split_all(LineSplitter(100, "\n"), ["a\r", "\nb\n", "c\r"]) == ["a", "b", "c"]


def test_line_numbers() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b"a\nb\npartial") == [b"a", b"b"]
    assert splitter.lines_done == 2
    assert splitter.close() == b"partial" and splitter.lines_done == 3
    assert splitter.close() is None


def test_pieces_without_a_line_feed_are_not_joined_until_the_line_ends() -> None:
    splitter = LineSplitter(10_000)
    pieces = [b"x" * 64 for _ in range(100)]
    for piece in pieces:
        assert splitter.feed(piece) == []
    assert splitter._pending == pieces  # kept as they came
    assert splitter.feed(b"\n") == [b"".join(pieces)]


def test_oversized_partial_line_fails_at_once_and_drops_the_buffer() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b"ok\n" + b"x" * 50) == [b"ok"]
    assert splitter.feed(b"x" * 50) == []
    assert splitter.error is None
    assert splitter.feed(b"x") == []
    assert splitter.error is not None and splitter.error.position == "line 2"
    assert splitter._pending == []
    with pytest.raises(StreamDecodeError):
        splitter.feed(b"\n")
    with pytest.raises(StreamDecodeError):
        splitter.close()


def test_a_trailing_cr_may_wait_for_its_line_feed() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcd\r") == [] and splitter.error is None
    assert splitter.feed(b"\n") == [b"abcd"]
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcd\rx") == [] and splitter.error is not None


def test_lines_after_an_oversized_one_are_not_returned() -> None:
    splitter = LineSplitter(3)
    assert splitter.feed(b"a\nbb\ncccc\nd\n") == [b"a", b"bb"]
    assert splitter.error is not None and splitter.error.position == "line 3"


def test_str_unit_counts_bytes_per_character() -> None:
    splitter = LineSplitter(8, "\n", unit=2)
    assert splitter.feed("abcd\n") == ["abcd"]
    assert splitter.feed("abcde\n") == []
    assert splitter.error is not None and "max_item_bytes (8 bytes)" in str(splitter.error)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n")),
    st.lists(st.integers(0, 200), max_size=10),
)
def test_any_chunking_gives_the_same_lines(data: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # nothing after the last LF (a lone CR there still makes a line)
    expected = [line.removesuffix(b"\r") for line in expected]
    assert split_all(LineSplitter(1000), pieces) == expected
