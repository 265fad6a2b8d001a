"""SessionPool and LoopPool with real aiohttp sessions and real event loops
(worker threads running ``asyncio.run``, as agent frameworks do), no network:
which loop keeps its session, when the others are closed, and the pool's
connection slots."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from utcp_http_stream.transport.sessions import LoopPool, SessionPool

ORIGIN_A = "http://127.0.0.1:8001"
ORIGIN_B = "http://127.0.0.1:8002"


class Made:
    """The sessions a SessionPool made, to check they end closed."""

    def __init__(self) -> None:
        self.sessions: list[aiohttp.ClientSession] = []

    def __call__(self, keepalive_ms: int | None = None) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession()
        self.sessions.append(session)
        return session


@pytest.fixture
def made() -> Iterator[Made]:
    made = Made()
    yield made
    assert all(session.closed for session in made.sessions), "a session was left open"


def pool_of(made: Made, limit: int = 0, per_host: int = 0) -> SessionPool:
    return SessionPool(made, limit, per_host)


class LoopThread:
    """An event loop running in another thread until stopped."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def run(self, coro):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def in_worker(coro_fn: Callable[[], object]):
    """Run ``coro_fn()`` in a worker thread's own ``asyncio.run``."""
    return await asyncio.to_thread(asyncio.run, coro_fn())


# -- SessionPool ---------------------------------------------------------------------------


async def test_the_first_loop_is_home_and_keeps_its_session(made):
    sessions = pool_of(made)
    assert not sessions.open
    pool = await sessions.enter()
    assert pool.home and pool.calls == 1 and pool.loop is asyncio.get_running_loop()
    await sessions.leave(pool)
    assert pool.calls == 0 and not pool.session.closed and sessions.open
    again = await sessions.enter()
    assert again is pool and len(made.sessions) == 1
    await sessions.leave(again)
    await sessions.close()
    assert pool.session.closed and not sessions.open


async def test_another_loops_session_closes_when_its_calls_are_done(made):
    sessions = pool_of(made)
    home = await sessions.enter()

    async def worker():
        first = await sessions.enter()
        second = await sessions.enter()
        assert first is second and not first.home and first.calls == 2
        await sessions.leave(first)
        still_open = not first.session.closed
        await sessions.leave(second)
        return first, still_open

    foreign, still_open = await in_worker(worker)
    assert still_open and foreign.session.closed and foreign.session is not home.session
    assert not home.session.closed
    await sessions.leave(home)
    await sessions.close()


async def test_each_worker_loop_gets_a_new_session(made):
    sessions = pool_of(made)
    home = await sessions.enter()

    async def worker():
        pool = await sessions.enter()
        await sessions.leave(pool)
        return pool

    first = await in_worker(worker)
    second = await in_worker(worker)
    assert first is not second and first.session.closed and second.session.closed
    assert len(made.sessions) == 3
    await sessions.leave(home)
    await sessions.close()


async def test_an_ended_home_loop_is_let_go_quietly(made, recwarn):
    sessions = pool_of(made)

    async def first_use():
        pool = await sessions.enter()
        await sessions.leave(pool)
        return pool

    old_home = await in_worker(first_use)  # asyncio.run returned: that loop is closed
    # The ended loop's shutdown already closed its session (asyncio.run finalizes async generators).
    assert old_home.home and old_home.loop.is_closed() and old_home.session.closed

    pool = await sessions.enter()
    assert old_home.session.closed
    # The client has no home loop any more: this loop's session closes when its calls are done.
    assert not pool.home
    await sessions.leave(pool)
    assert pool.session.closed and not sessions.open
    await sessions.close()
    assert not [w for w in recwarn if "Unclosed" in str(w.message)]


async def test_close_from_another_loop_closes_through_the_owning_loop(made):
    sessions = pool_of(made)
    other = LoopThread()
    try:
        home = await other.run(sessions.enter())
        await other.run(sessions.leave(home))
        assert home.home and home.loop is other.loop
        await sessions.close()  # from this loop: the session is closed on its own loop
        assert home.session.closed and not sessions.open
    finally:
        other.stop()


