"""The body pieces of one call, across reconnections.

The reconnect layer lives here, below the response: when a body is cut off,
what arrived before the cut is delivered first; then the call's
:class:`StreamState` decides whether to resume (SSE with ``Last-Event-ID``,
or a GET that yielded nothing) and after what pause; the source opens the new
exchange and goes on, and the response simply keeps reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

import aiohttp

from utcp_http_stream.decompress import ContentDecoder
from utcp_http_stream.errors import StreamDecodeError
from utcp_http_stream.transport.body import BodyReader, buffered_tail
from utcp_http_stream.transport.call import Call, Exchange
from utcp_http_stream.transport.error_map import finish

__all__ = ["BodySource"]

logger = logging.getLogger(__name__)

Reconnect = Callable[[Call], Awaitable[Exchange]]

#: aiohttp's ways of saying "the connection ended before the body did".
_CUTS = (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError)


def _not_ready() -> None:
    """``BodySource.ready`` while pieces go through :meth:`BodySource.next` only."""


def _not_known() -> bool:
    """``BodySource.at_end`` of an encoded body: its end shows as ``b""``."""
    return False


class BodySource:
    """``await source.next()`` -> the next body piece, ``b""`` at the end."""

    __slots__ = ("_cut", "_inflate", "_pending", "_reader", "_reconnect", "at_end", "call", "exchange", "ready")

    def __init__(self, call: Call, exchange: Exchange, reconnect: Reconnect | None) -> None:
        self.call = call
        self._reconnect = reconnect
        self._cut: BaseException | None = None
        self._start(exchange)

    def _start(self, exchange: Exchange) -> None:
        self.exchange = exchange
        call = self.call
        self._reader = BodyReader(exchange.raw.content, call.limits.idle_s, call, exchange.raw.connection,
                                  call.pool.loop)
        #: The Content-Encoding's decoder; None for an unencoded body (the fast path).
        self._inflate: ContentDecoder | None = None
        self._pending: Iterator[bytes] | None = None
        encoding = exchange.headers.get("Content-Encoding")
        if encoding:
            with call.errors:
                decoder = ContentDecoder(encoding)
            self._inflate = None if decoder.identity else decoder
        #: ``source.ready()``: the next piece if it is already here, else None:
        #: then ``await`` :meth:`next`, which also meets and translates any
        #: failure. An unencoded body with no cut pending (the common case)
        #: asks the reader directly: no coroutine, no extra call.
        self.ready: Callable[[], bytes | None] = self._reader.ready if self._inflate is None else _not_ready
        #: ``source.at_end()``: True when the body is known to have ended
        #: (every piece was taken); False when that is not known yet.
        self.at_end: Callable[[], bool] = exchange.raw.content.at_eof if self._inflate is None else _not_known

    def next(self) -> Awaitable[bytes]:
        """``await source.next()``: the next piece of the (decoded) body,
        ``b""`` at its end (an unencoded body skips the decoding layer)."""
        return self._next_raw() if self._inflate is None else self._next_decoded()

    async def _next_decoded(self) -> bytes:
        """The next piece of the content-decoded body; ``b""`` at its end."""
        assert self._inflate is not None
        with self.call.errors:  # a corrupt or truncated encoding: translated there
            while True:
                if self._pending is not None:
                    piece = next(self._pending, None)
                    if piece is not None:
                        return piece
                    self._pending = None
                raw = await self._next_raw()
                if not raw:
                    self._inflate.close()
                    return b""
                self._pending = self._inflate.feed(raw)

    async def _next_raw(self) -> bytes:
        while True:
            if self._cut is not None:
                await self._resume()
            errors = self.call.errors
            errors.phase = "body"
            try:
                data = self._reader.ready()
                return data if data is not None else await self._reader.wait()
            except _CUTS as exc:  # translated in _resume: what it means depends on what follows
                self._cut = exc
                # Until _resume() decides: no piece, and no end, but by next().
                self.ready, self.at_end = _not_ready, _not_known
            except Exception:
                with errors:  # timeouts and every other failure: translated there
                    raise
            # What arrived whole before the cut may still sit in aiohttp's
            # buffer: hand it over first; the next round decides what the cut means.
            self._reader.close()
            tail = buffered_tail(self.exchange.raw.content)
            self.exchange.close()
            if tail:
                return tail

    async def _resume(self) -> None:
        """After a cut: raise it, or wait and open the next exchange."""
        cut, self._cut = self._cut, None
        call = self.call
        state = call.state
        errors = call.errors
        errors.items = state.items_yielded
        error = finish(errors.interrupted(cut), errors.secrets)  # type: ignore[arg-type]
        delay = None if self._reconnect is None else state.reconnect_delay(error, mid_stream=True)
        if delay is None or not call.may_sleep(delay):
            raise error
        logger.info("reconnecting to %s in %.3f s (attempt %d): %s", errors.url, delay, state.attempts, error)
        await asyncio.sleep(delay)
        assert self._reconnect is not None
        exchange = await self._reconnect(call)
        self._start(exchange)
        with errors:
            state.on_response(exchange.status, exchange.content_type, lambda: errors.url)

    async def read(self, limit: int) -> bytes:
        """The whole body (no reconnection), refused past ``limit`` bytes."""
        pieces: list[bytes] = []
        size = 0
        while piece := await self.next():
            size += len(piece)
            if size > limit:
                raise StreamDecodeError(
                    f"the document at {self.call.errors.url} is larger than {limit} bytes; raise max_item_bytes "
                    "on the manual's call template if it is really that big",
                    position=f"byte {size}",
                )
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        self._reader.close()

