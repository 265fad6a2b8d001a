"""The client's connection pools: one ``aiohttp.ClientSession`` per event loop.

Agent frameworks call tools through ``asyncio.run`` in worker threads, so a
client meets several loops. The loop that first used the client keeps its
pool until ``close()``; a session opened on any other loop is closed as soon
as that loop has no call in flight, so nothing is left behind when a worker's
loop ends. A home loop that has itself ended (``asyncio.run`` returned) is
let go at the next use, whatever the loop, without a warning: every session
is also closed by its loop's shutdown (``asyncio.run`` ending), so no socket
outlives the loop that opened it.

The pool's limit is enforced here with one set of :class:`Slots` per loop (and one per
origin when ``max_connections_per_host`` is set) rather than by aiohttp's
connector, so that the wait for a free connection is timed as its own phase
(``pool``) instead of being blamed on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable

import aiohttp

from utcp_http_stream.security import Origin, origin_of
from utcp_http_stream.transport.slots import Held, Slots
from utcp_http_stream.transport.wait_timer import WaitTimer

__all__ = ["LoopPool", "MakeSession", "SessionPool"]

logger = logging.getLogger(__name__)


#: ``make(keepalive_ms)``: a new session whose idle connections expire after
#: ``keepalive_ms`` (None: the client's ``keepalive_expiry``).
MakeSession = Callable[[int | None], aiohttp.ClientSession]


class LoopPool:
    """One loop's session, its connection slots and its calls in flight.

    Calls to a server that announced a keep-alive timeout shorter than the
    client's ``keepalive_expiry`` go through a session of this loop whose
    connections expire sooner (:meth:`session_expiring`; see
    :mod:`~utcp_http_stream.transport.keepalive`). The slots are the pool's,
    whichever session a call goes through."""

    __slots__ = (
        "_closer", "_make", "_per_host", "_shorter", "calls", "home", "limit", "loop", "per_host_limit", "session",
        "slots", "timer",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, make: MakeSession, limit: int, per_host: int,
                 home: bool) -> None:
        self.loop = loop
        self._make = make
        self.session = make(None)
        self._shorter: dict[int, aiohttp.ClientSession] = {}
        self.home = home
        self.calls = 0
        self.limit = limit
        self.per_host_limit = per_host
        self.slots = Slots(limit) if limit else None
        self._per_host: dict[Origin, Slots] = {}
        self._closer: AsyncGenerator[None, None] | None = None
        #: The header waits of this loop's calls, on one loop timer.
        self.timer = WaitTimer(loop)

    async def close_with_loop(self) -> None:
        """Have the pool closed when its loop shuts down (call on that loop)."""
        self._closer = _closed_with_loop(self)
        await anext(self._closer)

    def session_expiring(self, keepalive_ms: int) -> aiohttp.ClientSession:
        """This loop's session whose idle connections expire after ``keepalive_ms``."""
        session = self._shorter.get(keepalive_ms)
        if session is None:
            session = self._shorter[keepalive_ms] = self._make(keepalive_ms)
        return session

    async def close(self) -> None:
        """Stop the header-wait timer and close the sessions (on the pool's loop)."""
        self.timer.close()
        shorter = list(self._shorter.values())
        self._shorter.clear()
        for session in (self.session, *shorter):
            await session.close()

    def acquire_now(self) -> Slots | Held | None:
        """What one request holds, if it is free right now (the common case:
        no coroutine, no timer, nothing allocated), else None (then
        :meth:`acquire`). Free it with its ``give()``, once."""
        slots = self.slots
        if self.per_host_limit:
            return None
        if slots is None:
            return NOTHING_HELD
        return slots if slots.take_now() else None

    async def acquire(self, url: str, wait_s: Callable[[], float]) -> Held:
        """Wait for a free connection slot (the ``pool`` phase), at most
        ``wait_s()`` seconds (asked only when there is a wait); returns the
        :class:`Held` that frees it (safe to call more than once)."""
        held: list[Slots] = []
        try:
            if self.slots is not None:
                await self.slots.take(wait_s)
                held.append(self.slots)
            if self.per_host_limit:
                origin = origin_of(url)
                host = self._per_host.get(origin)
                if host is None:
                    host = self._per_host[origin] = Slots(self.per_host_limit)
                await host.take(wait_s)
                held.append(host)
        except BaseException:
            for slots in held:
                slots.give()
            raise
        return Held(*held)


