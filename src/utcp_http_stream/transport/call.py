"""One call's running values (limits, deadline, error map) and one HTTP
exchange (an aiohttp response, the request that got it, its pool slot)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDictProxy

from utcp_http_stream.decoders.framing import charset_of
from utcp_http_stream.decompress import ContentDecoder, EncodingError
from utcp_http_stream.errors import HttpStatusError, StreamDecodeError
from utcp_http_stream.request import PreparedRequest
from utcp_http_stream.retry import retry_after_seconds
from utcp_http_stream.security import printable_excerpt, redact_text
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.stream_state import StreamState
from utcp_http_stream.template import StreamableHttpCallTemplate
from utcp_http_stream.transport.error_map import ErrorMap, finish
from utcp_http_stream.transport.limits import CallLimits

if TYPE_CHECKING:
    from utcp_http_stream.transport.sessions import LoopPool
    from utcp_http_stream.transport.slots import Held, Slots

__all__ = ["Call", "Exchange", "status_error"]

_ERROR_BODY_LIMIT = 4096
#: Longest wait for an error body's first bytes (the call's deadline may be shorter).
_ERROR_BODY_WAIT_S = 2.0


class Call(ErrorMap):
    """The limits of one call after the client's ceilings, its deadline
    (shared by every attempt), its error map and its stream state.

    A call is its own error map: where the call is (phase, request, items)
    is what the map words its messages from, and one object fewer is made,
    kept alive and traversed by the collector on every call.
    """

    __slots__ = ("pool", "prepared", "settings", "state", "template")

    def __init__(
        self,
        template: StreamableHttpCallTemplate,
        prepared: PreparedRequest,
        settings: ClientSettings,
        pool: LoopPool,
        limits: CallLimits | None = None,
    ) -> None:
        self.template = template
        self.prepared = prepared
        self.settings = settings
        self.pool = pool
        limits = limits if limits is not None else CallLimits.of(template, settings)
        super().__init__(prepared, prepared.secrets, limits)
        # Positional arguments for what is made on every call: a class called
        # with keywords costs a dict more per call (CPython's slot_tp_init).
        #: The call's decisions (framing, decoding, resume, reconnect).
        self.state = StreamState(template, prepared.method, limits.max_item_bytes)

    @property
    def errors(self) -> ErrorMap:
        """``with call.errors:`` translates what fails inside (the call itself)."""
        return self

    def within_deadline(self, seconds: float) -> float:
        remaining = self.remaining()
        if remaining is None:
            return seconds
        if remaining <= 0:
            raise TimeoutError("the call's deadline passed")
        return min(seconds, remaining)

    def pool_wait(self) -> float:
        """Seconds to wait for a free pooled connection."""
        return self.within_deadline(self.settings.pool_timeout / 1000)

    def header_wait(self) -> float:
        """Seconds to wait for the connection and the response headers."""
        at = self.at
        seconds = self.limits.connect_ms / 1000
        if at is None or at - time.monotonic() > seconds:
            return seconds  # the common case: the deadline is further away
        return self.within_deadline(seconds)

    def may_sleep(self, delay: float) -> bool:
        """Whether a pause of ``delay`` seconds still leaves time for another attempt."""
        remaining = self.remaining()
        return remaining is None or delay < remaining


class Exchange:
    """One request and its response, holding a pooled connection slot."""

    __slots__ = ("_held", "content_type", "headers", "raw", "request", "status")

    def __init__(self, raw: aiohttp.ClientResponse, request: PreparedRequest, held: Slots | Held) -> None:
        self.raw = raw
        self.request = request
        self._held: Slots | Held | None = held
        #: The response's status, headers and Content-Type (read on every call: plain attributes).
        self.status: int = raw.status
        self.headers: CIMultiDictProxy[str] = raw.headers
        self.content_type: str | None = raw.headers.get("Content-Type")

    @property
    def reason(self) -> str:
        return self.raw.reason or ""

    def close(self) -> None:
        """Drop the connection (it is not returned to the pool half-read)."""
        self.raw.close()
        self._give_slot()

    def release(self) -> None:
        """Return the connection to the pool if its body was read to the end
        and the server's keep-alive allows it; else drop it."""
        # A server's shorter Keep-Alive was already honoured when the headers
        # arrived (connection.response_class): its connection is not pooled.
        raw = self.raw
        if raw.content.is_eof():
            raw.release()
        else:
            raw.close()
        self._give_slot()

    def _give_slot(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.give()


async def status_error(call: Call, exchange: Exchange) -> HttpStatusError:
    """The ``HttpStatusError`` for a non-2xx answer, with a bounded, scrubbed
    excerpt of its body (read within the call's remaining time)."""
    detail = b""
    content = exchange.raw.content
    try:
        async with asyncio.timeout(call.within_deadline(_ERROR_BODY_WAIT_S)):
            while len(detail) < _ERROR_BODY_LIMIT and not content.at_eof():
                piece = await content.read(_ERROR_BODY_LIMIT - len(detail))
                if not piece:
                    break
                detail += piece
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass
    finally:
        exchange.close()
    request = exchange.request
    detail = _decoded(detail, exchange.headers.get("Content-Encoding"))
    charset = charset_of(exchange.content_type) or "utf-8"
    try:
        text = printable_excerpt(redact_text(detail.decode(charset, errors="replace"), request.secrets), 300)
    except LookupError:
        text = printable_excerpt(redact_text(detail.decode("utf-8", errors="replace"), request.secrets), 300)
    error = HttpStatusError(exchange.status, exchange.reason, request.safe_url, text)
    error.retry_after = retry_after_seconds(exchange.headers.get("Retry-After"))
    return finish(error, request.secrets)  # type: ignore[return-value]


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """An error body's first bytes, content-decoded as far as they go (a
    cut-off excerpt of a compressed body is expected to be incomplete)."""
    if not encoding or not body:
        return body
    try:
        decoder = ContentDecoder(encoding)
        out = bytearray()
        for piece in decoder.feed(body):
            out += piece
            if len(out) >= _ERROR_BODY_LIMIT:
                break
        return bytes(out)
    except (EncodingError, StreamDecodeError):
        return b"(an undecodable " + encoding.encode("ascii", "replace")[:40] + b" body)"
