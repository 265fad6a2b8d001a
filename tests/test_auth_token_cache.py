"""The OAuth2 token flow without a network: TokenCache with an injected clock
and a hand-written ``fetch`` coroutine (expiry, single flight, per-waiter
deadlines, invalidation), parse_token's refusals and the token request body."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import math
from typing import Any
from urllib.parse import parse_qs

import pytest
from utcp.data.auth_implementations import OAuth2Auth

from utcp_http_stream.auth import (
    EXPIRY_MARGIN_S,
    MAX_EXPIRES_IN_S,
    CachedToken,
    TokenCache,
    parse_token,
    token_request_body,
)
from utcp_http_stream.errors import AuthError

SECRET = "cs-0123456789"


def oauth(scope: str | None = None, secret: str = SECRET) -> OAuth2Auth:
    return OAuth2Auth(token_url="https://idp.example.org/token", client_id="app", client_secret=secret, scope=scope)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A ``fetch`` coroutine: answers issued in order, optionally held until released."""

    def __init__(self, expires_in: Any = 3600, *, hold: bool = False, fail: BaseException | None = None) -> None:
        self.expires_in = expires_in
        self.calls = 0
        self.fail = fail
        self.gate = asyncio.Event()
        if not hold:
            self.gate.set()
        self.started = asyncio.Event()
        self.finished = 0

    async def __call__(self, auth: OAuth2Auth) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        self.finished += 1
        if self.fail is not None:
            raise self.fail
        answer: dict[str, Any] = {"access_token": f"tok-{self.calls}", "token_type": "bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return answer


# -- TokenCache -------------------------------------------------------------------------


async def test_a_token_is_fetched_once_and_cached():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint()
    assert cache.cached(oauth()) is None
    token = await cache.get(oauth(), endpoint)
    assert token.access_token == "tok-1" and token.header() == "Bearer tok-1"
    assert await cache.get(oauth(), endpoint) is token
    assert cache.cached(oauth()) is token and endpoint.calls == 1


async def test_refresh_before_expiry():
    clock = Clock()
    cache = TokenCache(clock)
    endpoint = TokenEndpoint(expires_in=3600)
    first = await cache.get(oauth(), endpoint)
    assert first.refresh_at == 1000.0 + 3600 - EXPIRY_MARGIN_S
    clock.now += 3600 - EXPIRY_MARGIN_S - 0.001
    assert await cache.get(oauth(), endpoint) is first
    clock.now += 0.001  # still 30 s of life left, but no request may leave with it
    assert cache.cached(oauth()) is None
    second = await cache.get(oauth(), endpoint)
    assert second.access_token == "tok-2" and endpoint.calls == 2


async def test_a_short_lived_token_keeps_half_its_life():
    clock = Clock()
    cache = TokenCache(clock)
    token = await cache.get(oauth(), TokenEndpoint(expires_in=10))
    assert token.refresh_at == 1005.0
    clock.now = 1004.9
    assert cache.cached(oauth()) is token


async def test_a_token_without_expiry_lives_until_invalidated():
    clock = Clock()
    cache = TokenCache(clock)
    endpoint = TokenEndpoint(expires_in=None)
    token = await cache.get(oauth(), endpoint)
    clock.now += 10**9
    assert cache.cached(oauth()) is token
    cache.invalidate(oauth(), token)
    assert cache.cached(oauth()) is None
    assert (await cache.get(oauth(), endpoint)).access_token == "tok-2"


async def test_invalidate_drops_only_the_token_that_was_rejected():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint()
    old = await cache.get(oauth(), endpoint)
    cache.invalidate(oauth(), old)
    new = await cache.get(oauth(), endpoint)
    cache.invalidate(oauth(), old)  # a late rejection of the old token: the new one stays
    assert cache.cached(oauth()) is new
    cache.invalidate(oauth(scope="other"), new)  # another configuration: nothing to drop
    assert cache.cached(oauth()) is new


async def test_configurations_get_their_own_tokens():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint()
    plain = await cache.get(oauth(), endpoint)
    scoped = await cache.get(oauth(scope="read"), endpoint)
    other_secret = await cache.get(oauth(secret="cs-other"), endpoint)
    assert len({plain.access_token, scoped.access_token, other_secret.access_token}) == 3
    assert repr(cache) == "<TokenCache tokens=3>" and SECRET not in repr(cache)
    cache.clear()
    assert cache.cached(oauth()) is None


async def test_single_flight_for_concurrent_callers():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True)
    waiters = [asyncio.ensure_future(cache.get(oauth(), endpoint)) for _ in range(10)]
    await endpoint.started.wait()
    endpoint.gate.set()
    tokens = await asyncio.gather(*waiters)
    assert endpoint.calls == 1 and all(token is tokens[0] for token in tokens)


async def test_an_impatient_waiter_gives_up_alone():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True)
    patient = asyncio.ensure_future(cache.get(oauth(), endpoint, wait_s=5.0))
    await endpoint.started.wait()
    with pytest.raises(TimeoutError):
        await cache.get(oauth(), endpoint, wait_s=0.01)
    assert not patient.done()
    endpoint.gate.set()
    token = await patient
    assert token.access_token == "tok-1" and endpoint.calls == 1 and endpoint.finished == 1


async def test_a_cancelled_waiter_does_not_cancel_the_fetch():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True)
    first = asyncio.ensure_future(cache.get(oauth(), endpoint))
    second = asyncio.ensure_future(cache.get(oauth(), endpoint))
    await endpoint.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    endpoint.gate.set()
    assert (await second).access_token == "tok-1"


