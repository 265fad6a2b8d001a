"""Resilience (issue 5): timeouts, interruption, cancellation, reconnection.

Every test talks HTTP to the fault-injection server of ``tests/fault_server.py``
(real aiohttp on 127.0.0.1) and bounds its waits with ``asyncio.timeout`` so
that a hang fails fast instead of stalling the suite. Most go through
``UtcpClient`` exactly as an agent would; a few use ``StreamClient`` directly
where the response object is what is under test. The backpressure test runs
in a subprocess and lives in ``test_transport_backpressure.py``.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from utcp.utcp_client import UtcpClient

from tests.fault_server import FaultServer, running_fault_server
from utcp_http_stream import (
    HttpStatusError,
    HttpStreamError,
    StreamDecodeError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from utcp_http_stream.template import StreamableHttpCallTemplateSerializer
from utcp_http_stream.transport import StreamClient

MakeClient = Callable[[], Awaitable[UtcpClient]]

#: how long the server may take to see that a consumer went away
DISCONNECT_LIMIT_S = 1.0

FAST_RECONNECT = {"max_attempts": 3, "initial_delay_ms": 20, "max_delay_ms": 200}


@pytest.fixture
async def fault() -> AsyncIterator[FaultServer]:
    async with running_fault_server() as server:
        yield server


@pytest.fixture
async def make_client(fault: FaultServer) -> AsyncIterator[MakeClient]:
    """``client = await make_client()``: a UtcpClient with the fault manual
    registered. Declare tool variants (``fault.add_tool``) before calling it."""
    clients: list[UtcpClient] = []

    async def make() -> UtcpClient:
        client = await UtcpClient.create()
        clients.append(client)
        template = StreamableHttpCallTemplateSerializer().validate_dict(fault.manual_template())
        result = await client.register_manual(template)
        assert result.success, result.errors
        return client

    yield make
    for client in clients:
        await client.close()


async def drain(stream: AsyncIterator[Any], into: list[Any]) -> None:
    """Append every item of ``stream`` to ``into`` (kept when it raises)."""
    async for item in stream:
        into.append(item)


def report(record_property: Callable[[str, Any], None], name: str, value: float) -> None:
    """Make a measurement visible: in the JUnit XML and with ``-s``/``-rP``."""
    record_property(name, value)
    print(f"[resilience] {name} = {value:.4f}")


# -- timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize(("setting_ms", "fails"), [(300, True), (3_000, False)])
async def test_a_template_without_connect_timeout_waits_as_long_as_the_client_setting(
    fault: FaultServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, setting_ms: int, fails: bool
) -> None:
    """A manual written for utcp-http sets no connect_timeout. A tool that
    works out its whole answer before sending anything (here: headers after
    1 s) is then the user's to allow, with the client setting, without
    owning the manual."""
    monkeypatch.setenv("UTCP_HTTP_STREAM_CONNECT_TIMEOUT", str(setting_ms))
    fault.add_tool("slow_answer", "/slow_headers")
    client = await make_client()
    async with asyncio.timeout(5):
        if not fails:
            assert await client.call_tool("fault.slow_answer", {"delay": 1}) == [{"i": 0}, {"i": 1}]
            return
        with pytest.raises(StreamTimeoutError) as caught:
            await client.call_tool("fault.slow_answer", {"delay": 1})
    message = str(caught.value)
    assert caught.value.phase == "connect" and "connect_timeout=300 ms" in message
    assert ("connect_timeout on the call template, or the client setting connect_timeout "
            "(UTCP_HTTP_STREAM_CONNECT_TIMEOUT), which applies to every template that sets none") in message


async def test_connect_timeout_when_headers_never_come(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("slow_headers", "/slow_headers", connect_timeout=300)
    client = await make_client()
    items: list[Any] = []
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(StreamTimeoutError) as caught:
            await drain(client.call_tool_streaming("fault.slow_headers", {"delay": 30}), items)
    elapsed = time.monotonic() - start
    assert caught.value.phase == "connect"
    assert "connect_timeout=300 ms" in str(caught.value)
    # The manual's fetch left an open connection: the request went out on it, so the server is the slow part.
    assert "went out on an open connection" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)
    assert 0.25 < elapsed < 1.5
    assert items == []
    # The abandoned request does not keep a connection open.
    await fault.wait_for(lambda: fault.open_connections == 0, DISCONNECT_LIMIT_S)


async def test_idle_timeout_after_the_items_that_arrived(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("stall", "/stall", idle_timeout=300, timeout=20_000)
    client = await make_client()
    items: list[Any] = []
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(StreamTimeoutError) as caught:
            await drain(client.call_tool_streaming("fault.stall", {"items": 3, "stall": 30}), items)
    elapsed = time.monotonic() - start
    assert items == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert caught.value.phase == "idle"
    assert "idle_timeout" in str(caught.value)
    assert 0.25 < elapsed < 2.0
    stats = fault.stream("stall")
    await fault.wait_for(lambda: stats.disconnected_at is not None, DISCONNECT_LIMIT_S)
    await fault.wait_for(lambda: fault.open_connections == 0, DISCONNECT_LIMIT_S)


async def test_a_stream_that_keeps_sending_outlives_its_idle_timeout(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # 30 bytes, one every 50 ms: 1.5 s in all, six times the idle limit;
    # timeout 0 means no overall limit.
    fault.add_tool("drip", "/drip", idle_timeout=250, timeout=0)
    client = await make_client()
    chunks: list[bytes] = []
    async with asyncio.timeout(10):
        await drain(client.call_tool_streaming("fault.drip", {"count": 30, "interval": 0.05}), chunks)
    assert b"".join(chunks) == bytes(97 + i % 26 for i in range(30))
    assert fault.stream("drip").finished


async def test_total_timeout_ends_a_long_stream(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("drip", "/drip", timeout=600, idle_timeout=5_000)
    client = await make_client()
    chunks: list[bytes] = []
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(StreamTimeoutError) as caught:
            await drain(client.call_tool_streaming("fault.drip", {"count": 200, "interval": 0.05}), chunks)
    elapsed = time.monotonic() - start
    assert caught.value.phase == "total"
    assert "timeout=600 ms" in str(caught.value)
    assert "set it to 0 for no overall limit" in str(caught.value)
    assert 0.5 < elapsed < 1.6
    assert 5 <= len(b"".join(chunks)) < 20
    stats = fault.stream("drip")
    await fault.wait_for(lambda: stats.disconnected_at is not None, DISCONNECT_LIMIT_S)


async def test_idle_timeout_does_not_bound_the_wait_for_headers(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # Headers after 500 ms are within connect_timeout (2 s); idle_timeout
    # (150 ms) is about gaps in the body and must not fire before it starts.
    fault.add_tool("slow_headers", "/slow_headers", connect_timeout=2_000, idle_timeout=150)
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        await drain(client.call_tool_streaming("fault.slow_headers", {"delay": 0.5, "count": 2}), items)
    assert items == [{"i": 0}, {"i": 1}]


# -- interruption --------------------------------------------------------------------


@pytest.mark.parametrize("route", ["cut_chunk", "short_length", "reset"])
async def test_a_truncated_body_raises_after_the_complete_items(
    route: str, fault: FaultServer, make_client: MakeClient
) -> None:
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await drain(client.call_tool_streaming(f"fault.{route}", {"items": 3}), items)
    # The partial item ({"i": -1}, valid JSON without its newline) is dropped.
    assert items == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert caught.value.items_yielded == 3
    assert isinstance(caught.value, ConnectionError)
    assert "cut off after 3 item(s)" in str(caught.value)
    await fault.wait_for(lambda: fault.open_connections == 0, DISCONNECT_LIMIT_S)


async def test_a_slow_consumer_still_gets_every_item_sent_before_the_cut(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # The items arrive 10 ms apart while the consumer takes 40 ms each, so
    # most of them are still waiting in the client's buffer when the cut
    # arrives: they were received whole and must be delivered.
    client = await make_client()
    items: list[Any] = []

    async def slow() -> None:
        async for item in client.call_tool_streaming("fault.cut_chunk", {"items": 8, "delay": 0.01}):
            items.append(item)
            await asyncio.sleep(0.04)

    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await slow()
    assert items == [{"i": i} for i in range(8)]
    assert caught.value.items_yielded == 8


@pytest.mark.parametrize("route", ["cut_chunk", "short_length", "reset"])
async def test_call_tool_never_returns_a_truncated_stream_as_complete(
    route: str, fault: FaultServer, make_client: MakeClient
) -> None:
    # The aggregation takes a piece that ends the body as its last (one step:
    # StreamState.feed_last); the complete items before a cut must never be
    # taken for the whole body.
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError):
            await client.call_tool(f"fault.{route}", {"items": 3})


async def test_garbage_json_line_is_an_error_or_skipped(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("garbage_skip", "/garbage", on_malformed="skip")
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamDecodeError) as caught:
            await drain(client.call_tool_streaming("fault.garbage", {"kind": "json"}), items)
        assert items == [{"i": 0}]
        assert "line 2" in str(caught.value)
        skipped = [item async for item in client.call_tool_streaming("fault.garbage_skip", {"kind": "json"})]
    assert skipped == [{"i": 0}, {"i": 1}]


async def test_garbage_chunked_framing_fails_fast(fault: FaultServer, make_client: MakeClient) -> None:
    client = await make_client()
    items: list[Any] = []
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(HttpStreamError) as caught:
            await drain(client.call_tool_streaming("fault.garbage", {"kind": "chunked"}), items)
    assert time.monotonic() - start < 2.0
    assert items == [{"i": 0}]
    assert isinstance(caught.value, StreamInterruptedError)
    stats = fault.stream("garbage")
    await fault.wait_for(lambda: stats.disconnected_at is not None, DISCONNECT_LIMIT_S)
    # Garbage in the very packet of the headers fails the call at once too.
    async with asyncio.timeout(5):
        with pytest.raises(HttpStreamError):
            await client.call_tool("fault.garbage", {"kind": "chunked", "pause": 0, "key": "early"})


async def test_a_line_larger_than_max_item_bytes_stops_the_stream(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # The line never ends: without a bound the client would buffer forever.
    fault.add_tool("big_line", "/big_line", max_item_bytes=256 * 1024)
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamDecodeError) as caught:
            await drain(client.call_tool_streaming("fault.big_line", {}), items)
    assert items == [{"i": 0}]
    assert "max_item_bytes" in str(caught.value)
    stats = fault.stream("big_line")
    await fault.wait_for(lambda: stats.disconnected_at is not None, DISCONNECT_LIMIT_S)
    assert not stats.finished
    # The client stopped reading soon after the limit: what the server got
    # rid of is the limit plus socket buffers, not the 64 MiB it would send.
    assert stats.bytes_sent < 40 * 1024 * 1024


async def test_gzip_stream_is_decoded_incrementally(fault: FaultServer, make_client: MakeClient) -> None:
    client = await make_client()
    stats = fault.stream("gzip")
    items: list[Any] = []
    stream = client.call_tool_streaming("fault.gzip", {"count": 6, "hold": 3})
    async with asyncio.timeout(5):
        # The server holds the rest of the body until the gate opens: the
        # first three items can only arrive if gzip is decoded as it comes.
        for _ in range(3):
            items.append(await anext(stream))
        assert not stats.finished
        fault.gate("gzip").set()
        await drain(stream, items)
    assert [item["i"] for item in items] == list(range(6))
    assert all(item["pad"] == "x" * 200 for item in items)
    assert stats.finished


# -- cancellation ----------------------------------------------------------------------


async def _disconnect_latency(fault: FaultServer, key: str, since: float) -> float:
    stats = fault.stream(key)
    await fault.wait_for(lambda: stats.disconnected_at is not None, DISCONNECT_LIMIT_S)
    assert stats.disconnected_at is not None
    await fault.wait_for(lambda: fault.open_connections == 0, DISCONNECT_LIMIT_S)
    return stats.disconnected_at - since


async def _assert_disconnected(
    fault: FaultServer, since: float, record_property: Callable[[str, Any], None], name: str
) -> None:
    """The endless stream's connection closed within DISCONNECT_LIMIT_S of
    ``since`` (the latency is reported as ``name``)."""
    latency = await _disconnect_latency(fault, "endless", since)
    report(record_property, name, latency)
    assert latency < DISCONNECT_LIMIT_S


async def test_break_out_of_the_stream_closes_the_connection(
    fault: FaultServer, make_client: MakeClient, record_property: Callable[[str, Any], None]
) -> None:
    client = await make_client()
    seen = 0
    async with asyncio.timeout(5):
        async for _item in client.call_tool_streaming("fault.endless", {"interval": 0.02}):
            seen += 1
            if seen == 3:
                left = time.monotonic()
                break
        await _assert_disconnected(fault, left, record_property, "disconnect_after_break_s")


async def test_cancelling_the_consumer_task_closes_the_connection(
    fault: FaultServer, make_client: MakeClient, record_property: Callable[[str, Any], None]
) -> None:
    client = await make_client()
    three = asyncio.Event()

    async def consume() -> None:
        seen = 0
        async for _item in client.call_tool_streaming("fault.endless", {"interval": 0.02}):
            seen += 1
            if seen == 3:
                three.set()

    async with asyncio.timeout(5):
        task = asyncio.create_task(consume())
        await three.wait()
        left = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _assert_disconnected(fault, left, record_property, "disconnect_after_cancel_s")


async def test_aclose_of_the_generator_closes_the_connection(
    fault: FaultServer, make_client: MakeClient, record_property: Callable[[str, Any], None]
) -> None:
    client = await make_client()
    async with asyncio.timeout(5):
        stream = client.call_tool_streaming("fault.endless", {"interval": 0.02})
        for _ in range(3):
            await anext(stream)
        left = time.monotonic()
        await stream.aclose()
        await _assert_disconnected(fault, left, record_property, "disconnect_after_aclose_s")


async def test_an_abandoned_generator_does_not_leak_its_connection(
    fault: FaultServer, make_client: MakeClient, record_property: Callable[[str, Any], None]
) -> None:
    client = await make_client()
    async with asyncio.timeout(5):
        stream = client.call_tool_streaming("fault.endless", {"interval": 0.02})
        await anext(stream)
        left = time.monotonic()
        del stream
        gc.collect()
        await _assert_disconnected(fault, left, record_property, "disconnect_after_gc_s")


async def test_leaving_the_stream_block_early_drops_the_connection(fault: FaultServer) -> None:
    async with StreamClient() as http, asyncio.timeout(5):
        async with http.stream(fault.tool_template("endless"), {"interval": 0.02}) as response:
            async for _item in response:
                break
        left = time.monotonic()
        assert await _disconnect_latency(fault, "endless", left) < DISCONNECT_LIMIT_S


async def test_only_complete_responses_go_back_to_the_pool(fault: FaultServer) -> None:
    async with StreamClient() as http, asyncio.timeout(5):
        for _ in range(2):
            async with http.stream(fault.tool_template("ndjson"), {"count": 3}) as response:
                assert [item async for item in response] == [{"i": 0}, {"i": 1}, {"i": 2}]
        # Both calls were served over one kept-alive connection...
        assert fault.stream("ndjson").requests == 2
        assert fault.open_connections == 1
        # ...while a half-read one is closed, not pooled.
        async with http.stream(fault.tool_template("ndjson"), {"count": 5, "delay": 0.05}) as response:
            async for _item in response:
                break
        await fault.wait_for(lambda: fault.open_connections == 1, DISCONNECT_LIMIT_S)
        async with http.stream(fault.tool_template("ndjson"), {"count": 1}) as response:
            assert [item async for item in response] == [{"i": 0}]


# -- reconnection ----------------------------------------------------------------------


def _gaps(started: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(started)]


async def test_sse_resumes_from_last_event_id_without_duplicates(
    fault: FaultServer, make_client: MakeClient
) -> None:
    fault.add_tool(
        "sse", "/sse", reconnect={"max_attempts": 3, "initial_delay_ms": 1000, "max_delay_ms": 5000}
    )
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        # Three events per connection, then half of the next: two drops.
        await drain(
            client.call_tool_streaming("fault.sse", {"total": 8, "per_connection": 3, "retry": 100}), items
        )
    assert items == [{"n": n} for n in range(1, 9)]
    stats = fault.stream("sse")
    assert stats.last_event_ids == [None, "3", "6"]
    # The server's retry (100 ms) was used rather than the 1 s backoff.
    assert all(0.09 < gap < 0.6 for gap in _gaps(stats.started))


async def test_a_mislabelled_sse_stream_forced_to_sse_resumes_from_its_last_event_id(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # The server labels its event stream text/plain; the template forces the
    # sse framing. The resume must still carry the last id seen (the ids are
    # read through the forced-framing check).
    fault.add_tool(
        "sse", "/sse", stream_format="sse", reconnect={"max_attempts": 3, "initial_delay_ms": 50, "max_delay_ms": 200}
    )
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        await drain(
            client.call_tool_streaming(
                "fault.sse", {"total": 5, "per_connection": 2, "content_type": "text/plain; charset=utf-8"}
            ),
            items,
        )
    assert items == [{"n": n} for n in range(1, 6)]
    assert fault.stream("sse").last_event_ids == [None, "2", "4"]


async def test_sse_backoff_is_exponential_and_bounded(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("sse", "/sse", reconnect={"max_attempts": 3, "initial_delay_ms": 100, "max_delay_ms": 300})
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await drain(client.call_tool_streaming("fault.sse", {"total": 50, "per_connection": 1}), items)
    # One event per connection: the first one and one per reconnection.
    assert items == [{"n": n} for n in range(1, 5)]
    assert caught.value.items_yielded == 4
    stats = fault.stream("sse")
    assert stats.last_event_ids == [None, "1", "2", "3"]
    # Jittered within [base/2, base], base = 100, 200, then capped at 300 ms.
    for gap, base in zip(_gaps(stats.started), (0.1, 0.2, 0.3), strict=True):
        assert base / 2 * 0.9 <= gap <= base + 0.2, (gap, base)


async def test_sse_reconnect_answered_with_4xx_is_not_retried(
    fault: FaultServer, make_client: MakeClient
) -> None:
    fault.add_tool("sse", "/sse", reconnect=FAST_RECONNECT)
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(HttpStatusError) as caught:
            await drain(
                client.call_tool_streaming("fault.sse", {"total": 9, "per_connection": 2, "then": 404}), items
            )
    assert caught.value.status == 404
    assert items == [{"n": 1}, {"n": 2}]
    assert fault.stream("sse").requests == 2


async def test_sse_gives_up_with_the_last_error_when_reconnecting_fails(
    fault: FaultServer, make_client: MakeClient
) -> None:
    # The stream drops after two events and every reconnection is reset.
    fault.add_tool("sse", "/sse", reconnect=FAST_RECONNECT)
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await drain(
                client.call_tool_streaming("fault.sse", {"total": 9, "per_connection": 2, "then": "reset"}),
                items,
            )
    assert items == [{"n": 1}, {"n": 2}]
    assert caught.value.items_yielded == 2
    stats = fault.stream("sse")
    assert 1 + FAST_RECONNECT["max_attempts"] <= stats.requests <= 1 + 2 * FAST_RECONNECT["max_attempts"]
    assert set(stats.last_event_ids[1:]) == {"2"}


async def test_other_framings_do_not_reconnect_after_an_item(
    fault: FaultServer, make_client: MakeClient
) -> None:
    fault.add_tool("cut_chunk", "/cut_chunk", reconnect=FAST_RECONNECT)
    client = await make_client()
    items: list[Any] = []
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError):
            await drain(client.call_tool_streaming("fault.cut_chunk", {"items": 2}), items)
    assert items == [{"i": 0}, {"i": 1}]
    assert fault.stream("cut_chunk").requests == 1


async def test_a_get_cut_before_its_first_item_is_retried_until_attempts_run_out(
    fault: FaultServer, make_client: MakeClient
) -> None:
    fault.add_tool("cut_chunk", "/cut_chunk", reconnect=FAST_RECONNECT)
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await client.call_tool("fault.cut_chunk", {"items": 0})
    assert caught.value.items_yielded == 0
    assert fault.stream("cut_chunk").requests == 1 + FAST_RECONNECT["max_attempts"]


async def test_reset_at_start_is_retried_for_get(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool(
        "refuse", "/refuse", reconnect={"max_attempts": 5, "initial_delay_ms": 20, "max_delay_ms": 100}
    )
    client = await make_client()
    async with asyncio.timeout(5):
        items = [item async for item in client.call_tool_streaming("fault.refuse", {"times": 3, "count": 2})]
    assert items == [{"i": 0}, {"i": 1}]
    assert fault.stream("refuse").requests == 4


async def test_reset_at_start_without_a_policy_is_an_error(
    fault: FaultServer, make_client: MakeClient
) -> None:
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError) as caught:
            await client.call_tool("fault.refuse", {"times": -1})
    assert caught.value.items_yielded == 0


async def test_reconnect_attempts_are_bounded(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool(
        "refuse", "/refuse", reconnect={"max_attempts": 2, "initial_delay_ms": 20, "max_delay_ms": 50}
    )
    client = await make_client()
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError):
            await client.call_tool("fault.refuse", {"times": -1})
    assert time.monotonic() - start < 2.0
    # Three attempts (aiohttp itself resends an idempotent request once when
    # the connection dies before the response, so at most two requests each).
    assert 3 <= fault.stream("refuse").requests <= 6


async def test_post_is_not_retried(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("refuse_post", "/refuse", http_method="POST", reconnect=FAST_RECONNECT)
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError):
            await client.call_tool("fault.refuse_post", {"times": 1})
    assert fault.stream("refuse").methods == ["POST"]


async def test_connection_refused_then_accepted(
    fault: FaultServer, make_client: MakeClient, free_port: int
) -> None:
    fault.add_tool(
        "late",
        "/ndjson",
        url=f"http://127.0.0.1:{free_port}/ndjson",
        reconnect={"max_attempts": 10, "initial_delay_ms": 100, "max_delay_ms": 150},
    )
    client = await make_client()
    async with asyncio.timeout(5):
        listening = asyncio.create_task(fault.listen_late(free_port, 0.3))
        items = [item async for item in client.call_tool_streaming("fault.late", {"count": 2})]
        await listening
    assert items == [{"i": 0}, {"i": 1}]


async def test_429_honours_retry_after(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool(
        "status", "/status", reconnect={"max_attempts": 2, "initial_delay_ms": 10, "max_delay_ms": 5000}
    )
    client = await make_client()
    async with asyncio.timeout(5):
        items = [
            item
            async for item in client.call_tool_streaming(
                "fault.status", {"code": 429, "times": 1, "retry_after": 1, "count": 2}
            )
        ]
    assert items == [{"i": 0}, {"i": 1}]
    stats = fault.stream("status")
    assert stats.requests == 2
    assert _gaps(stats.started)[0] >= 0.95


async def test_503_retries_run_out_with_the_last_error(fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool(
        "status", "/status", reconnect={"max_attempts": 2, "initial_delay_ms": 10, "max_delay_ms": 50}
    )
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(HttpStatusError) as caught:
            await client.call_tool("fault.status", {"code": 503, "times": -1, "retry_after": 0})
    assert caught.value.status == 503
    assert fault.stream("status").requests == 3


async def test_retry_after_beyond_max_delay_is_not_waited_for(
    fault: FaultServer, make_client: MakeClient
) -> None:
    fault.add_tool(
        "status", "/status", reconnect={"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 1000}
    )
    client = await make_client()
    start = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(HttpStatusError) as caught:
            await client.call_tool("fault.status", {"code": 503, "times": -1, "retry_after": 120})
    assert caught.value.status == 503
    assert time.monotonic() - start < 1.0
    assert fault.stream("status").requests == 1


@pytest.mark.parametrize("code", [400, 401, 404])
async def test_4xx_is_never_retried(code: int, fault: FaultServer, make_client: MakeClient) -> None:
    fault.add_tool("status", "/status", reconnect=FAST_RECONNECT)
    client = await make_client()
    async with asyncio.timeout(5):
        with pytest.raises(HttpStatusError) as caught:
            await client.call_tool("fault.status", {"code": code, "times": -1, "retry_after": 0})
    assert caught.value.status == code
    assert fault.stream("status").requests == 1
