"""WaitTimer: one loop timer for many header waits, with real tasks."""

from __future__ import annotations

import asyncio

import pytest

from utcp_http_stream.transport.wait_timer import WaitTimer


async def test_a_wait_that_ends_in_time_raises_nothing_and_is_forgotten():
    timer = WaitTimer(asyncio.get_running_loop())
    with timer.wait(1.0):
        await asyncio.sleep(0.001)
    assert len(timer) == 0


async def test_a_wait_past_its_time_raises_timeout_error():
    timer = WaitTimer(asyncio.get_running_loop())
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        with timer.wait(0.02):
            await asyncio.sleep(5)
    assert 0.015 <= loop.time() - start < 1.0
    assert asyncio.current_task().cancelling() == 0  # the cancellation was taken back
    await asyncio.sleep(0)  # and nothing is left pending for this task


async def test_waits_of_many_tasks_share_one_timer_and_each_ends_at_its_own_time():
    timer = WaitTimer(asyncio.get_running_loop())
    ended: dict[float, str] = {}

    async def one(seconds: float, sleep: float) -> None:
        try:
            with timer.wait(seconds):
                await asyncio.sleep(sleep)
            ended[seconds] = "in time"
        except TimeoutError:
            ended[seconds] = "timeout"

    await asyncio.gather(one(0.05, 0.0), one(0.02, 1.0), one(0.2, 0.01), one(0.04, 1.0), one(5.0, 0.1))
    assert ended == {0.05: "in time", 0.02: "timeout", 0.2: "in time", 0.04: "timeout", 5.0: "in time"}
    assert len(timer) == 0


async def test_an_earlier_wait_rearms_the_timer():
    timer = WaitTimer(asyncio.get_running_loop())

    async def long() -> None:
        with timer.wait(10.0):
            await asyncio.sleep(0.3)

    task = asyncio.ensure_future(long())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        with timer.wait(0.02):
            await asyncio.sleep(5)
    assert loop.time() - start < 0.25  # not held back by the 10 s wait
    await task
    timer.close()


async def test_an_outside_cancellation_stays_a_cancellation():
    timer = WaitTimer(asyncio.get_running_loop())

    async def waits() -> None:
        with timer.wait(5.0):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(timer) == 0


async def test_a_cancellation_racing_the_timeout_stays_a_cancellation():
    loop = asyncio.get_running_loop()
    timer = WaitTimer(loop)
    armed = asyncio.Event()

    async def waits() -> None:
        with timer.wait(0.02) as wait:
            # Someone else cancels this task in the same loop turn as the
            # timer fires, before the task resumes: as with asyncio.timeout,
            # that cancellation wins and is not turned into a TimeoutError.
            loop.call_at(wait.when, task.cancel)
            armed.set()
            await asyncio.sleep(5)

    task = asyncio.ensure_future(waits())
    await armed.wait()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(timer) == 0
