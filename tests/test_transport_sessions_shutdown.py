"""transport.sessions: every loop's session is closed by the time its loop
ends, whichever loop the client met first (no server needed: a session that
never connected is enough to see it)."""

from __future__ import annotations

import asyncio

import aiohttp

from utcp_http_stream.transport.sessions import LoopPool, SessionPool


def sessions() -> tuple[SessionPool, list[aiohttp.ClientSession]]:
    made: list[aiohttp.ClientSession] = []

    def make(keepalive_ms: int | None = None) -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    return SessionPool(make, 10, 0), made


def test_the_home_loops_session_closes_when_asyncio_run_returns() -> None:
    pool, made = sessions()

    async def use() -> LoopPool:
        entered = await pool.enter()
        await pool.leave(entered)
        return entered

    home = asyncio.run(use())
    assert home.home
    assert made[0].closed  # by the loop's shutdown, not by a later use or close()


def test_a_later_loop_after_the_home_loop_ended_and_close() -> None:
    pool, made = sessions()

    async def use(close: bool = False) -> None:
        entered = await pool.enter()
        await pool.leave(entered)
        if close:
            await pool.close()

    asyncio.run(use())
    asyncio.run(use())
    asyncio.run(use(close=True))
    assert len(made) == 3
    assert all(session.closed for session in made)
    assert not pool.open


async def test_the_home_session_stays_open_between_calls_until_close() -> None:
    pool, made = sessions()
    for _ in range(3):
        entered = await pool.enter()
        await pool.leave(entered)
    assert len(made) == 1 and not made[0].closed  # kept for keep-alive
    await pool.close()
    assert made[0].closed
