"""Connection slots: a counting semaphore whose free path costs one comparison.

``asyncio.Semaphore`` makes every acquire a coroutine and every ``locked()``
a scan of its waiters; a call that finds a free connection slot (the common
case) should pay neither. :class:`Slots` hands a freed slot straight to the
oldest waiter (first come, first served, no barging), so ``free > 0`` never
coexists with a live waiter and :meth:`take_now` needs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

__all__ = ["Held", "Slots"]


class Slots:
    """``limit`` slots; :meth:`take_now` or ``await`` :meth:`take`, then :meth:`give`."""

    __slots__ = ("_waiters", "free")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """True when a taker would have to wait."""
        return self.free <= 0 or bool(self._waiters)

    def take_now(self) -> bool:
        """Take a slot if one is free (no waiting, no coroutine)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self, wait_s: Callable[[], float]) -> None:
        """Take a slot, waiting at most ``wait_s()`` seconds (asked only when
        there is a wait) for one; ``TimeoutError`` after that."""
        if self.take_now():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(wait_s()):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed a slot just as the wait ended: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def give(self) -> None:
        """Free a slot: to the oldest live waiter, else back to the count."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Held:
    """The slots one request holds; :meth:`give` (or calling it) frees them
    once: a second call frees nothing."""

    __slots__ = ("_held",)

    def __init__(self, *held: Slots) -> None:
        self._held: tuple[Slots, ...] = held

    def give(self) -> None:
        held, self._held = self._held, ()
        for slots in held:
            slots.give()

    __call__ = give
