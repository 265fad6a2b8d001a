"""Keep-alive races (RFC 9112 section 9.3.1) against real servers.

uvicorn with a 1 s keep-alive, called by 16 lanes that idle 0.7-1.1 s between
calls: the client's ``keepalive_expiry`` below the server's timeout keeps
POST calls off connections the server is about to close, and GET calls with
the default expiry (longer than the server's) still all succeed, with no
ERROR record (the conftest fails a test on one). A hand-written server then
closes a reused connection right after reading a request, to check the resend
rule exactly: once, on a fresh connection, only for what may be repeated.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.node_server import NODE, running_node
from tests.raw_http_server import running_raw_server
from tests.support import report
from tests.uvicorn_server import CountingApp, running_uvicorn
from utcp_http_stream import StreamInterruptedError
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.transport import StreamClient

LANES = 16
POST_CALLS = 300
#: fewer than the POST sweep's, to keep this file's time down; every lane still
#: reuses connections across uvicorn's 1 s close many times
GET_CALLS = 80
#: calls whose pauses end right at the server's close
RACE_CALLS = 64


@pytest.fixture
def uvicorn_1s() -> Iterator[tuple[str, CountingApp]]:
    """uvicorn whose keep-alive timeout is 1 s (the default is 5 s)."""
    app = CountingApp()
    with running_uvicorn(app, timeout_keep_alive=1) as base:
        yield base, app


Outcome = tuple[int, str | None]  # (lane, None or the failure "Type: message")


async def sweep(
    settings: dict[str, Any],
    template: Callable[[int], dict[str, Any]],
    calls: int,
    seed: int,
    idle: tuple[float, float] = (0.7, 1.1),
    lanes: int = LANES,
) -> list[Outcome]:
    """``calls`` calls from ``lanes`` lanes (lane ``i`` calls ``template(i)``),
    each idling a random ``idle`` seconds between its calls.

    Each lane has its own client (``StreamClient(**settings)``), as each agent
    of a framework would: its connection then idles exactly the lane's pause.
    Lanes sharing one pool would not race the server at all: the pool hands
    out its most recently used connection, so with 16 lanes one or two
    connections stay busy every few ms and the others expire unused.
    """
    rng = random.Random(seed)
    remaining = iter(range(calls))
    outcomes: list[Outcome] = []

    async def lane(number: int) -> None:
        tmpl = template(number)
        async with StreamClient(**settings) as client:
            first = True
            for index in remaining:
                if not first:
                    await asyncio.sleep(rng.uniform(*idle))
                first = False
                try:
                    result = await client.call(tmpl, {"body": {"i": index}})
                except Exception as exc:  # counted and shown, not raised: the sweep goes on
                    outcomes.append((number, f"{type(exc).__name__}: {exc}"))
                else:
                    assert result["method"] == tmpl["http_method"]
                    outcomes.append((number, None))

    await asyncio.gather(*(lane(number) for number in range(lanes)))
    return outcomes


def echo(base: str, method: str, path: str = "/echo", **extra: Any) -> Callable[[int], dict[str, Any]]:
    template: dict[str, Any] = {"name": "echo", "url": base + path, "http_method": method, "stream_format": "json"}
    if method == "POST":
        template["body_field"] = "body"
    template.update(extra)
    return lambda _lane: template


def report_sweep(
    record_property: Callable[[str, Any], None], name: str, outcomes: list[Outcome], app: CountingApp, start: float
) -> list[str]:
    """Report a sweep's numbers; its failure messages."""
    failures = [message for _lane, message in outcomes if message is not None]
    for what, value in [("calls", len(outcomes)), ("failures", len(failures)), ("server_requests", app.requests),
                        ("connections", app.connections), ("sweep_s", time.monotonic() - start)]:
        report(record_property, "keepalive", f"{name}_{what}", value)
    return failures