async def _closed_with_loop(pool: LoopPool) -> AsyncGenerator[None, None]:
    """Parked at its ``yield`` while its loop runs. ``asyncio.run`` (like any
    runner) calls the loop's ``shutdown_asyncgens()`` before closing the loop,
    which resumes it here: the pool closes its pooled connections while the
    loop can still close them. Without it, a home loop that ends leaves its
    idle sockets open until garbage collection ("unclosed transport")."""
    try:
        yield
    finally:
        await pool.close()


#: What a request holds when the pool has no limit (freeing it frees nothing).
NOTHING_HELD = Held()


class SessionPool:
    """The sessions of one client, one per event loop that uses it."""

    __slots__ = ("_home", "_home_chosen", "_make", "_others", "limit", "per_host")

    def __init__(self, make: MakeSession, limit: int, per_host: int) -> None:
        self._make = make
        self.limit = limit
        self.per_host = per_host
        self._home: LoopPool | None = None
        self._others: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        #: A home loop was chosen once (it may have ended since).
        self._home_chosen = False

    @property
    def open(self) -> bool:
        return self._home is not None or bool(self._others)

    def enter_home(self) -> LoopPool | None:
        """The running loop's pool if it is the home loop's (the common case,
        no coroutine), counted as one more call in flight; else None (then
        :meth:`enter`)."""
        home = self._home
        if home is not None and home.loop is asyncio.get_running_loop():
            home.calls += 1
            return home
        return None

    async def enter(self) -> LoopPool:
        """The running loop's pool, counted as one more call in flight."""
        loop = asyncio.get_running_loop()
        home = self._home
        if home is not None and home.loop is loop:
            pool = home
        else:
            if home is not None and home.loop.is_closed():
                # The loop that first used the client has ended (an
                # ``asyncio.run`` returned): its connections died with it.
                # Let its session go quietly; the client has no home loop
                # any more, so every later loop's session is closed when
                # its calls are done.
                self._home = None
                await _close_dead(home)
            pool = self._others.get(loop)
            if pool is None:
                make_home = not self._home_chosen and self._home is None
                pool = LoopPool(loop, self._make, self.limit, self.per_host, home=make_home)
                if make_home:
                    self._home = pool
                else:
                    self._others[loop] = pool
                self._home_chosen = True
                await pool.close_with_loop()
        pool.calls += 1
        return pool

    def leave_now(self, pool: LoopPool) -> bool:
        """One call on ``pool`` is over. False when a foreign loop's session
        is now idle: then ``await`` :meth:`close_idle` (the common case is
        True, and no coroutine)."""
        pool.calls -= 1
        return pool.home or pool.calls > 0

    async def leave(self, pool: LoopPool) -> None:
        """One call on ``pool`` is over; a foreign loop's idle session closes."""
        if not self.leave_now(pool):
            await self.close_idle(pool)

    async def close_idle(self, pool: LoopPool) -> None:
        """Close a foreign loop's session that has no call in flight."""
        if pool.home or pool.calls > 0:
            return
        if self._others.get(pool.loop) is pool:
            del self._others[pool.loop]
        await pool.close()

    async def close(self) -> None:
        """Close every session: the current loop's directly, one on another
        live loop through that loop, one whose loop has ended quietly."""
        pools = [p for p in (self._home, *self._others.values()) if p is not None]
        self._home = None
        self._others.clear()
        self._home_chosen = False
        current = asyncio.get_running_loop()
        for pool in pools:
            if pool.loop is current:
                await pool.close()
            elif pool.loop.is_running():
                future = asyncio.run_coroutine_threadsafe(pool.close(), pool.loop)
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(future)
            else:
                await _close_dead(pool)


async def _close_dead(pool: LoopPool | None) -> None:
    """Mark a session whose loop has ended as closed (its sockets went with
    the loop), so that it is not reported as unclosed."""
    if pool is None:
        return
    try:
        await pool.close()
    except Exception as exc:  # its transports belong to a closed loop
        logger.debug("session of an ended event loop could not close cleanly: %r", exc)
