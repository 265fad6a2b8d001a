"""One timer per event loop for every call's header wait.

``asyncio.timeout()`` arms and cancels a loop timer per use (a heap push,
a handle, a context copy); the header wait of every request paid for one,
though it almost never fires. :class:`WaitTimer` keeps the waits of one
loop in a set and a single loop timer at the earliest deadline: a wait that
ends sooner than that (nearly all of them) costs a set add and discard.
When the timer fires, each wait past its deadline has its task cancelled and
the cancellation becomes ``TimeoutError`` when the wait ends, exactly as
``asyncio.timeout()`` does (an outside cancellation stays a cancellation).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

__all__ = ["TimedWait", "WaitTimer"]


class TimedWait:
    """``with timer.wait(seconds):`` around one await of the current task."""

    __slots__ = ("_cancelling", "_task", "_timer", "expired", "when")

    def __init__(self, timer: WaitTimer, when: float) -> None:
        self._timer = timer
        self.when = when
        self.expired = False
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0

    def __enter__(self) -> TimedWait:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timed wait must run inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._timer.add(self)
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self._timer.discard(self)
        if self.expired and self._task is not None:
            if self._task.uncancel() <= self._cancelling and typ is asyncio.CancelledError:
                raise TimeoutError from exc

    def expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()


class WaitTimer:
    """The timed waits of one event loop, and the one timer behind them."""

    __slots__ = ("_at", "_handle", "_loop", "_waits")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waits: set[TimedWait] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf

    def wait(self, seconds: float) -> TimedWait:
        """A wait that ends with ``TimeoutError`` after ``seconds``."""
        return TimedWait(self, self._loop.time() + seconds)

    def __len__(self) -> int:
        return len(self._waits)

    def add(self, wait: TimedWait) -> None:
        self._waits.add(wait)
        if wait.when < self._at:
            self._arm(wait.when)

    def discard(self, wait: TimedWait) -> None:
        self._waits.discard(wait)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        # The loop runs a timer up to its clock resolution early: every wait
        # due by the time this one was armed for is due now.
        now = max(self._loop.time(), self._at)
        self._handle = None
        self._at = math.inf
        earliest = math.inf
        for wait in list(self._waits):
            if wait.when <= now:
                self._waits.discard(wait)
                wait.expire()
            elif wait.when < earliest:
                earliest = wait.when
        if earliest != math.inf:
            self._arm(earliest)

    def close(self) -> None:
        """Stop the timer (the loop's pool is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = math.inf
