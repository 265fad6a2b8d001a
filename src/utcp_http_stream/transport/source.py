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
from collections.abc import Awaitable, Callable

import aiohttp

from utcp_http_stream.errors import StreamDecodeError
from utcp_http_stream.transport.body import BodyReader, buffered_tail
from utcp_http_stream.transport.call import Call, Exchange
from utcp_http_stream.transport.error_map import finish

__all__ = ["BodySource"]

logger = logging.getLogger(__name__)

Reconnect = Callable[[Call], Awaitable[Exchange]]

#: aiohttp's ways of saying "the connection ended before the body did".
_CUTS = (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError)


class BodySource:
    """``await source.next()`` -> the next body piece, ``b""`` at the end."""

    __slots__ = ("_call", "_cut", "_reader", "_reconnect", "exchange")

    def __init__(self, call: Call, exchange: Exchange, reconnect: Reconnect | None) -> None:
        self._call = call
        self.exchange = exchange
        self._reconnect = reconnect
        self._reader = _reader(call, exchange)
        self._cut: BaseException | None = None

    @property
    def call(self) -> Call:
        return self._call

    async def next(self) -> bytes:
        while True:
            if self._cut is not None:
                await self._resume()
            errors = self._call.errors
            errors.phase = "body"
            try:
                return await self._reader.next()
            except _CUTS as exc:  # translated in _resume: what it means depends on what follows
                self._cut = exc
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
        call = self._call
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
        self.exchange = exchange = await self._reconnect(call)
        with errors:
            state.on_response(exchange.status, exchange.content_type, exchange.request.safe_url)
        self._reader = _reader(call, exchange)

    async def read(self, limit: int) -> bytes:
        """The whole body (no reconnection), refused past ``limit`` bytes."""
        pieces: list[bytes] = []
        size = 0
        while piece := await self.next():
            size += len(piece)
            if size > limit:
                raise StreamDecodeError(
                    f"the document at {self._call.errors.url} is larger than {limit} bytes; raise max_item_bytes "
                    "on the manual's call template if it is really that big",
                    position=f"byte {size}",
                )
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        self._reader.close()


def _reader(call: Call, exchange: Exchange) -> BodyReader:
    return BodyReader(exchange.raw.content, call.idle_s, call.deadline, exchange.raw.connection)
