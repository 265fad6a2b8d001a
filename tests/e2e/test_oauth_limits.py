"""The OAuth2 token request under the call's limits, against a real token
endpoint on 127.0.0.1: a stalled endpoint fails the call within its own
``timeout`` (and only that call: single flight keeps the fetch going for the
others), a body sent in pieces is read whole, a token that could not be sent
safely is an ``AuthError``, and concurrent calls share one token request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from utcp_http_stream import AuthError, StreamTimeoutError
from utcp_http_stream.transport import StreamClient

SECRET = "s3cret-oauth-limits"


class TokenEndpoint:
    """``/token`` answers with ``body`` (raw JSON text), in ``pieces`` writes
    ``gap_s`` apart, after waiting for ``answer`` (set at once unless a test
    clears it). ``/data`` echoes the bearer it got."""

    def __init__(self) -> None:
        self.requests = 0
        self.answer = asyncio.Event()
        self.answer.set()
        self.body = '{"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600}'
        self.pieces = 1
        self.gap_s = 0.0
        self.token_url = ""
        self.api = ""

    async def token(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.read()
        await self.answer.wait()
        data = self.body.encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # chunked: the client cannot know the length in advance
        size = -(-len(data) // self.pieces)
        for start in range(0, len(data), size):
            if start:
                await asyncio.sleep(self.gap_s)
            await response.write(data[start : start + size])
        await response.write_eof()
        return response

    async def data(self, request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("Authorization")})


@pytest.fixture
async def endpoint(serve: Callable[[web.Application], Any]) -> TokenEndpoint:
    server = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/token", server.token)
    app.router.add_get("/data", server.data)
    base = await serve(app)
    server.token_url = base + "/token"
    server.api = base + "/data"
    yield server
    server.answer.set()  # let a stalled handler finish before the server closes


def oauth(endpoint: TokenEndpoint, **template: Any) -> dict[str, Any]:
    auth = {"auth_type": "oauth2", "token_url": endpoint.token_url, "client_id": "c1", "client_secret": SECRET}
    return {"name": "data", "url": endpoint.api, "stream_format": "json", "auth": auth, **template}


async def test_a_stalled_token_endpoint_fails_the_call_within_its_timeout(endpoint: TokenEndpoint) -> None:
    endpoint.answer.clear()  # never answers (until the test ends)
    async with StreamClient() as client:
        start = time.monotonic()
        with pytest.raises((StreamTimeoutError, AuthError)) as caught:
            await client.call(oauth(endpoint, timeout=2000))
        took = time.monotonic() - start
    print(f"[oauth] stalled token endpoint: the call with timeout=2000 failed after {took:.2f} s: {caught.value}")
    assert took < 2.5
    assert endpoint.token_url in str(caught.value)  # names the token endpoint, not only the tool's URL
    assert SECRET not in str(caught.value)


async def test_an_impatient_caller_does_not_fail_the_others(endpoint: TokenEndpoint) -> None:
    """Single flight: one token request for both calls; the one with the
    short timeout gives up alone, the other gets the token when it comes."""
    endpoint.answer.clear()
    async with StreamClient() as client:
        impatient = asyncio.create_task(client.call(oauth(endpoint, timeout=300)))
        patient = asyncio.create_task(client.call(oauth(endpoint, timeout=10_000)))
        with pytest.raises((StreamTimeoutError, AuthError)) as caught:
            await impatient
        assert endpoint.token_url in str(caught.value)
        assert not patient.done()
        endpoint.answer.set()
        async with asyncio.timeout(5):
            assert await patient == {"auth": "Bearer tok-1"}
    assert endpoint.requests == 1


async def test_a_token_sent_in_pieces_is_read_whole(endpoint: TokenEndpoint) -> None:
    token = "eyJ" + "a" * 1500 + ".sig"  # JWT-sized
    endpoint.body = json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 3600})
    endpoint.pieces = 4
    endpoint.gap_s = 0.1
    async with StreamClient() as client:
        assert await client.call(oauth(endpoint)) == {"auth": "Bearer " + token}
    assert endpoint.requests == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"access_token": "tok\\r\\nX-Injected: 1", "token_type": "bearer"}', "control characters"),
        ('{"access_token": "tok-1", "token_type": "bearer", "expires_in": 1e400}', "expires_in"),
        ('{"access_token": "tok-1", "token_type": "bearer", "expires_in": -1e400}', "expires_in"),
        ('{"access_token": "tok-1", "token_type": "bearer", "expires_in": NaN}', "expires_in"),
    ],
    ids=["crlf", "1e400", "-1e400", "nan"],
)
async def test_a_token_that_cannot_be_used_is_an_auth_error(endpoint: TokenEndpoint, body: str, words: str) -> None:
    endpoint.body = body
    async with StreamClient() as client:
        with pytest.raises(AuthError) as caught:
            await client.call(oauth(endpoint))
    assert words in str(caught.value)
    assert caught.value.__context__ is None
    assert SECRET not in str(caught.value)


async def test_100_concurrent_calls_make_one_token_request(endpoint: TokenEndpoint) -> None:
    endpoint.pieces = 2
    endpoint.gap_s = 0.05  # the calls pile up while the token is on its way
    async with StreamClient() as client:
        results = await asyncio.gather(*(client.call(oauth(endpoint)) for _ in range(100)))
    assert results == [{"auth": "Bearer tok-1"}] * 100
    assert endpoint.requests == 1
