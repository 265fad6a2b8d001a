"""Reading a response body from aiohttp: the idle limit per read, failure
detection aiohttp misses, and the bytes that arrived before a cut.

These rely on two aiohttp internals (``StreamReader._read_nowait`` and the
protocol's ``closed`` future), each guarded so that without them the plugin
degrades to aiohttp's own behaviour instead of failing.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp

from utcp_http_stream.retry import Deadline
from utcp_http_stream.security import printable_excerpt
from utcp_http_stream.template import StreamableHttpCallTemplate

__all__ = ["INTERRUPTIONS", "BodyReader", "IdleTimeout", "buffered_tail", "idle_seconds", "reason"]

#: aiohttp's ways of saying "the connection ended before the body did".
INTERRUPTIONS = (
    aiohttp.ClientPayloadError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    ConnectionResetError,
)


class IdleTimeout(asyncio.TimeoutError):
    """No body bytes arrived within idle_timeout while the consumer waited."""


def idle_seconds(template: StreamableHttpCallTemplate) -> float | None:
    idle_ms = template.idle_timeout if template.idle_timeout is not None else template.timeout
    return idle_ms / 1000 if idle_ms else None


class BodyReader:
    """Reads one response body piece by piece, within the idle and total limits.

    The limits are timed here rather than with aiohttp's ``sock_read``: that
    one also runs while the response headers are awaited (``connect_timeout``'s
    job), and when it fires it makes the reader drop bytes that had arrived but
    were not read yet. Only time spent *waiting for data* counts as idle; a
    stream that keeps sending is never stopped by the idle limit, however long
    it runs, and the total limit is checked on every piece.

    One lazy timer serves the whole body: a wait only moves the time it must
    end by, and the timer, when it fires early, sleeps on to that time. So a
    read costs a clock reading, not a timer (h11-style: the common path does
    the least). When a limit is reached, the body stream is failed with
    ``IdleTimeout`` or a plain ``TimeoutError`` (total), which the waiting
    read raises.

    The connection is watched too: aiohttp closes it on a framing error in the
    body (a chunk size that is not hex) without waking the body reader, which
    would otherwise wait for bytes that can never come.
    """

    __slots__ = ("_closed", "_content", "_deadline", "_handle", "_idle", "_loop", "_until", "_waiting", "_watch")

    def __init__(self, raw: aiohttp.ClientResponse, idle_s: float | None, deadline: Deadline) -> None:
        self._content = raw.content
        self._idle = idle_s
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._until = 0.0
        self._waiting = False
        protocol = raw.connection.protocol if raw.connection is not None else None
        # ``closed`` is resolved in connection_lost(); its callbacks run after
        # that has marked the body complete or failed. None: already closed.
        self._closed: asyncio.Future[None] | None = getattr(protocol, "closed", None)
        self._watch = functools.partial(_fail_unfinished_body, self._content, protocol)
        if self._closed is not None:
            self._closed.add_done_callback(self._watch)
        elif protocol is not None and hasattr(protocol, "closed"):
            _fail_unfinished_body(self._content, protocol)

    async def next(self) -> bytes:
        """The next piece of body, ``b""`` at its end."""
        content = self._content
        # Bytes already buffered (or the end already reached) need no waiting:
        # same result as readany(), at a fraction of the cost.
        data = content.read_nowait()
        if data or content.at_eof():
            if data and self._deadline.at is not None and self._deadline.expired():
                raise TimeoutError("the call's deadline passed")
            return data
        limit = self._idle
        remaining = self._deadline.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise TimeoutError("the call's deadline passed")
            limit = remaining if limit is None else min(limit, remaining)
        if limit is None:
            return await content.readany()
        loop = self._loop
        self._until = until = loop.time() + limit
        handle = self._handle
        if handle is None or handle.when() > until:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(until, self._expire)
        self._waiting = True
        try:
            return await content.readany()
        finally:
            self._waiting = False

    def _expire(self) -> None:
        self._handle = None
        if not self._waiting:
            return  # the next wait arms the timer again
        if self._loop.time() < self._until:
            self._handle = self._loop.call_at(self._until, self._expire)
            return
        error = TimeoutError("the call's deadline passed") if self._deadline.expired() else IdleTimeout()
        self._content.set_exception(error)

    def close(self) -> None:
        """Stop the timer and the connection watch."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._closed is not None:
            self._closed.remove_done_callback(self._watch)
            self._closed = None


def _fail_unfinished_body(
    content: aiohttp.StreamReader, protocol: Any, closed: asyncio.Future[None] | None = None
) -> None:
    if closed is not None and not closed.cancelled():
        closed.exception()  # retrieved: the body reader reports the failure
    if not content.is_eof() and content.exception() is None:
        cause = getattr(protocol, "exception", lambda: None)()
        why = f": {reason(cause)}" if cause is not None else ""
        content.set_exception(aiohttp.ClientPayloadError(f"the connection closed in the middle of the body{why}"))


def buffered_tail(content: aiohttp.StreamReader) -> bytes:
    """Body bytes that arrived before the connection failed but were not read.

    aiohttp's ``readany()`` raises a connection error as soon as it is stored,
    even while received bytes are still buffered, so a consumer slower than the
    network would lose complete items that arrived before a cut. This reads
    them out through the reader's private ``_read_nowait`` (guarded: without
    it the tail is lost, as before).
    """
    read_nowait = getattr(content, "_read_nowait", None)
    if read_nowait is None:
        return b""
    try:
        return read_nowait(-1)
    except Exception:
        return b""


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return printable_excerpt(text, 200)
