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
        # The timer's loop is the running one: given, current_task() skips
        # get_running_loop(), whose process-id check is a system call in 3.11.
        task = asyncio.current_task(self._timer.loop)
        if task is None:
            raise RuntimeError("a timed wait must run inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        timer = self._timer
        timer.waits.add(self)
        if self.when < timer.armed_for:
            timer.arm(self.when)
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self._timer.waits.discard(self)
        if self.expired and self._task is not None:
            if self._task.uncancel() <= self._cancelling and typ is asyncio.CancelledError:
                raise TimeoutError from exc

    def expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()


class WaitTimer:
    """The timed waits of one event loop, and the one timer behind them."""

    __slots__ = ("_handle", "armed_for", "loop", "waits")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: The waits in progress (a :class:`TimedWait` adds and removes itself).
        self.waits: set[TimedWait] = set()
        self._handle: asyncio.TimerHandle | None = None
        #: When the loop timer fires (infinity: not armed).
        self.armed_for = math.inf

    def wait(self, seconds: float) -> TimedWait:
        """A wait that ends with ``TimeoutError`` after ``seconds``."""
        return TimedWait(self, self.loop.time() + seconds)

    def __len__(self) -> int:
        return len(self.waits)

    def arm(self, when: float) -> None:
        """Have the loop timer fire at ``when`` (sooner than it was armed for)."""
        if self._handle is not None:
            self._handle.cancel()
        self.armed_for = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        # The loop runs a timer up to its clock resolution early: every wait
        # due by the time this one was armed for is due now.
        now = max(self.loop.time(), self.armed_for)
        self._handle = None
        self.armed_for = math.inf
        earliest = math.inf
        for wait in list(self.waits):
            if wait.when <= now:
                self.waits.discard(wait)
                wait.expire()
            elif wait.when < earliest:
                earliest = wait.when
        if earliest != math.inf:
            self.arm(earliest)

    def close(self) -> None:
        """Stop the timer (the loop's pool is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.armed_for = math.inf
