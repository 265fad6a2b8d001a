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

__all__ = ["INTERRUPTIONS", "IdleTimeout", "buffered_tail", "idle_seconds", "next_piece", "reason"]

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


async def next_piece(raw: aiohttp.ClientResponse, idle_s: float | None, deadline: Deadline) -> bytes:
    """The next piece of body (b"" at its end), waiting at most ``idle_s`` and
    never past the call's ``deadline``.

    The idle limit is timed here, per wait, rather than with aiohttp's
    ``sock_read``: that one also runs while the response headers are awaited
    (``connect_timeout``'s job), and when it fires it makes the reader drop
    bytes that had arrived but were not read yet. A stream that keeps sending
    never waits long here, however long it runs. The total limit is checked
    on every piece, so a fast stream cannot outrun it either.

    While waiting, the connection is watched: aiohttp closes it on a framing
    error in the body (a chunk size that is not hex) without waking the body
    reader, which would otherwise wait for bytes that can never come.

    Raises ``IdleTimeout`` for the idle limit and a plain ``TimeoutError``
    once the deadline has passed.
    """
    content = raw.content
    # Fast path: bytes already buffered (or the end already reached) need no
    # timer and no watch. Same result as readany(), at a fraction of the cost.
    data = content.read_nowait()
    if data or content.at_eof():
        if data and deadline.at is not None and deadline.expired():
            raise TimeoutError("the call's deadline passed")
        return data
    wait = idle_s
    remaining = deadline.remaining()
    if remaining is not None:
        if remaining <= 0:
            raise TimeoutError("the call's deadline passed")
        wait = remaining if wait is None else min(wait, remaining)
    protocol = raw.connection.protocol if raw.connection is not None else None
    # ``closed`` is resolved in connection_lost(); its callbacks run after that
    # has marked the body complete or failed. None: the socket already closed.
    closed: asyncio.Future[None] | None = getattr(protocol, "closed", None)
    watch = functools.partial(_fail_unfinished_body, content, protocol)
    if closed is not None:
        closed.add_done_callback(watch)
    elif protocol is not None and hasattr(protocol, "closed"):
        _fail_unfinished_body(content, protocol)
    timer = asyncio.timeout(wait)
    try:
        async with timer:
            return await content.readany()
    except TimeoutError:
        if timer.expired() and not deadline.expired():
            raise IdleTimeout() from None
        raise
    finally:
        if closed is not None:
            closed.remove_done_callback(watch)


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
