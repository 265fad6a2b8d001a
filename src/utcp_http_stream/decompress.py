"""Content-Encoding, decoded in the plugin: sans-I/O, bounded, cut-aware.

aiohttp decodes bodies itself, but it cannot tell a gzip stream that was cut
short from one that ended, and br/zstd depend on packages this project
must declare. :class:`ContentDecoder` does the job instead, for ``gzip``
(and ``x-gzip``), ``deflate`` (zlib-wrapped or raw), ``br``, ``zstd`` and
``identity``, stacked ones included (``Content-Encoding: gzip, br`` is
undone br first).

Bounded: one call to :meth:`ContentDecoder.feed` yields the decoded bytes in
pieces of at most ``max_piece`` bytes, produced one at a time as the caller
iterates, so a compression bomb (1 MiB of gzip that inflates to 1 GiB) never
allocates more than about one piece. Identity passes each input through
unchanged. :meth:`ContentDecoder.close` raises :class:`TruncatedEncoding`
when a compressed stream stopped before its end, and anything undecodable
raises :class:`CorruptEncoding`.

``br`` needs the ``Brotli`` package (1.2 or later, for bounded output) and
``zstd`` needs ``backports.zstd`` before Python 3.14 (``compression.zstd``
after): ``pip install "utcp-http-stream[compression]"``. :func:`accept_encoding`
offers only what can be decoded here.

No aiohttp, no asyncio: the transport feeds this what it reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from utcp_http_stream.errors import StreamDecodeError

__all__ = [
    "COMPRESSION_EXTRA",
    "MAX_PIECE",
    "ContentDecoder",
    "CorruptEncoding",
    "EncodingError",
    "TruncatedEncoding",
    "UnsupportedEncoding",
    "accept_encoding",
    "available_encodings",
]

#: The largest piece one ``feed`` yields at a time (identity aside).
MAX_PIECE = 64 * 1024

#: What to install for br and zstd.
COMPRESSION_EXTRA = 'pip install "utcp-http-stream[compression]"'

# RFC 9659: zstd encoders for HTTP must not need a window over 8 MiB; a
# larger one would let a server make this client allocate up to 2 GiB.
_ZSTD_WINDOW_LOG_MAX = 23

# zlib copies the input it has not consumed yet after every bounded call, so
# a large input goes in by steps: a bomb's 1 MiB is not copied per piece.
_INPUT_STEP = 16 * 1024

_ALIASES = {"x-gzip": "gzip"}
_UNSUPPORTED_KNOWN = frozenset({"compress", "x-compress", "exi", "pack200-gzip", "aes128gcm", "dcb", "dcz"})


def _load_brotli() -> Any:
    try:
        import brotli  # the Brotli package
    except ImportError:
        return None
    # Brotli >= 1.2 bounds its output; brotlipy (same import name) and older
    # Brotli cannot, so they count as absent.
    if not hasattr(brotli.Decompressor, "can_accept_more_data"):
        return None
    return brotli


def _load_zstd() -> Any:
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            return None
    return zstd


_brotli = _load_brotli()
_zstd = _load_zstd()


class EncodingError(Exception):
    """A compressed body that cannot be decoded; the transport maps the
    subclasses to the contract's errors."""


class TruncatedEncoding(EncodingError):
    """The compressed stream stopped before its end (the connection was cut,
    or the server sent less than it compressed)."""


class CorruptEncoding(EncodingError):
    """The compressed stream is not valid data of its encoding."""


class UnsupportedEncoding(StreamDecodeError):
    """The server used a Content-Encoding this client cannot decode (one it
    never asked for, or br/zstd without the ``compression`` extra)."""


def available_encodings() -> tuple[str, ...]:
    """The content codings this installation decodes, best first."""
    optional = (("zstd", _zstd), ("br", _brotli))
    return (*(name for name, module in optional if module is not None), "gzip", "deflate")


def accept_encoding() -> str:
    """The ``Accept-Encoding`` header value to send: gzip and deflate, plus
    br and zstd when their packages are installed."""
    return ", ".join(available_encodings())


