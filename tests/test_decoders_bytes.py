"""Bytes: chunks of at most chunk_size whose concatenation is the body."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import split_at
from utcp_http_stream.decoders import aggregate, build_decoder
from utcp_http_stream.decoders.chunks import cut


def test_small_pieces_are_yielded_at_once_and_not_copied() -> None:
    decoder = build_decoder("bytes", chunk_size=8)
    piece = b"abc" * 2
    out = decoder.feed(piece)
    assert out == [piece] and out[0] is piece  # never held back to fill a chunk
    assert decoder.feed(b"") == []
    assert decoder.feed(b"12345678") == [b"12345678"]
    assert decoder.close() == []
    assert decoder.items == 2 and not decoder.finished


def test_large_pieces_are_sliced() -> None:
    decoder = build_decoder("bytes", chunk_size=4)
    out = decoder.feed(b"0123456789")
    assert out == [b"0123", b"4567", b"89"]
    assert all(type(chunk) is bytes for chunk in out)
    assert decoder.items == 3


def test_bytes_like_input_is_accepted() -> None:
    decoder = build_decoder("bytes", chunk_size=4)
    assert decoder.feed(bytearray(b"abcdef")) == [b"abcd", b"ef"]
    assert decoder.feed(memoryview(b"xy")) == [b"xy"]


def test_stop_marker_and_on_malformed_do_not_apply() -> None:
    decoder = build_decoder("bytes", stop_marker="[DONE]", on_malformed="error")
    assert decoder.feed(b"[DONE]\n\xff\xfe") == [b"[DONE]\n\xff\xfe"]
    assert not decoder.finished


def test_select_is_refused() -> None:
    with pytest.raises(ValueError, match="select needs a JSON framing"):
        build_decoder("bytes", select="/a")


def test_aggregate_is_the_body() -> None:
    assert aggregate("bytes", [b"ab", b"", b"cd"]) == b"abcd"
    assert aggregate("bytes", [], "concat") == b""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10), st.integers(1, 64))
def test_concatenation_is_the_body_whatever_the_chunking(body: bytes, cuts: list[int], size: int) -> None:
    decoder = build_decoder("bytes", chunk_size=size)
    out = []
    for piece in split_at(body, [min(c, len(body)) for c in cuts]):
        got = decoder.feed(piece)
        assert b"".join(got) == piece  # everything that arrived is out at once
        out.extend(got)
    out.extend(decoder.close())
    assert b"".join(out) == body
    assert all(0 < len(chunk) <= size for chunk in out)
    assert decoder.items == len(out)


@pytest.mark.parametrize("size", [1, 7, 4096])
@pytest.mark.parametrize("count", [1, 63, 64, 65, 128, 200])
@pytest.mark.parametrize("tail", [0, 1])
def test_cutting_in_blocks_gives_every_chunk_in_order(size: int, count: int, tail: int) -> None:
    # Whole blocks of 64 chunks, a partial block, a short last chunk: each
    # chunk is the slice at its place.
    body = bytes(i % 251 for i in range(size * count + tail))
    out = cut(body, size) if len(body) > size else [body]
    assert out == [body[start : start + size] for start in range(0, len(body), size)]
    assert all(type(chunk) is bytes for chunk in out)