async def test_post_sweep_with_keepalive_expiry_below_the_servers(uvicorn_1s, record_property) -> None:
    base, app = uvicorn_1s
    start = time.monotonic()
    outcomes = await sweep({"keepalive_expiry": 800}, echo(base, "POST"), POST_CALLS, seed=10)
    failures = report_sweep(record_property, "post", outcomes, app, start)
    assert failures == []
    assert len(outcomes) == POST_CALLS
    assert app.requests == POST_CALLS  # a POST is never resent
    assert LANES < app.connections < POST_CALLS  # idle under 0.8 s: reused; longer: a new one


async def test_get_sweep_with_default_expiry_meets_the_servers_close(uvicorn_1s, record_property) -> None:
    base, app = uvicorn_1s
    start = time.monotonic()
    assert ClientSettings.load().keepalive_expiry > 1000  # so reused connections do race uvicorn's close
    outcomes = await sweep({}, echo(base, "GET"), GET_CALLS, seed=11)
    failures = report_sweep(record_property, "get", outcomes, app, start)
    assert failures == []
    assert len(outcomes) == GET_CALLS
    assert app.connections > LANES  # the server did close idle connections under the lanes


async def test_posts_racing_the_servers_close(uvicorn_1s, record_property, caplog) -> None:
    """Pauses right at uvicorn's 1 s close, with the default (longer) expiry:
    requests do land on connections the server is closing. Lanes that send an
    ``Idempotency-Key`` still all succeed (one resend); the others fail, if at
    all, saying what happened, and no POST is ever applied twice."""
    base, app = uvicorn_1s
    caplog.set_level(logging.INFO, logger="utcp_http_stream")
    keyed = echo(base, "POST", "/keyed", headers={"Idempotency-Key": "k"})({})
    plain = echo(base, "POST", "/plain")({})
    outcomes = await sweep({}, lambda lane: keyed if lane % 2 else plain, RACE_CALLS, seed=12, idle=(0.995, 1.005))
    keyed_failures = [m for lane, m in outcomes if lane % 2 and m is not None]
    plain_failures = [m for lane, m in outcomes if not lane % 2 and m is not None]
    report(record_property, "keepalive", "race_calls", len(outcomes))
    report(record_property, "keepalive", "race_plain_failures", len(plain_failures))
    report(record_property, "keepalive", "race_keyed_failures", len(keyed_failures))
    report(record_property, "keepalive", "race_server_requests", app.requests)
    resent = sum("resending once" in r.getMessage() for r in caplog.records)
    report(record_property, "keepalive", "race_keyed_resends", resent)
    assert keyed_failures == []
    for message in plain_failures:
        assert "closed a reused idle connection" in message, message
        assert "Idempotency-Key" in message
    plain_calls = sum(1 for lane, _m in outcomes if not lane % 2)
    assert app.by_path["/plain"] == plain_calls - len(plain_failures)
    assert app.by_path["/keyed"] == len(outcomes) - plain_calls


# -- the resend rule, with a server that closes a reused connection unanswered ------


async def test_post_with_idempotency_key_is_resent_once_on_a_fresh_connection() -> None:
    async with running_raw_server(drop_reused=True) as server, StreamClient() as client:
        first = await client.call({"url": server.base + "/warm", "http_method": "POST", "stream_format": "json"})
        assert first["connection"] == 1
        template = {"url": server.base + "/pay", "http_method": "POST", "stream_format": "json",
                    "headers": {"Idempotency-Key": "order-7"}}
        async with asyncio.timeout(5):
            result = await client.call(template)
    assert result == {"connection": 2, "method": "POST"}
    assert [(s.connection, s.idempotency_key) for s in server.seen_path("/pay")] == [(1, "order-7"), (2, "order-7")]


async def test_post_without_idempotency_key_is_not_resent_and_says_why() -> None:
    async with running_raw_server(drop_reused=True) as server, StreamClient() as client:
        await client.call({"url": server.base + "/warm", "http_method": "POST", "stream_format": "json"})
        async with asyncio.timeout(5):
            with pytest.raises(StreamInterruptedError) as caught:
                await client.call({"url": server.base + "/pay", "http_method": "POST", "stream_format": "json"})
    message = str(caught.value)
    assert "closed a reused idle connection" in message
    assert "may or may not have been applied" in message
    assert "Idempotency-Key" in message
    assert caught.value.__context__ is None
    assert [s.connection for s in server.seen_path("/pay")] == [1]


