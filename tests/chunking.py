"""Shared scaffolding of the decoder tests: ways of cutting a byte stream into
network chunks, and feeding them to a decoder. The property every decoder
test checks is that the output never depends on where the cuts fell."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st

from utcp_http_stream.decoders import build_decoder, jsonlib
from utcp_http_stream.errors import StreamDecodeError

Outcome = tuple[Any, tuple[Any, ...] | None]


@contextmanager
def json_backend(name: str) -> Iterator[None]:
    """Run the block with the given JSON backend ("json" or "orjson")."""
    before = jsonlib.backend()
    jsonlib.set_backend(name)
    try:
        yield
    finally:
        jsonlib.set_backend(before)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def one_byte_chunks(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Any cutting of ``data``: one byte at a time, or at random points
    (duplicated points make empty chunks, which must be harmless too)."""
    if draw(st.integers(0, 4)) == 0:
        return one_byte_chunks(data)
    return split_at(data, draw(st.lists(st.integers(0, len(data)), max_size=12)))


def collector(framing: str, *, as_repr: bool = True) -> Callable[..., Outcome]:
    """``collect(chunks, **options)`` for one framing: feed every chunk (even
    after ``finished``), then close; the items (as a repr by default, so NaN
    compares equal) and the error raised, if any."""

    def collect(chunks: list[bytes], **options: Any) -> Outcome:
        decoder = build_decoder(framing, **options)
        items: list[Any] = []
        error = None
        try:
            for chunk in chunks:
                items.extend(decoder.feed(chunk))
            items.extend(decoder.close())
        except StreamDecodeError as exc:
            error = (type(exc), exc.position, str(exc), exc.excerpt)
        return (repr(items) if as_repr else items), error

    return collect


def assert_json_items_ignore_chunking(collect: Callable[..., Outcome], raw: bytes, data: st.DataObject) -> None:
    """The JSON-item property shared by ndjson and json_seq: with any limit,
    stop marker, ``select`` and ``on_malformed``, the items and the error of
    ``raw`` are the same however it is cut, and with either JSON backend."""
    options = {
        "max_item_bytes": data.draw(st.sampled_from([3, 16, 8 * 1024 * 1024])),
        "stop_marker": data.draw(st.sampled_from(["[DONE]", None, "1"])),
        "select": data.draw(st.sampled_from([None, "", "/0"])),
        "on_malformed": data.draw(st.sampled_from(["error", "skip", "raw"])),
    }
    whole = collect([raw], **options)
    assert collect(data.draw(chunkings(raw)), **options) == whole
    with json_backend("json"):
        assert collect(data.draw(chunkings(raw)), **options) == whole
