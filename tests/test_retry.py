import time

import pytest

from utcp_http_stream.retry import Deadline, backoff_seconds, retry_after_seconds
from utcp_http_stream.template import ReconnectPolicy


def test_deadline_zero_means_no_limit():
    d = Deadline(0)
    assert d.remaining() is None and not d.expired()


def test_deadline_counts_down():
    d = Deadline(50)
    assert 0 < d.remaining() <= 0.05
    time.sleep(0.06)
    assert d.expired()


def test_backoff_doubles_with_jitter_and_caps():
    policy = ReconnectPolicy(max_attempts=5, initial_delay_ms=100, max_delay_ms=300)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.3), (5, 0.3)]:
        for _ in range(20):
            assert ceiling / 2 <= backoff_seconds(policy, attempt) <= ceiling


def test_server_retry_wins_but_is_capped():
    policy = ReconnectPolicy(initial_delay_ms=100, max_delay_ms=1000)
    assert backoff_seconds(policy, 3, server_retry_ms=250) == 0.25
    assert backoff_seconds(policy, 0, server_retry_ms=60_000) == 1.0


@pytest.mark.parametrize("value,expected", [("3", 3.0), (" 0 ", 0.0), (None, None), ("soon", None), ("", None)])
def test_retry_after_forms(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date():
    from email.utils import formatdate

    assert 5 <= retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert retry_after_seconds(formatdate(time.time() - 100, usegmt=True)) == 0.0