class _Stage(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ContentDecoder:
    """Decodes one response body whose ``Content-Encoding`` header is given.

    ``feed(data)`` returns an iterator of decoded pieces, each at most
    ``max_piece`` bytes (identity passes input through as it is); consume it
    fully before the next ``feed``. ``close()`` at the end of the body raises
    :class:`TruncatedEncoding` if a compressed stream is incomplete. A body
    of zero bytes is accepted as empty, whatever the header (HEAD-like
    answers and 204s carry the header with no body). Decoding errors raise
    :class:`CorruptEncoding`; an encoding that cannot be decoded here raises
    :class:`UnsupportedEncoding` from the constructor.
    """

    __slots__ = ("_stages", "encodings", "max_piece")

    def __init__(self, content_encoding: str | None, *, max_piece: int = MAX_PIECE) -> None:
        if max_piece < 1:
            raise ValueError("max_piece must be at least 1")
        self.max_piece = max_piece
        #: The codings in the order they were applied, identity left out.
        self.encodings: tuple[str, ...] = _parse(content_encoding)
        self._stages: tuple[_Stage, ...] = tuple(_stage(name, max_piece) for name in reversed(self.encodings))

    @property
    def identity(self) -> bool:
        """True when the body is not encoded: ``feed`` returns its input."""
        return not self._stages

    def __repr__(self) -> str:
        return f"<ContentDecoder {', '.join(self.encodings) or 'identity'}>"

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in bounded pieces, produced lazily;
        never an empty piece."""
        if not data:
            return iter(())
        pieces: Iterable[bytes] = (data,)
        for stage in self._stages:
            pieces = _through(stage, pieces)
        return iter(pieces)

    def close(self) -> None:
        """The body ended: raise :class:`TruncatedEncoding` if any stream is
        incomplete."""
        for stage in self._stages:
            stage.close()


def _through(stage: _Stage, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


def _parse(header: str | None) -> tuple[str, ...]:
    if not header:
        return ()
    names = []
    for token in header.split(","):
        name = token.strip().lower()
        name = _ALIASES.get(name, name)
        if name and name != "identity":
            names.append(name)
    for name in names:
        _check_available(name)
    return tuple(names)


def _check_available(name: str) -> None:
    if name in ("gzip", "deflate"):
        return
    if name in ("br", "zstd"):
        if (_brotli if name == "br" else _zstd) is None:
            package = "Brotli>=1.2" if name == "br" else "backports.zstd"
            raise UnsupportedEncoding(
                f"the server sent Content-Encoding {name!r}, which needs the {package} package; "
                f"install the compression extra: {COMPRESSION_EXTRA}"
            )
        return
    shown = name[:40] + ("…" if len(name) > 40 else "")
    kind = "a known coding that this client does not support" if name in _UNSUPPORTED_KNOWN else "not a coding"
    raise UnsupportedEncoding(
        f"the server sent Content-Encoding {shown!r} ({kind}); this client asks for "
        f"{accept_encoding()} only, and decodes nothing else"
    )


def _stage(name: str, max_piece: int) -> _Stage:
    if name == "gzip":
        return _Zlib("gzip", max_piece)
    if name == "deflate":
        return _Zlib("deflate", max_piece)
    if name == "br":
        return _Brotli(max_piece)
    return _Zstd(max_piece)


class _Zlib:
    """gzip (members may follow one another, RFC 1952) or deflate (zlib
    wrapped as RFC 9110 says, or raw as some servers send it)."""

    __slots__ = ("_decoder", "_header", "_kind", "_max", "_started")

    def __init__(self, kind: str, max_piece: int) -> None:
        self._kind = kind
        self._max = max_piece
        self._started = False  # bytes went into the current stream
        self._header = b""  # deflate: the first bytes, until zlib or raw is known
        self._decoder: Any = zlib.decompressobj(31) if kind == "gzip" else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if self._decoder is None:
            data = self._header + data
            if len(data) < 2:
                self._header = data
                return
            self._decoder = zlib.decompressobj(15 if _is_zlib_header(data) else -15)
            self._header = b""
        view = memoryview(data)
        for start in range(0, len(view), _INPUT_STEP):
            step: bytes | memoryview = view[start : start + _INPUT_STEP]
            while step:
                self._started = True
                step = yield from self._inflate(step)

    def _inflate(self, data: bytes | memoryview) -> Iterator[bytes]:
        """Decode ``data`` with the current stream; returns what follows its
        end (the next gzip member), or b""."""
        decoder = self._decoder
        while True:
            try:
                out = decoder.decompress(data, self._max)
            except zlib.error as exc:
                raise CorruptEncoding(f"the {self._kind} stream is corrupt ({exc})") from None
            if out:
                yield out
            data = decoder.unconsumed_tail
            if decoder.eof:
                return self._next_member(decoder.unused_data)
            if not data and len(out) < self._max:
                return b""

    def _next_member(self, rest: bytes) -> bytes:
        if not rest:
            self._started = False
            self._decoder = zlib.decompressobj(31) if self._kind == "gzip" else _Finished(self._kind)
            return b""
        if self._kind != "gzip":
            raise CorruptEncoding(f"{len(rest)} byte(s) follow the end of the deflate stream")
        self._decoder = zlib.decompressobj(31)
        return rest

    def close(self) -> None:
        if self._header or (self._started and not self._decoder.eof):
            raise TruncatedEncoding(f"the {self._kind} stream ended before its end marker")


class _Finished:
    """A deflate stream that ended: more data is an error."""

    __slots__ = ("_kind",)
    eof = True
    unconsumed_tail = b""
    unused_data = b""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def decompress(self, data: bytes | memoryview, max_length: int) -> bytes:
        raise CorruptEncoding(f"{len(data)} byte(s) follow the end of the {self._kind} stream")


def _is_zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate), a window of at most 32 KiB, and the
    header's check bits."""
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class _Brotli:
    __slots__ = ("_decoder", "_max", "_started")

    def __init__(self, max_piece: int) -> None:
        self._decoder = _brotli.Decompressor()
        self._max = max_piece
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._started = True
        decoder = self._decoder
        if decoder.is_finished():
            raise CorruptEncoding(f"{len(data)} byte(s) follow the end of the br stream")
        try:
            # Brotli stops growing its output at the limit but may overshoot
            # it by up to one internal block: cut what it returns.
            out = decoder.process(data, output_buffer_limit=self._max)
            while out or not decoder.can_accept_more_data():
                if out:
                    yield from _slices(out, self._max)
                out = decoder.process(b"", output_buffer_limit=self._max)
        except _brotli.error as exc:
            raise CorruptEncoding(f"the br stream is corrupt ({exc})") from None

    def close(self) -> None:
        if self._started and not self._decoder.is_finished():
            raise TruncatedEncoding("the br stream ended before its end marker")


class _Zstd:
    """zstd frames, one after another (RFC 8878), each decoded bounded."""

    __slots__ = ("_decoder", "_max", "_started")

    def __init__(self, max_piece: int) -> None:
        self._decoder = self._new()
        self._max = max_piece
        self._started = False

    @staticmethod
    def _new() -> Any:
        return _zstd.ZstdDecompressor(options={_zstd.DecompressionParameter.window_log_max: _ZSTD_WINDOW_LOG_MAX})

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            self._started = True
            data = yield from self._frame(data)

    def _frame(self, data: bytes) -> Iterator[bytes]:
        decoder = self._decoder
        try:
            while True:
                out = decoder.decompress(data, self._max)
                if out:
                    yield out
                data = b""
                if decoder.eof:
                    rest = decoder.unused_data
                    self._decoder = self._new()
                    self._started = False
                    return rest
                if decoder.needs_input:
                    return b""
        except _zstd.ZstdError as exc:
            raise CorruptEncoding(
                f"the zstd stream is corrupt ({exc}); HTTP allows zstd windows up to 8 MiB (RFC 9659)"
            ) from None

    def close(self) -> None:
        if self._started:
            raise TruncatedEncoding("the zstd stream ended before the end of its frame")


def _slices(data: bytes, size: int) -> Iterator[bytes]:
    if len(data) <= size:
        yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])
