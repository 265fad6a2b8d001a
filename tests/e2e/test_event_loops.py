"""One client used from several event loops, as agent frameworks do (a
synchronous ``agent(...)`` or a code sandbox runs each tool call through
``asyncio.run`` in a worker thread): every call succeeds, and nothing is left
unclosed, no "Unclosed client session", "Unclosed connector" or unclosed
transport, once the garbage is collected.

The server is uvicorn in its own thread, so it serves whichever loop asks
and outlives every ``asyncio.run`` of the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from utcp.utcp_client import UtcpClient

from tests.support import manual_template
from tests.uvicorn_server import CountingApp, running_uvicorn
from utcp_http_stream.transport import StreamClient


@pytest.fixture
def base() -> Iterator[str]:
    with running_uvicorn(CountingApp()) as url:
        yield url


@contextlib.contextmanager
def nothing_left_unclosed(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail if, by the end of the block and a garbage collection, anything
    warned of an unclosed session, connector, transport or socket, or an
    ERROR was logged (aiohttp reports an unclosed session both ways)."""
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message) or w.category is ResourceWarning]
    assert unclosed == []
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def call_echo(client: UtcpClient, lane: int, calls: int = 2) -> list[dict[str, Any]]:
    return [await client.call_tool("svc.echo", {"body": {"lane": lane, "i": i}}) for i in range(calls)]


def in_new_loop(client: UtcpClient, lane: int, results: list[Any]) -> None:
    """A worker thread's tool call: a fresh event loop via ``asyncio.run``."""
    results.extend(asyncio.run(call_echo(client, lane)))


def sequential_loops(client: UtcpClient, lane: int, results: list[Any], runs: int = 3) -> None:
    """One worker thread that makes its calls in several ``asyncio.run`` in a row."""
    for _ in range(runs):
        in_new_loop(client, lane, results)


async def test_calls_from_worker_threads_leave_nothing_unclosed(base: str, caplog) -> None:
    results: list[Any] = []
    with nothing_left_unclosed(caplog):
        client = await UtcpClient.create()
        registered = await client.register_manual(manual_template(base))
        assert registered.success, registered.errors
        results.extend(await call_echo(client, 0))  # the main loop: the client's home
        threads = [threading.Thread(target=in_new_loop, args=(client, lane, results)) for lane in range(1, 5)]
        threads.append(threading.Thread(target=sequential_loops, args=(client, 5, results)))
        for thread in threads:
            thread.start()
        await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in threads))
        results.extend(await call_echo(client, 6))  # the home loop still works
        await client.close()
    # 2 (home) + 4 threads x 2 + 3 runs x 2 + 2 (home again)
    assert len(results) == 18
    assert all(result["method"] == "POST" for result in results)


def test_a_later_loop_after_the_first_one_ended(base: str, caplog) -> None:
    """The loop that first used the client ends (``asyncio.run`` returned);
    a later ``asyncio.run`` uses the same client and closes it."""

    async def first() -> tuple[UtcpClient, Any]:
        client = await UtcpClient.create()
        registered = await client.register_manual(manual_template(base))
        assert registered.success, registered.errors
        return client, await client.call_tool("svc.echo", {"body": {"run": 1}})

    async def later(client: UtcpClient) -> Any:
        try:
            return await client.call_tool("svc.echo", {"body": {"run": 2}})
        finally:
            await client.close()

    with nothing_left_unclosed(caplog):
        client, one = asyncio.run(first())
        two = asyncio.run(later(client))
    assert one["method"] == two["method"] == "POST"


def test_stream_client_through_three_loops(base: str, caplog) -> None:
    """``StreamClient`` directly: home loop ended, then two more loops, the
    last one closing it."""
    client = StreamClient()
    template = {"url": base + "/echo", "http_method": "POST", "stream_format": "json"}

    async def call(close: bool = False) -> Any:
        try:
            return await client.call(template)
        finally:
            if close:
                await client.close()

    with nothing_left_unclosed(caplog):
        results = [asyncio.run(call()), asyncio.run(call()), asyncio.run(call(close=True))]
    assert [r["method"] for r in results] == ["POST"] * 3
