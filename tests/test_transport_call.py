"""Call: a call's limits after the client's ceilings and its waits bounded by
the deadline. No server."""

from __future__ import annotations

import pytest

from utcp_http_stream.errors import StreamTimeoutError
from utcp_http_stream.request import PreparedRequest
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.template import StreamableHttpCallTemplate
from utcp_http_stream.transport.call import Call

URL = "http://127.0.0.1:9/stream"


def make_call(settings: ClientSettings | None = None, **fields) -> Call:
    template = StreamableHttpCallTemplate(name="t", url=URL, **fields)
    prepared = PreparedRequest("GET", URL, {}, secrets=("s3cret",))
    # The pool is only carried for the client; none of what is tested here touches it.
    return Call(template, prepared, settings or ClientSettings(), pool=None)  # type: ignore[arg-type]


def expire(call: Call) -> Call:
    call.at = 0.0  # long past on the monotonic clock
    return call


# -- limits after the ceilings --------------------------------------------------------------


def test_template_limits_within_the_ceilings_are_kept():
    call = make_call(timeout=60_000, connect_timeout=2_000, idle_timeout=9_000, max_item_bytes=1000,
                     max_result_bytes=5000)
    limits = call.limits
    assert (limits.connect_ms, limits.idle_s) == (2_000, 9.0)
    assert (limits.max_item_bytes, limits.max_result_bytes) == (1000, 5000)
    assert (limits.idle_ms, limits.idle_from_timeout, limits.timeout_ms) == (9_000, False, 60_000)
    assert call.errors.limits is limits and call.errors.url == URL and call.errors.secrets == ("s3cret",)


def test_template_limits_are_clamped_by_the_ceilings():
    settings = ClientSettings(max_item_bytes_ceiling=100, max_result_bytes_ceiling=200, connect_timeout_ceiling=1_000,
                              idle_timeout_ceiling=3_000)
    call = make_call(settings, connect_timeout=600_000, idle_timeout=10**9, max_item_bytes=10**9,
                     max_result_bytes=10**9)
    limits = call.limits
    assert (limits.connect_ms, limits.idle_s, limits.max_item_bytes, limits.max_result_bytes) == (1_000, 3.0, 100, 200)
    assert (limits.idle_ms, limits.idle_from_timeout) == (3_000, False)


def test_idle_defaults_to_timeout():
    call = make_call(timeout=20_000)
    assert (call.limits.idle_s, call.limits.idle_ms, call.limits.idle_from_timeout) == (20.0, 20_000, True)


def test_idle_is_bounded_even_with_no_timeout():
    call = make_call(ClientSettings(idle_timeout_ceiling=45_000), timeout=0)
    assert (call.limits.idle_s, call.limits.idle_ms, call.limits.idle_from_timeout) == (45.0, 45_000, True)
    assert call.remaining() is None


def test_the_error_map_knows_about_a_client_certificate():
    assert make_call().errors.limits.client_cert is False
    assert make_call(ClientSettings(client_cert="/etc/both.pem")).errors.limits.client_cert is True


# -- waits bounded by the deadline -------------------------------------------------------------


def test_waits_without_a_deadline():
    call = make_call(ClientSettings(pool_timeout=1_500), timeout=0, connect_timeout=2_500)
    assert call.pool_wait() == 1.5 and call.header_wait() == 2.5
    assert call.may_sleep(10**6)


def test_waits_when_the_deadline_is_far():
    call = make_call(ClientSettings(pool_timeout=1_500), timeout=60_000, connect_timeout=2_500)
    assert call.pool_wait() == 1.5 and call.header_wait() == 2.5


def test_waits_are_bounded_by_a_near_deadline():
    call = make_call(ClientSettings(pool_timeout=30_000), timeout=50, connect_timeout=5_000)
    assert 0 < call.pool_wait() <= 0.05
    assert 0 < call.header_wait() <= 0.05
    assert call.may_sleep(0.001) and not call.may_sleep(1.0)


@pytest.mark.parametrize("wait", ["pool_wait", "header_wait"])
def test_waits_after_the_deadline_raise_timeout_error(wait):
    call = expire(make_call(timeout=1_000))
    with pytest.raises(TimeoutError) as info:
        getattr(call, wait)()
    assert not isinstance(info.value, StreamTimeoutError)  # a foreign timeout: the error map words it
    assert not call.may_sleep(0)


@pytest.mark.parametrize("phase", ["pool", "connect"])
def test_an_expired_deadline_reaches_the_caller_as_the_total_limit(phase):
    call = expire(make_call(timeout=1_000))
    call.errors.phase = phase
    with pytest.raises(StreamTimeoutError) as info:
        with call.errors:
            call.pool_wait() if phase == "pool" else call.header_wait()
    assert info.value.phase == "total" and "timeout=1000 ms" in str(info.value)