async def test_get_is_resent_by_aiohttp_alone_never_a_third_time() -> None:
    async with running_raw_server(drop_reused=True) as server, StreamClient() as client:
        await client.call({"url": server.base + "/warm", "stream_format": "json"})
        async with asyncio.timeout(5):
            result = await client.call({"url": server.base + "/read", "stream_format": "json"})
    assert result == {"connection": 2, "method": "GET"}
    assert [s.connection for s in server.seen_path("/read")] == [1, 2]


@pytest.mark.parametrize(
    ("method", "key"), [("GET", None), ("GET", "k-1"), ("PUT", None), ("POST", "k-2"), ("PATCH", "k-3")]
)
async def test_never_a_third_attempt(method: str, key: str | None) -> None:
    """A server that drops the request on the fresh connection too: the
    resend (aiohttp's for idempotent methods, the plugin's for an
    Idempotency-Key) happens once, never twice."""
    async with running_raw_server(drop_paths={"/drop"}) as server, StreamClient() as client:
        await client.call({"url": server.base + "/warm", "stream_format": "json"})
        template = {"url": server.base + "/drop", "http_method": method, "stream_format": "json"}
        if key:
            template["headers"] = {"Idempotency-Key": key}
        async with asyncio.timeout(5):
            with pytest.raises(StreamInterruptedError):
                await client.call(template)
    assert [s.connection for s in server.seen_path("/drop")] == [1, 2]


async def test_a_server_announcing_a_shorter_keep_alive_gets_a_pool_that_expires_sooner() -> None:
    """``Keep-Alive: timeout=1`` against the client's 4 s: the first
    connection (from the client's pool) is closed after its response; the
    next calls share one connection of a pool that expires at 750 ms, and a
    call after a longer pause gets a new one instead of racing the server."""
    async with running_raw_server(keep_alive="timeout=1") as server, StreamClient() as client:
        assert client.settings.keepalive_expiry > 1000

        async def connection() -> int:
            return (await client.call({"url": server.base + "/a", "stream_format": "json"}))["connection"]

        burst = [await connection() for _ in range(4)]
        await asyncio.sleep(0.9)  # past the shorter pool's 750 ms, still within the server's 1 s
        after_pause = await connection()
        again = await connection()
    assert burst == [1, 2, 2, 2]
    assert (after_pause, again) == (3, 3)
    assert server.closed_by_client >= 2  # the first connection, and the one that expired


@pytest.mark.skipif(NODE is None, reason="needs node (Node.js)")
async def test_node_with_a_one_second_keep_alive_reuses_connections_and_never_races(record_property) -> None:
    """Node announces its keepAliveTimeout (here 1 s) and closes idle
    connections on it. POST calls from lanes idling 0.3-1.2 s, with the
    client's default expiry: every call succeeds, and the short pauses reuse
    connections (before, each call opened one)."""
    calls, lanes = 36, 6
    with running_node(1_000) as base:
        start = time.monotonic()
        outcomes = await sweep({}, echo(base, "POST"), calls, seed=12, idle=(0.3, 1.2), lanes=lanes)
        async with StreamClient() as client:
            connections = (await client.call({"url": base + "/stats", "stream_format": "json"}))["connections"] - 1
    failures = [message for _lane, message in outcomes if message is not None]
    for what, value in [("calls", len(outcomes)), ("failures", len(failures)), ("connections", connections),
                        ("sweep_s", time.monotonic() - start)]:
        report(record_property, "keepalive", f"node_{what}", value)
    assert failures == [] and len(outcomes) == calls
    assert connections < calls - lanes  # reused across the short pauses


async def test_longer_server_keep_alive_timeout_keeps_the_connection() -> None:
    async with running_raw_server(keep_alive="timeout=10, max=100") as server, StreamClient() as client:
        first = await client.call({"url": server.base + "/a", "stream_format": "json"})
        second = await client.call({"url": server.base + "/b", "stream_format": "json"})
    assert (first["connection"], second["connection"]) == (1, 1)
