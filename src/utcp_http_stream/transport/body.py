"""Reading one response body from aiohttp: the idle and total limits per
read, and the bytes that arrived before a cut.

One aiohttp internal is used, in exactly one function (:func:`buffered_tail`),
guarded so that without it the plugin degrades to aiohttp's own behaviour;
``tests/test_transport_body.py`` fails if the attribute disappears.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from utcp_http_stream.retry import Deadline
from utcp_http_stream.transport.error_map import IdleTimeout

__all__ = ["BodyReader", "buffered_tail"]


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

    While a read waits, the timer also looks at the connection (public
    ``Connection.closed``) every ``POLL_S``: aiohttp closes it on a framing
    error in the body (a chunk size that is not hex) without waking the
    body's reader, which would otherwise wait for bytes that can never come.
    A connection seen closed on two looks in a row, with the read still
    waiting, fails the body.
    """

    POLL_S = 0.25

    __slots__ = ("_connection", "_content", "_deadline", "_handle", "_idle", "_loop", "_suspect", "_until",
                 "_waiting")

    def __init__(
        self,
        content: aiohttp.StreamReader,
        idle_s: float | None,
        deadline: Deadline,
        connection: aiohttp.connector.Connection | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._content = content
        self._connection = connection
        self._suspect = False
        self._idle = idle_s
        self._deadline = deadline
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._until = 0.0
        self._waiting = False

    async def next(self) -> bytes:
        """The next piece of body, ``b""`` at its end."""
        data = self.ready()
        return data if data is not None else await self.wait()

    def ready(self) -> bytes | None:
        """The next piece if it needs no waiting (bytes already buffered, or
        ``b""`` at the end), else None: then ``await`` :meth:`wait`. The same
        result as aiohttp's ``readany()``, at a fraction of the cost, and
        no coroutine. Past the deadline, or once the body failed, it reads
        nothing and answers None (:meth:`wait` then raises): a failure here
        never loses bytes, so a caller may ask again."""
        content = self._content
        at = self._deadline.at
        # Deadline.expired(), without a method call on the per-piece path.
        if at is not None and time.monotonic() >= at - Deadline.SLACK_S and not content.at_eof():
            return None
        try:
            data = content.read_nowait()
        except Exception:  # the body failed: nothing was read, and wait() raises it
            return None
        if data or content.at_eof():
            return data
        return None

    async def wait(self) -> bytes:
        """Wait for the next piece, within the idle and total limits."""
        limit = self._idle
        remaining = self._deadline.remaining()
        if remaining is not None:
            if self._deadline.expired():
                raise TimeoutError("the call's deadline passed")
            limit = remaining if limit is None else min(limit, remaining)
        loop = self._loop
        self._until = until = loop.time() + (limit if limit is not None else 86400.0)
        if self._connection is not None:
            until = min(until, loop.time() + self.POLL_S)
        handle = self._handle
        if handle is None or handle.when() > until:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(until, self._expire)
        self._waiting = True
        try:
            return await self._content.readany()
        finally:
            self._waiting = False

    def _expire(self) -> None:
        self._handle = None
        if self._waiting:
            # Bytes (or the end) handled in this same loop turn, before this
            # timer, have woken the read but it has not resumed yet: judge
            # after it has had its turn, or a stream that was in time fails.
            self._loop.call_soon(self._judge)

    def _judge(self) -> None:
        if not self._waiting or self._handle is not None:
            return  # the wait ended (the next one arms the timer again), or a new wait has its own timer
        now = self._loop.time()
        connection = self._connection
        if connection is not None:
            if connection.closed and self._suspect:
                self._content.set_exception(
                    aiohttp.ClientPayloadError("the connection closed in the middle of the body")
                )
                return
            self._suspect = connection.closed
        if now < self._until:
            later = self._until if connection is None else min(self._until, now + self.POLL_S)
            self._handle = self._loop.call_at(later, self._expire)
            return
        error = TimeoutError("the call's deadline passed") if self._deadline.expired() else IdleTimeout()
        self._content.set_exception(error)

    def close(self) -> None:
        """Stop the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


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
