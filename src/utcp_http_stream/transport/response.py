"""``StreamResponse``: an open response, iterated as decoded items, raw bytes
or SSE events, with interruption detection and reconnection inside the
iteration.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
from multidict import CIMultiDictProxy

from utcp_http_stream.decoders import Decoder, aggregate, build_decoder
from utcp_http_stream.decoders.aggregate import ResultBudget
from utcp_http_stream.decoders.framing import charset_of, framing_for_content_type
from utcp_http_stream.errors import HttpStatusError, HttpStreamError, StreamInterruptedError, TemplateError
from utcp_http_stream.request import PreparedRequest
from utcp_http_stream.retry import RETRYABLE_STATUS, Deadline, backoff_seconds
from utcp_http_stream.security import scrub_error
from utcp_http_stream.template import StreamableHttpCallTemplate
from utcp_http_stream.transport.body import INTERRUPTIONS, BodyReader, buffered_tail, idle_seconds, reason

if TYPE_CHECKING:
    from utcp_http_stream.transport.client import StreamClient

__all__ = ["StreamResponse"]

logger = logging.getLogger(__name__)


class StreamResponse:
    """An open streaming response.

    ``status``, ``headers``, ``url`` and ``framing`` are known once the
    context is entered. Iterate it (``async for item in response``) for
    decoded items, or use :meth:`iter_bytes` / :meth:`iter_events`; a response
    can be consumed once. Reconnection (when the template allows it) happens
    inside the iteration and is invisible to the consumer except for
    ``reconnects``.
    """

    def __init__(self, client: StreamClient, template: StreamableHttpCallTemplate, prepared: PreparedRequest):
        self._client = client
        self.template = template
        self._prepared = prepared
        self._deadline = Deadline(template.timeout)
        self._raw: aiohttp.ClientResponse | None = None
        self._final: PreparedRequest = prepared
        self._consumed = False
        self._attempts = 0
        self.items_yielded = 0
        self.reconnects = 0
        self.last_event_id: str | None = None
        self._retry_ms: int | None = None
        self.framing = "bytes"
        self.charset: str | None = None

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {self.framing} {self._final.safe_url}>"

    # -- state ---------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._raw.status if self._raw is not None else 0

    @property
    def reason(self) -> str:
        return (self._raw.reason or "") if self._raw is not None else ""

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        assert self._raw is not None
        return self._raw.headers

    @property
    def url(self) -> str:
        """The final URL (after redirects), with credentials redacted."""
        return self._final.safe_url

    @property
    def content_type(self) -> str | None:
        return self._raw.headers.get("Content-Type") if self._raw is not None else None

    # -- lifecycle -----------------------------------------------------------

    async def _start(self) -> None:
        self._raw, self._final = await self._connect(initial=True)
        self._choose_framing()

    def _choose_framing(self) -> None:
        content_type = self.content_type
        fmt = self.template.stream_format
        self.framing = framing_for_content_type(content_type) if fmt == "auto" else fmt
        self.charset = charset_of(content_type)
        if self.template.select is not None and self.framing in ("bytes", "text"):
            self.close()
            raise TemplateError(
                f"select {self.template.select!r} needs a JSON framing (ndjson, sse or json), but the response "
                f"from {self._final.safe_url} is {content_type or 'unlabelled'} ({self.framing} framing); set "
                "stream_format to ndjson/sse/json or remove select"
            )

    async def _connect(self, *, initial: bool) -> tuple[aiohttp.ClientResponse, PreparedRequest]:
        """Open (or re-open) the request, retrying where the policy allows."""
        extra: dict[str, str] = {}
        while True:
            if self.last_event_id:  # an empty id means: send none (WHATWG)
                extra["Last-Event-ID"] = self.last_event_id
            else:
                extra.pop("Last-Event-ID", None)
            try:
                return await self._client._open(self.template, self._prepared, self._deadline, extra_headers=extra)
            except (StreamInterruptedError, HttpStatusError) as exc:
                delay = self._retry_delay(exc, before_first_item=True)
                if delay is None:
                    raise
                await self._sleep(delay, exc)

    def _may_reconnect(self, *, mid_stream: bool) -> bool:
        policy = self.template.reconnect
        if policy is None or self._attempts >= policy.max_attempts:
            return False
        if self.framing == "sse" or (not mid_stream and self.template.stream_format == "sse"):
            # Resume is safe only if the server can skip what we have seen.
            return self.items_yielded == 0 or bool(self.last_event_id)
        return self._prepared.method in ("GET", "HEAD") and self.items_yielded == 0

    def _retry_delay(self, exc: BaseException, *, before_first_item: bool) -> float | None:
        """Seconds to wait before another attempt, or None to give up."""
        policy = self.template.reconnect
        if policy is None:
            return None
        if isinstance(exc, HttpStatusError):
            if exc.status not in RETRYABLE_STATUS:
                return None  # a 4xx (or other status) is never retried
            retry_after = exc.retry_after
        else:
            retry_after = None
        sse_expected = self.template.stream_format == "sse" or self.framing == "sse"
        if not sse_expected and self._prepared.method not in ("GET", "HEAD"):
            return None
        if not self._may_reconnect(mid_stream=not before_first_item):
            return None
        if retry_after is not None:
            if retry_after * 1000 > policy.max_delay_ms:
                return None  # the server asks for a longer pause than we may wait
            return retry_after
        return backoff_seconds(policy, self._attempts, self._retry_ms)

    async def _sleep(self, delay: float, exc: BaseException) -> None:
        remaining = self._deadline.remaining()
        if remaining is not None and delay >= remaining:
            raise exc
        self._attempts += 1
        self.reconnects += 1
        logger.info(
            "reconnecting to %s in %.3f s (attempt %d): %s", self._final.safe_url, delay, self._attempts, exc
        )
        await asyncio.sleep(delay)

    def close(self) -> None:
        """Drop the connection now (it is not returned to the pool half-read)."""
        raw = self._raw
        if raw is not None:
            raw.close()

    async def aclose(self) -> None:
        """Close the connection if the body was not read to its end; else return it to the pool."""
        raw = self._raw
        if raw is None:
            return
        if raw.content.is_eof():
            raw.release()
        else:
            raw.close()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items(events=False)

    def iter_items(self) -> AsyncIterator[Any]:
        """Decoded items per the framing (ARCHITECTURE section 3)."""
        return self._items(events=False)

    def iter_batches(self) -> AsyncIterator[list[Any]]:
        """Decoded items grouped per network read (each list non-empty): the
        same items as :meth:`iter_items`, with less per-item overhead."""
        return self._batches(events=False)

    def iter_events(self) -> AsyncIterator[Any]:
        """SSE only: ``ServerSentEvent`` objects (type, data, id, retry)."""
        if self.framing != "sse":
            raise TemplateError(f"iter_events() needs an SSE response; this one is {self.framing} framing")
        return self._items(events=True)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The raw body bytes as they arrive (after content decoding), with the
        same timeouts, interruption handling and reconnection as the items."""
        batches = self._batches(events=False, raw_bytes=True)
        try:
            async for batch in batches:
                for chunk in batch:
                    yield chunk
        finally:
            await batches.aclose()

    async def aggregate(self) -> Any:
        """Read the whole stream and return what ``call_tool`` returns, at
        most ``max_result_bytes`` of it (clamped to the client's ceiling)."""
        budget = ResultBudget(self._client.settings.result_bytes(self.template.max_result_bytes))
        raw_bytes = self.framing == "bytes" and self.template.aggregate == "auto"
        batches = self._batches(events=False, raw_bytes=raw_bytes)
        try:
            if raw_bytes:
                # No per-chunk slicing, and one copy of the body: each piece is
                # written once into the buffer whose bytes are returned.
                buffer = io.BytesIO()
                async for batch in batches:
                    for chunk in batch:
                        budget.add(len(chunk))
                        buffer.write(chunk)
                return buffer.getvalue()
            items: list[Any] = []
            async for batch in batches:
                budget.add_items(batch)
                items += batch
        finally:
            await batches.aclose()
        return aggregate(self.framing, items, self.template.aggregate)

    def _claim(self) -> None:
        if self._consumed:
            raise RuntimeError("this StreamResponse was already consumed; open a new stream")
        self._consumed = True

    def _new_decoder(self, events: bool, raw_bytes: bool = False) -> Decoder:
        t = self.template
        if raw_bytes:  # pass every piece through as it came
            return build_decoder("bytes", chunk_size=sys.maxsize)
        return build_decoder(
            self.framing,
            chunk_size=t.chunk_size,
            charset=self.charset,
            max_item_bytes=t.max_item_bytes,
            on_malformed=t.on_malformed,
            select=None if events else t.select,
            stop_marker=t.stop_marker,
            sse_event_types=t.sse_event_types,
            last_event_id=self.last_event_id,
            events=events,
        )

    async def _items(self, events: bool) -> AsyncIterator[Any]:
        batches = self._batches(events)
        try:
            async for batch in batches:
                for item in batch:
                    yield item
        finally:
            await batches.aclose()

    def _track(self, decoder: Decoder, items: list[Any], sse: bool) -> list[Any]:
        """Count what is about to be delivered and keep the SSE resume state."""
        self.items_yielded += len(items)
        if sse:
            self.last_event_id = decoder.last_event_id  # type: ignore[attr-defined]
            self._retry_ms = decoder.retry  # type: ignore[attr-defined]
        return items

    async def _batches(self, events: bool, raw_bytes: bool = False) -> AsyncIterator[list[Any]]:
        """Decoded items, one non-empty list per network read.

        Batches keep the per-item cost to a list iteration for high-rate
        streams; :meth:`__aiter__` flattens them. Interruption and
        reconnection are handled here, invisible to the consumer.
        """
        self._claim()
        if self._prepared.method == "HEAD" or self.status in (204, 304):
            await self.aclose()  # no body by definition: nothing to decode
            return
        decoder = self._new_decoder(events, raw_bytes)
        sse = self.framing == "sse" and not raw_bytes
        idle_s = idle_seconds(self.template)
        reader: BodyReader | None = None
        try:
            while True:
                raw = self._raw
                assert raw is not None
                reader = BodyReader(raw, idle_s, self._deadline)
                try:
                    while chunk := await reader.next():
                        items = self._track(decoder, decoder.feed(chunk), sse)
                        if items:
                            yield items
                        if decoder.finished:
                            break
                    else:
                        items = self._track(decoder, decoder.close(), sse)
                        if items:
                            yield items
                    return
                except TimeoutError as exc:
                    raise self._client._timeout_error(
                        exc, self.template, self._final, self._deadline, self.items_yielded, started=True
                    ) from None
                except INTERRUPTIONS as exc:
                    cut: BaseException = exc
                # What arrived whole before the cut may still sit in aiohttp's
                # buffer: deliver its complete items (the partial one stays in
                # the decoder and is dropped with it).
                reader.close()
                tail = buffered_tail(raw.content)
                raw.close()
                items = self._track(decoder, decoder.feed(tail) if tail else [], sse)
                if items:
                    yield items
                if decoder.finished:
                    return  # the stop marker arrived before the cut: the stream is complete
                error = self._interrupted(cut)
                delay = self._retry_delay(error, before_first_item=False)
                if delay is None:
                    raise error
                await self._sleep(delay, error)
                try:
                    self._raw, self._final = await self._connect(initial=False)
                except StreamInterruptedError as exc:
                    exc.items_yielded = self.items_yielded  # how far the whole call got
                    raise
                self._choose_framing()
                # A fresh parser: the partial event before the cut is dropped,
                # the last event id carries over.
                decoder = self._new_decoder(events, raw_bytes)
        except HttpStreamError as exc:
            raise scrub_error(exc, self._final.secrets) from None
        finally:
            if reader is not None:
                reader.close()
            await self.aclose()

    def _interrupted(self, exc: BaseException) -> StreamInterruptedError:
        return StreamInterruptedError(
            f"the stream from {self._final.safe_url} was cut off after {self.items_yielded} item(s) "
            f"before the body was complete ({reason(exc)}); the items received so far were delivered, "
            "the partial one was dropped",
            self.items_yielded,
        )
