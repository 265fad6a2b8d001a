"""Time budgets and retry policy. Pure: no I/O.

One ``Deadline`` spans every attempt of a call, so reconnecting never extends
the ``timeout`` a caller set. Backoff doubles per attempt with jitter (so a
crowd of clients does not reconnect in lockstep), and a server's own pacing
(SSE ``retry``, ``Retry-After``) wins, capped by ``max_delay_ms``.
"""

from __future__ import annotations

import email.utils
import random
import time

from utcp_http_stream.template import ReconnectPolicy

__all__ = ["RETRYABLE_STATUS", "Deadline", "backoff_seconds", "retry_after_seconds"]

#: Statuses worth another attempt when a reconnect policy is set; every other
#: 4xx means the request itself is wrong and is never retried.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class Deadline:
    """The whole-call time budget shared by every attempt of one call."""

    __slots__ = ("at", "ms")

    #: A deadline counts as passed this many seconds early (the loop's timers
    #: fire up to their clock resolution early).
    SLACK_S = 0.001

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.at = (time.monotonic() + ms / 1000) if ms else None

    def remaining(self) -> float | None:
        if self.at is None:
            return None
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at - self.SLACK_S


def backoff_seconds(policy: ReconnectPolicy, attempt: int, server_retry_ms: int | None = None) -> float:
    """The pause before reconnection number ``attempt + 1``.

    The server's SSE ``retry`` value when it sent one (capped by
    ``max_delay_ms``), else ``initial_delay_ms * 2**attempt`` capped, with
    jitter in its upper half.
    """
    if server_retry_ms is not None:
        return min(server_retry_ms, policy.max_delay_ms) / 1000
    base = min(policy.max_delay_ms, policy.initial_delay_ms * (2**attempt)) / 1000
    return random.uniform(base / 2, base)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (delta-seconds or HTTP date) in seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    return _seconds_until(value)


def _seconds_until(date: str) -> float | None:
    """The seconds from now until an HTTP date (0 once it is past), or None
    when ``date`` is no date."""
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
