"""``StreamResponse``: an open response, iterated as decoded items, raw bytes
or SSE events.

It is handed the call's :class:`StreamState` (what the bytes mean) and a
:class:`BodySource` (where they come from, reconnections included), never
the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from multidict import CIMultiDictProxy

from utcp_http_stream.decoders.aggregate import Aggregation
from utcp_http_stream.stream_state import StreamState
from utcp_http_stream.template import StreamableHttpCallTemplate
from utcp_http_stream.transport.source import BodySource

__all__ = ["StreamResponse"]

#: Called once when the response is done with its source: it closes the
#: source and releases its call and exchange; what it returns (if anything)
#: is awaited.
OnClose = Callable[[BodySource], Awaitable[None] | None]


def _closed(source: BodySource) -> None:
    """The ``on_close`` of a response that was already closed."""


class StreamResponse:
    """An open streaming response.

    ``status``, ``headers``, ``url`` and ``framing`` are known once the
    context is entered. Iterate it (``async for item in response``) for
    decoded items, or use :meth:`iter_bytes` / :meth:`iter_events`; a response
    can be consumed once. Reconnection (when the template allows it) happens
    below the iteration and is invisible to the consumer except for
    ``reconnects``.
    """

    def __init__(self, state: StreamState, source: BodySource, template: StreamableHttpCallTemplate,
                 on_close: OnClose) -> None:
        self.template = template
        self._state = state
        self._source = source
        self._on_close: OnClose | None = on_close
        self._consumed = False

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {self.framing} {self.url}>"

    # -- state ---------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._source.exchange.status

    @property
    def reason(self) -> str:
        return self._source.exchange.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._source.exchange.headers

    @property
    def url(self) -> str:
        """The final URL (after redirects), with credentials redacted."""
        return self._source.exchange.request.safe_url

    @property
    def final_url(self) -> str:
        """The final URL as sent (credentials included: not for display)."""
        return self._source.exchange.request.url

    @property
    def content_type(self) -> str | None:
        return self._source.exchange.content_type

    @property
    def framing(self) -> str:
        return self._state.framing

    @property
    def charset(self) -> str | None:
        return self._state.charset

    @property
    def items_yielded(self) -> int:
        return self._state.items_yielded

    @property
    def reconnects(self) -> int:
        return self._state.attempts

    @property
    def last_event_id(self) -> str | None:
        return self._state.last_event_id

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Drop the connection now (it is not returned to the pool half-read)."""
        self._source.exchange.raw.close()

    async def aclose(self) -> None:
        """Release the connection (to the pool if the body was read to its end)."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            closing = on_close(self._source)
            if closing is not None:
                await closing

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items("items")

    def iter_items(self) -> AsyncIterator[Any]:
        """Decoded items per the framing (ARCHITECTURE section 3)."""
        return self._items("items")

    def iter_batches(self) -> AsyncIterator[list[Any]]:
        """Decoded items grouped per network read (each list non-empty): the
        same items as :meth:`iter_items`, with less per-item overhead."""
        return self._batches("items")

    def iter_events(self) -> AsyncIterator[Any]:
        """SSE only: ``ServerSentEvent`` objects (type, data, id, retry)."""
        self._state.start("events")  # raises TemplateError for another framing
        return self._items("events")

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The raw body bytes as they arrive (after content decoding), with the
        same timeouts, interruption handling and reconnection as the items."""
        batches = self._batches("raw")
        try:
            async for batch in batches:
                for chunk in batch:
                    yield chunk
        finally:
            await batches.aclose()

    def aggregate(self) -> Awaitable[Any]:
        """``await response.aggregate()``: read the whole stream and return
        what ``call_tool`` returns, at most ``max_result_bytes`` of it (after
        the client's ceiling); the response is closed afterwards."""
        self._claim()
        on_close, self._on_close = self._on_close, None
        return drain(self._source, on_close if on_close is not None else _closed)

    async def read(self, limit: int) -> bytes:
        """The whole body as bytes, refused past ``limit`` bytes."""
        self._claim()
        try:
            return await self._source.read(limit)
        finally:
            await self.aclose()

    def _claim(self) -> None:
        if self._consumed:
            raise RuntimeError("this StreamResponse was already consumed; open a new stream")
        self._consumed = True

    async def _items(self, mode: str) -> AsyncIterator[Any]:
        batches = self._batches(mode)
        try:
            async for batch in batches:
                for item in batch:
                    yield item
        finally:
            await batches.aclose()

    async def _batches(self, mode: str) -> AsyncIterator[list[Any]]:
        """Decoded items, one non-empty list per network read.

        Batches keep the per-item cost to a list iteration for high-rate
        streams; :meth:`__aiter__` flattens them.
        """
        self._claim()
        state = self._state
        source = self._source
        try:
            state.start(mode)
            if not state.has_body:
                return  # no body by definition: nothing to decode
            errors = source.call.errors
            while True:
                chunk = source.ready()
                if chunk is None:
                    chunk = await source.next()
                try:
                    items = state.feed(chunk) if chunk else state.close()
                except Exception:
                    with errors:  # decode errors: scrubbed and bounded there
                        raise
                if items:
                    yield items
                if not chunk or state.finished:
                    return
        finally:
            await self.aclose()


async def drain(source: BodySource, on_close: OnClose) -> Any:
    """Read the whole body of ``source`` and return its aggregate, what
    ``call_tool`` returns (at most ``max_result_bytes``, after the client's
    ceiling), then hand the source to ``on_close``.

    What :meth:`StreamResponse.aggregate` does, and ``StreamClient.call()``
    without a response object: the items :meth:`StreamResponse.iter_batches`
    would yield, without an async generator (one generator, and the loop's
    bookkeeping of it, fewer per call).
    """
    call = source.call
    state = call.state
    try:
        kept = Aggregation(state.framing, call.template.aggregate, call.limits.max_result_bytes)
        state.start(kept.mode)
        more = state.has_body  # none by definition (HEAD, 204, 304): nothing to decode
        while more:
            chunk = source.ready()
            if chunk is None:
                chunk = await source.next()
            # A small body is often whole with the headers: its end is seen
            # with its last piece, not one more read later.
            end = not chunk or source.at_end()
            try:
                batch = state.feed_last(chunk) if end else state.feed(chunk)
                if batch:
                    kept.keep(batch, state.body_bytes)
            except Exception:
                with call.errors:  # decode and budget errors: scrubbed and bounded there
                    raise
            more = not end and not state.finished
    finally:
        closing = on_close(source)
        if closing is not None:
            await closing
    return kept.result()