async def test_the_fetch_goes_on_when_every_waiter_gave_up():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True)
    with pytest.raises(TimeoutError):
        await cache.get(oauth(), endpoint, wait_s=0.01)
    endpoint.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    token = cache.cached(oauth())
    assert token is not None and token.access_token == "tok-1" and endpoint.calls == 1


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True, fail=AuthError("token endpoint refused client 'app': HTTP 401"))
    waiters = [asyncio.ensure_future(cache.get(oauth(), endpoint)) for _ in range(3)]
    await endpoint.started.wait()
    endpoint.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results) and endpoint.calls == 1
    endpoint.fail = None
    assert (await cache.get(oauth(), endpoint)).access_token == "tok-2"


async def test_a_failure_nobody_waits_for_is_not_logged(caplog):
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint(hold=True, fail=AuthError("refused"))
    with pytest.raises(TimeoutError):
        await cache.get(oauth(), endpoint, wait_s=0.01)
    endpoint.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_bad_answer_is_an_auth_error_for_the_waiter():
    cache = TokenCache(Clock())
    with pytest.raises(AuthError, match="expires_in"):
        await cache.get(oauth(), TokenEndpoint(expires_in=-1))
    assert cache.cached(oauth()) is None


async def test_tokens_are_shared_across_event_loops():
    cache = TokenCache(Clock())
    endpoint = TokenEndpoint()

    async def worker() -> CachedToken:
        return await cache.get(oauth(), endpoint)

    token = await asyncio.to_thread(asyncio.run, worker())
    assert await cache.get(oauth(), endpoint) is token and endpoint.calls == 1


# -- parse_token -----------------------------------------------------------------------------


def test_a_full_answer():
    token = parse_token({"access_token": "abc.DEF-1_~+/=", "token_type": "Bearer", "expires_in": 120}, 50.0)
    assert (token.access_token, token.token_type, token.refresh_at) == ("abc.DEF-1_~+/=", "Bearer", 50 + 120 - 30)
    assert "abc" not in repr(token)


@pytest.mark.parametrize(("token_type", "header"), [(None, "Bearer t"), ("", "Bearer t"), ("bearer", "Bearer t"),
                                                    ("BEARER", "Bearer t"), ("DPoP", "DPoP t"), (7, "Bearer t")])
def test_token_types(token_type, header):
    payload = {"access_token": "t"}
    if token_type is not None:
        payload["token_type"] = token_type
    assert parse_token(payload, 0).header() == header


@pytest.mark.parametrize("payload", [None, [], "tok", 7, {}, {"access_token": ""}, {"access_token": 5},
                                     {"access_token": None}])
def test_no_usable_access_token(payload):
    with pytest.raises(AuthError, match=r"JSON object|without an access_token"):
        parse_token(payload, 0)


@pytest.mark.parametrize("access", ["abc\r\nX-Injected: 1", "abc\n", "\rabc", "a\x00b", "a\tb", " abc", "abc ",
                                    "abc def", "abc\x7f", "a\u2028b"])
def test_an_access_token_that_cannot_go_in_a_header(access):
    with pytest.raises(AuthError, match="control characters or spaces") as info:
        parse_token({"access_token": access}, 0)
    assert access not in str(info.value)


@pytest.mark.parametrize("token_type", ["Bearer\r\nX: 1", "Bear er", "Béarer", "\x00"])
def test_a_token_type_that_cannot_go_in_a_header(token_type):
    with pytest.raises(AuthError, match="token_type"):
        parse_token({"access_token": "t", "token_type": token_type}, 0)


@pytest.mark.parametrize(
    ("expires_in", "refresh_at"),
    [(None, None), (0, 100.0), (1, 100.5), (60, 130.0), (3600.5, 100 + 3570.5), ("3600", 100 + 3570.0),
     (" 90 ", 100 + 60.0), (MAX_EXPIRES_IN_S, 100 + MAX_EXPIRES_IN_S - 30)],
)
def test_expires_in_forms(expires_in, refresh_at):
    payload = {"access_token": "t"}
    if expires_in is not None:
        payload["expires_in"] = expires_in
    assert parse_token(payload, 100.0).refresh_at == refresh_at


@pytest.mark.parametrize(
    "expires_in",
    [True, False, "soon", "", "-5", "1e3", "3600s", "²", "٣", "9" * 5000, [3600], {"s": 1}, -1, -0.5,
     math.inf, -math.inf, math.nan, MAX_EXPIRES_IN_S + 1, 10**400],
)
def test_an_absurd_expires_in_is_an_auth_error(expires_in):
    with pytest.raises(AuthError, match="expires_in=") as info:
        parse_token({"access_token": "t", "expires_in": expires_in}, 0)
    assert len(str(info.value)) < 300


# -- token_request_body ------------------------------------------------------------------------


def test_credentials_in_the_form_body():
    headers, body = token_request_body(oauth(scope="read write"), basic=False)
    assert headers == {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    assert parse_qs(body.decode("ascii"), strict_parsing=True) == {
        "grant_type": ["client_credentials"], "client_id": ["app"], "client_secret": [SECRET],
        "scope": ["read write"]}


def test_credentials_in_basic():
    auth = OAuth2Auth(token_url="https://idp.example.org/token", client_id="a:b", client_secret="p&q=r")
    headers, body = token_request_body(auth, basic=True)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"a:b:p&q=r").decode()
    assert parse_qs(body.decode("ascii")) == {"grant_type": ["client_credentials"]}
    assert b"p&q" not in body and b"p%26q" not in body


def test_special_characters_in_the_form_are_encoded():
    auth = OAuth2Auth(token_url="https://idp.example.org/token", client_id="a b", client_secret="p&q=r+s")
    _, body = token_request_body(auth, basic=False)
    form = parse_qs(body.decode("ascii"))
    assert form["client_id"] == ["a b"] and form["client_secret"] == ["p&q=r+s"] and "scope" not in form
