"""Content-Encoding decoding, sans-I/O: every coding round trips however the
body is cut, output comes in bounded pieces (a bomb cannot allocate its
whole output at once), a cut stream is TruncatedEncoding and a broken one
CorruptEncoding."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
import tracemalloc
import zlib

import brotli
import pytest
from backports import zstd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chunking import split_at
from utcp_http_stream.decompress import (
    MAX_PIECE,
    ContentDecoder,
    CorruptEncoding,
    TruncatedEncoding,
    UnsupportedEncoding,
    accept_encoding,
    available_encodings,
)
from utcp_http_stream.errors import StreamDecodeError


def raw_deflate(data: bytes) -> bytes:
    encoder = zlib.compressobj(wbits=-15)
    return encoder.compress(data) + encoder.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstd.compress,
}
RAW_DEFLATE = "deflate (raw)"
ALL = [*ENCODERS, RAW_DEFLATE]


def encode(name: str, data: bytes) -> tuple[str, bytes]:
    """(Content-Encoding header, body) for ``name``."""
    if name == RAW_DEFLATE:
        return "deflate", raw_deflate(data)
    return name, ENCODERS[name](data)


def decode(header: str | None, chunks: list[bytes], max_piece: int = MAX_PIECE) -> list[bytes]:
    decoder = ContentDecoder(header, max_piece=max_piece)
    pieces = [piece for chunk in chunks for piece in decoder.feed(chunk)]
    decoder.close()
    return pieces


TEXTY = st.binary(max_size=3000) | st.text(alphabet="ab \n{}", max_size=3000).map(str.encode)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=40, deadline=None)
@given(
    data=TEXTY,
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
    max_piece=st.sampled_from([1, 7, 512, MAX_PIECE]),
)
def test_round_trip_at_any_chunking(name, data, cuts, max_piece):
    header, body = encode(name, data)
    chunks = split_at(body, [c % (len(body) + 1) for c in cuts])
    pieces = decode(header, chunks, max_piece)
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= max_piece for piece in pieces)


@pytest.mark.parametrize("name", ALL)
def test_round_trip_one_byte_at_a_time(name):
    data = b"".join(b"line %d of a streamed body\n" % i for i in range(300))
    header, body = encode(name, data)
    assert b"".join(decode(header, [body[i : i + 1] for i in range(len(body))], 100)) == data


@settings(max_examples=40, deadline=None)
@given(data=TEXTY, cuts=st.lists(st.integers(min_value=0, max_value=8000), max_size=8))
def test_stacked_encodings_are_undone_last_first(data, cuts):
    body = brotli.compress(gzip.compress(data))  # "gzip, br": gzip applied first
    chunks = split_at(body, [c % (len(body) + 1) for c in cuts])
    assert b"".join(decode("gzip, br", chunks, 97)) == data
    triple = gzip.compress(zstd.compress(raw_deflate(data)))
    assert b"".join(decode("deflate, zstd, identity, gzip", [triple])) == data


def test_gzip_members_and_zstd_frames_follow_one_another():
    assert b"".join(decode("gzip", [gzip.compress(b"one ") + gzip.compress(b"two")])) == b"one two"
    joined = zstd.compress(b"one ") + zstd.compress(b"two")
    assert b"".join(decode("zstd", [joined[:5], joined[5:]])) == b"one two"


def test_header_forms():
    assert ContentDecoder(None).identity and ContentDecoder("").identity and ContentDecoder("identity").identity
    data = bytes(range(256)) * 400
    decoder = ContentDecoder(None)
    assert list(decoder.feed(data)) == [data]  # passed through as it is, never split
    assert list(decoder.feed(b"")) == []
    assert ContentDecoder(" GZIP , identity").encodings == ("gzip",)
    assert ContentDecoder("x-gzip").encodings == ("gzip",)
    assert repr(ContentDecoder("gzip, br")) == "<ContentDecoder gzip, br>"


def test_empty_body_is_empty_whatever_the_header():
    for header in ("gzip", "deflate", "br", "zstd", "gzip, br"):
        assert decode(header, []) == [] and decode(header, [b""]) == []


# -- bounded output -----------------------------------------------------------------

BOMB_OUTPUT = 64 * 1024 * 1024


def bomb(name: str) -> bytes:
    """64 MiB of zeros, compressed (gzip at level 1 keeps a large input: 280 KiB)."""
    zeros = bytes(BOMB_OUTPUT)
    if name == "gzip":
        return gzip.compress(zeros, compresslevel=1)
    if name == "br":
        return brotli.compress(zeros, quality=1)
    return zstd.compress(zeros)


@pytest.mark.parametrize("name", ["gzip", "br", "zstd"])
def test_bomb_comes_out_in_bounded_pieces(name):
    body = bomb(name)
    started = time.perf_counter()
    tracemalloc.start()
    try:
        decoder = ContentDecoder(name)
        total = largest = 0
        for piece in decoder.feed(body):  # the whole bomb in one feed
            total += len(piece)
            largest = max(largest, len(piece))
        decoder.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert largest <= MAX_PIECE
    assert total == BOMB_OUTPUT
    assert peak < 8 * MAX_PIECE, f"{name}: peak {peak} bytes for {len(body)} compressed -> {total}"
    print(f"{name}: {len(body)} B -> {total} B in {elapsed:.2f} s, largest piece {largest}, peak {peak} B")


# -- cut short, or broken ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_cut_is_truncated(name):
    data = b"".join(b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(200))
    header, body = encode(name, data)
    for cut in range(1, len(body)):
        decoder = ContentDecoder(header, max_piece=1000)
        got = b"".join(piece for piece in decoder.feed(body[:cut]))
        assert data.startswith(got)
        with pytest.raises(TruncatedEncoding):
            decoder.close()


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gzip.compress(b"hello")[:-8] + b"\0" * 8),  # wrong CRC and length
        ("gzip", gzip.compress(b"hello") + b"trailing junk"),
        ("deflate", zlib.compress(b"hello") + b"junk"),
        ("deflate", b"\x78\x9c" + b"\xff" * 20),
        ("br", b"\xff" * 40),
        ("br", brotli.compress(b"hello") + b"junk"),
        ("zstd", b"not a zstd frame"),
    ],
    ids=["gzip-garbage", "gzip-crc", "gzip-trailing", "deflate-trailing", "deflate-garbage", "br-garbage",
         "br-trailing", "zstd-garbage"],
)
def test_corrupt_streams(header, body):
    with pytest.raises(CorruptEncoding):
        decode(header, [body])


def test_zstd_window_over_the_http_limit_is_refused():
    data = bytes(range(256)) * 64 * 1024  # 16 MiB, so the encoder keeps its 32 MiB window
    body = zstd.compress(data, options={zstd.CompressionParameter.window_log: 25})
    with pytest.raises(CorruptEncoding, match="8 MiB"):
        decode("zstd", [body])


# -- what can be decoded here -----------------------------------------------------------


def test_accept_encoding_offers_what_is_installed():
    assert accept_encoding() == "zstd, br, gzip, deflate"
    assert available_encodings() == ("zstd", "br", "gzip", "deflate")


@pytest.mark.parametrize("header", ["compress", "lzma", "gzip, snappy"])
def test_unknown_coding_is_refused(header):
    with pytest.raises(UnsupportedEncoding) as info:
        ContentDecoder(header)
    assert isinstance(info.value, StreamDecodeError)
    assert "gzip, deflate" in str(info.value)


def test_missing_package_names_the_compression_extra():
    script = (
        "import sys; sys.modules['brotli'] = None; sys.modules['backports.zstd'] = None;"
        "sys.modules['compression'] = None\n"
        "from utcp_http_stream.decompress import ContentDecoder, UnsupportedEncoding, accept_encoding\n"
        "print(accept_encoding())\n"
        "for name in ('br', 'zstd'):\n"
        "    try:\n"
        "        ContentDecoder('gzip, ' + name)\n"
        "    except UnsupportedEncoding as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "gzip, deflate"
    assert "'br'" in lines[1] and "Brotli" in lines[1]
    assert "'zstd'" in lines[2] and "backports.zstd" in lines[2]
    assert all('pip install "utcp-http-stream[compression]"' in line for line in lines[1:])