async def test_close_lets_go_of_sessions_of_ended_loops(made):
    sessions = pool_of(made)
    home = await sessions.enter()

    async def abandoned_call():
        return await sessions.enter()  # never left: its loop ends with a call in flight

    foreign = await in_worker(abandoned_call)
    assert foreign.loop.is_closed() and foreign.calls == 1  # its session closed with its loop
    await sessions.leave(home)
    await sessions.close()
    assert foreign.session.closed and home.session.closed


async def test_the_pool_opens_again_after_close(made):
    sessions = pool_of(made)
    first = await sessions.enter()
    await sessions.leave(first)
    await sessions.close()
    second = await sessions.enter()
    assert second is not first and second.home and not second.session.closed
    await sessions.leave(second)
    await sessions.close()


# -- LoopPool.acquire ------------------------------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    session = aiohttp.ClientSession()
    yield session
    await session.close()


def loop_pool(session: aiohttp.ClientSession, limit: int = 0, per_host: int = 0) -> LoopPool:
    return LoopPool(asyncio.get_running_loop(), lambda _keepalive_ms: session, limit, per_host, home=True)


class Waits:
    """``wait_s`` for acquire, counting how often a wait was needed."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.asked = 0

    def __call__(self) -> float:
        self.asked += 1
        return self.seconds


async def test_no_limit_means_no_waiting(session):
    pool = loop_pool(session)
    waits = Waits()
    releases = [await pool.acquire(ORIGIN_A, waits) for _ in range(100)]
    assert waits.asked == 0 and pool.slots is None
    for release in releases:
        release()


async def test_the_limit_makes_the_next_caller_wait_and_time_out(session):
    pool = loop_pool(session, limit=2)
    waits = Waits(0.02)
    first = await pool.acquire(ORIGIN_A, waits)
    second = await pool.acquire(ORIGIN_B, waits)
    assert waits.asked == 0  # a free slot is taken without a timer
    with pytest.raises(TimeoutError):
        await pool.acquire(ORIGIN_A, waits)
    assert waits.asked == 1
    first()
    third = await pool.acquire(ORIGIN_A, waits)
    second()
    third()
    assert not pool.slots.locked()


async def test_a_released_slot_wakes_a_waiter(session):
    pool = loop_pool(session, limit=1)
    first = await pool.acquire(ORIGIN_A, Waits(1.0))
    waiter = asyncio.ensure_future(pool.acquire(ORIGIN_A, Waits(1.0)))
    await asyncio.sleep(0)
    assert not waiter.done()
    first()
    release = await asyncio.wait_for(waiter, 1.0)
    release()


async def test_release_is_idempotent(session):
    pool = loop_pool(session, limit=1, per_host=1)
    release = await pool.acquire(ORIGIN_A, Waits())
    release()
    release()
    release()
    again = await pool.acquire(ORIGIN_A, Waits())
    assert pool.slots.locked()  # one slot, held: the extra releases freed nothing
    with pytest.raises(TimeoutError):
        await pool.acquire(ORIGIN_A, Waits(0.01))
    again()


async def test_per_host_limit_is_per_origin(session):
    pool = loop_pool(session, per_host=1)
    a = await pool.acquire(ORIGIN_A, Waits())
    b = await pool.acquire(ORIGIN_B, Waits())
    with pytest.raises(TimeoutError):
        await pool.acquire(ORIGIN_A, Waits(0.01))
    a()
    a_again = await pool.acquire(ORIGIN_A, Waits())
    a_again()
    b()


async def test_a_failed_per_host_wait_gives_the_pool_slot_back(session):
    pool = loop_pool(session, limit=2, per_host=1)
    a = await pool.acquire(ORIGIN_A, Waits())
    with pytest.raises(TimeoutError):
        await pool.acquire(ORIGIN_A, Waits(0.01))  # took a pool slot, then waited for the host
    assert not pool.slots.locked()
    b = await pool.acquire(ORIGIN_B, Waits(0.01))  # the second pool slot is free again
    a()
    b()


async def test_a_cancelled_wait_gives_its_slots_back(session):
    pool = loop_pool(session, limit=2, per_host=1)
    a = await pool.acquire(ORIGIN_A, Waits())
    waiter = asyncio.ensure_future(pool.acquire(ORIGIN_A, Waits(5.0)))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not pool.slots.locked()
    a()
    b = await pool.acquire(ORIGIN_A, Waits(0.01))
    c = await pool.acquire(ORIGIN_B, Waits(0.01))
    assert pool.slots.locked()
    b()
    c()
