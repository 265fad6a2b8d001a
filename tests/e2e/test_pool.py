"""The connection pool's limit, against a real aiohttp server on 127.0.0.1.

The wait for a free pooled connection is its own phase (``pool``), timed by
``pool_timeout``: a call that cannot get a connection says so and names the
client settings to raise, instead of blaming a server that was never asked.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.support import report
from utcp_http_stream import StreamTimeoutError
from utcp_http_stream.transport import StreamClient

STREAMS = 600
EVENTS = 5
GAP_S = 0.15


class SseServer:
    """``/sse``: ``EVENTS`` events ``GAP_S`` apart; ``/hold``: one event, then
    nothing until ``release`` is set. Counts the streams it serves at once."""

    def __init__(self) -> None:
        self.base = ""
        self.active = 0
        self.most_active = 0
        self.release = asyncio.Event()

    async def sse(self, request: web.Request) -> web.StreamResponse:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for index in range(EVENTS):
                await response.write(f"data: {index}\n\n".encode())
                await asyncio.sleep(GAP_S)
            await response.write_eof()
            return response
        finally:
            self.active -= 1

    async def hold(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await self.release.wait()
        await response.write(b"data: last\n\n")
        await response.write_eof()
        return response


@pytest.fixture
async def sse_server() -> AsyncIterator[SseServer]:
    """The server on its own listening socket, with a backlog deep enough for
    600 connections arriving at once (aiohttp's test server listens with 128)."""
    server = SseServer()
    app = web.Application()
    app.router.add_get("/sse", server.sse)
    app.router.add_get("/hold", server.hold)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=2048)
    await site.start()
    server.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield server
    server.release.set()
    await runner.cleanup()


def sse(base: str, path: str = "/sse") -> dict[str, Any]:
    return {"name": "sse", "url": base + path, "stream_format": "sse"}


async def many_streams(base: str, **settings: Any) -> tuple[list[str], float]:
    """``STREAMS`` concurrent SSE streams on one client: each one's outcome
    (``ok`` or ``timeout:<phase>``) and the time it all took."""
    outcomes: list[str] = []

    async def one(client: StreamClient) -> None:
        try:
            async with client.stream(sse(base)) as response:
                items = [item async for item in response]
            assert items == list(range(EVENTS)), items
            outcomes.append("ok")
        except StreamTimeoutError as exc:
            outcomes.append(f"timeout:{exc.phase}")

    start = time.monotonic()
    async with StreamClient(**settings) as client:
        async with asyncio.timeout(60):
            await asyncio.gather(*(one(client) for _ in range(STREAMS)))
    return outcomes, time.monotonic() - start


async def test_600_concurrent_streams_on_a_512_connection_pool(sse_server: SseServer, record_property) -> None:
    outcomes, elapsed = await many_streams(sse_server.base, max_connections=512)
    succeeded = outcomes.count("ok")
    report(record_property, "pool", "streams", len(outcomes))
    report(record_property, "pool", "succeeded", succeeded)
    report(record_property, "pool", "failed_pool", outcomes.count("timeout:pool"))
    report(record_property, "pool", "server_most_concurrent", sse_server.most_active)
    report(record_property, "pool", "elapsed_s", elapsed)
    assert len(outcomes) == STREAMS
    assert set(outcomes) <= {"ok", "timeout:pool"}  # never connect/idle/total: the server was not slow
    assert sse_server.most_active <= 512  # the pool's limit held
    assert succeeded == STREAMS  # the default pool_timeout (30 s) outlasts two rounds of ~0.75 s streams


async def test_600_streams_with_a_short_pool_timeout_fail_in_the_pool_phase_only(
    sse_server: SseServer, record_property
) -> None:
    """The issue's field case: the streams that could not get one of the 512
    connections in time fail as ``pool`` timeouts, not as a slow server."""
    outcomes, elapsed = await many_streams(sse_server.base, max_connections=512, pool_timeout=300)
    report(record_property, "pool", "short_pool_succeeded", outcomes.count("ok"))
    report(record_property, "pool", "short_pool_failed_pool", outcomes.count("timeout:pool"))
    report(record_property, "pool", "short_pool_elapsed_s", elapsed)
    assert len(outcomes) == STREAMS
    assert set(outcomes) == {"ok", "timeout:pool"}
    assert outcomes.count("ok") >= 512


async def hold_two(client: StreamClient, base: str, opened: list[Any]) -> None:
    """Open two ``/hold`` streams and read their first event: both
    connections of a two-connection pool are now busy."""
    for _ in range(2):
        context = client.stream(sse(base, "/hold"))
        response = await context.__aenter__()
        items = aiter(response)
        opened.append((context, items))
        assert await anext(items) == "first"


async def test_third_stream_on_a_full_pool_fails_in_the_pool_phase(sse_server: SseServer) -> None:
    opened: list[Any] = []
    async with StreamClient(max_connections=2, pool_timeout=300) as client:
        await hold_two(client, sse_server.base, opened)
        start = time.monotonic()
        async with asyncio.timeout(5):
            with pytest.raises(StreamTimeoutError) as caught:
                await client.call(sse(sse_server.base))
        waited = time.monotonic() - start
        sse_server.release.set()
        for context, items in opened:
            assert [item async for item in items] == ["last"]
            await context.__aexit__(None, None, None)
    print(f"[pool] pool_timeout=300 ms failed after {waited * 1000:.0f} ms")
    assert caught.value.phase == "pool"
    assert 0.28 <= waited < 0.6
    message = str(caught.value)
    assert "max_connections" in message and "pool_timeout" in message
    assert "server" not in message.lower() and "connect_timeout" not in message
    assert caught.value.__context__ is None


async def test_third_stream_waits_for_a_free_connection_within_pool_timeout(sse_server: SseServer) -> None:
    opened: list[Any] = []
    async with StreamClient(max_connections=2, pool_timeout=5000) as client:
        await hold_two(client, sse_server.base, opened)
        start = time.monotonic()
        third = asyncio.create_task(client.call(sse(sse_server.base)))
        await asyncio.sleep(0.3)
        assert not third.done()  # waiting for a connection, not failed
        sse_server.release.set()
        for context, items in opened:
            assert [item async for item in items] == ["last"]
            await context.__aexit__(None, None, None)
        async with asyncio.timeout(5):
            result = await third
        waited = time.monotonic() - start
    print(f"[pool] the third stream got a connection and finished after {waited * 1000:.0f} ms")
    assert result is not None
    assert waited >= 0.3
