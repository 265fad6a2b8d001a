"""Slots: the pool's counting semaphore, with real tasks on a real loop."""

from __future__ import annotations

import asyncio

import pytest

from utcp_http_stream.transport.slots import Held, Slots


def never() -> float:
    raise AssertionError("a free slot must be taken without asking for a wait")


async def test_a_free_slot_is_taken_without_waiting():
    slots = Slots(2)
    assert slots.take_now() and slots.take_now()
    assert not slots.take_now() and slots.locked()
    slots.give()
    await slots.take(never)
    assert slots.free == 0


async def test_a_freed_slot_goes_to_the_oldest_waiter_first():
    slots = Slots(1)
    assert slots.take_now()
    order: list[str] = []

    async def waiter(name: str) -> None:
        await slots.take(lambda: 1.0)
        order.append(name)

    first = asyncio.ensure_future(waiter("first"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(waiter("second"))
    await asyncio.sleep(0)
    assert not slots.take_now()  # no barging past the queue
    slots.give()
    await first
    assert order == ["first"] and not second.done()
    slots.give()
    await second
    assert order == ["first", "second"]
    slots.give()
    assert slots.free == 1 and not slots.locked()


async def test_a_wait_times_out_and_leaves_no_trace():
    slots = Slots(1)
    assert slots.take_now()
    with pytest.raises(TimeoutError):
        await slots.take(lambda: 0.01)
    slots.give()
    assert slots.free == 1 and slots.take_now()


async def test_a_slot_handed_over_as_the_wait_is_cancelled_is_passed_on():
    slots = Slots(1)
    assert slots.take_now()
    waiter = asyncio.ensure_future(slots.take(lambda: 5.0))
    await asyncio.sleep(0)
    slots.give()  # handed to the waiter...
    waiter.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.free == 1  # the slot came back, it was not lost


async def test_held_frees_once():
    slots = Slots(1)
    assert slots.take_now()
    held = Held(slots)
    held.give()
    held()
    assert slots.free == 1
