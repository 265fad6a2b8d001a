"""Hostile servers and manuals against memory and time (issue 11, findings 4,
5 and 6), through UtcpClient against a real server on 127.0.0.1. Each test
bounds its own wait, and reports the peak RSS growth and the time taken.

The client settings (ceilings) come from the environment, as a UtcpClient
user sets them; they are made small so that the attacks end fast.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from utcp.utcp_client import UtcpClient

from tests.support import manual_template
from utcp_http_stream import StreamDecodeError, StreamInterruptedError, StreamTimeoutError

MiB = 1024 * 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@functools.lru_cache(maxsize=4)
def gzip_bomb(mib: int) -> bytes:
    """A valid gzip member of ``mib`` MiB of zeros, about 1 KiB per MiB, built
    in milliseconds: one fully flushed deflate segment for 1 MiB, repeated."""
    zeros = bytes(MiB)
    segment_maker = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = segment_maker.compress(zeros) + segment_maker.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + segment * mib + final + struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)


class Hostile:
    """Routes that attack the client's memory and patience."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    async def endless_line(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        block = b"x" * 65536
        self.sent["endless_line"] = 0
        try:
            while self.sent["endless_line"] < 256 * MiB:
                await response.write(block)
                self.sent["endless_line"] += len(block)
        except (ConnectionError, RuntimeError):
            return response
        await response.write_eof()
        return response

    async def silence(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        await asyncio.sleep(30)
        return response

    async def no_headers(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response()

    async def gzip_bomb(self, request: web.Request) -> web.Response:
        body = gzip_bomb(int(request.query.get("mib", "256")))
        return web.Response(body=body, headers={"Content-Encoding": "gzip",
                                                "Content-Type": "application/octet-stream"})

    async def truncated_gzip(self, request: web.Request) -> web.Response:
        data = bytes(range(256)) * 4096  # 1 MiB that compresses poorly enough to cut in the middle
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        whole = compressor.compress(data) + compressor.flush()
        # A clean HTTP framing (the Content-Length matches) around half a gzip member.
        return web.Response(body=whole[: len(whole) // 2],
                            headers={"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"})

    def app(self) -> web.Application:
        app = web.Application()
        for name in ("endless_line", "silence", "no_headers", "gzip_bomb", "truncated_gzip"):
            app.router.add_get("/" + name, getattr(self, name))
        app.router.add_get("/utcp", self.manual)
        return app

    async def manual(self, request: web.Request) -> web.Response:
        base = f"http://{request.host}"

        def tool(name: str, **template: Any) -> dict[str, Any]:
            return {"name": name, "description": name, "inputs": {"type": "object"}, "outputs": {},
                    "tool_call_template": {"call_template_type": "streamable_http", "url": f"{base}/{name}",
                                           **template}}

        return web.json_response({"tools": [
            tool("endless_line", max_item_bytes=10**12, stream_format="ndjson"),
            tool("silence", timeout=0, stream_format="ndjson"),
            tool("no_headers", timeout=0, connect_timeout=10**12),
            tool("gzip_bomb"),
            tool("truncated_gzip"),
        ]})


@pytest.fixture
async def hostile(serve, monkeypatch) -> AsyncIterator[tuple[Hostile, UtcpClient]]:
    monkeypatch.setenv("UTCP_HTTP_STREAM_MAX_ITEM_BYTES_CEILING", str(1 * MiB))
    monkeypatch.setenv("UTCP_HTTP_STREAM_IDLE_TIMEOUT_CEILING", "300")
    monkeypatch.setenv("UTCP_HTTP_STREAM_CONNECT_TIMEOUT_CEILING", "300")
    server = Hostile()
    gzip_bomb(1024)  # built before anything is timed
    base = await serve(server.app())
    client = await UtcpClient.create()
    result = await client.register_manual(manual_template(base, name="hostile"))
    assert result.success, result.errors
    yield server, client
    await client.close()


def report(record_property, name: str, seconds: float, rss_before: float) -> None:
    growth = peak_rss_mib() - rss_before
    record_property(name + "_seconds", round(seconds, 3))
    record_property(name + "_peak_rss_growth_mib", round(growth, 1))
    print(f"[hostile] {name}: {seconds:.3f} s, peak RSS +{growth:.1f} MiB")


async def test_a_manual_cannot_lift_max_item_bytes_past_the_ceiling(hostile, record_property):
    server, client = hostile
    rss, began = peak_rss_mib(), time.monotonic()
    async with asyncio.timeout(10):
        with pytest.raises(StreamDecodeError, match="max_item_bytes"):
            await client.call_tool("hostile.endless_line", {})
    report(record_property, "endless_line", time.monotonic() - began, rss)
    assert server.sent["endless_line"] < 32 * MiB  # stopped near the 1 MiB ceiling, not at the 256 MiB end


@pytest.mark.parametrize(
    "tool,phase",
    [("silence", "idle"),  # timeout: 0 (no overall limit), then nothing after the headers
     ("no_headers", "connect")],  # connect_timeout: 10**12, and the headers never come
)
async def test_a_manual_cannot_make_a_wait_unbounded(hostile, tool, phase):
    _, client = hostile
    began = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(StreamTimeoutError) as caught:
            await client.call_tool("hostile." + tool, {})
    assert caught.value.phase == phase
    assert time.monotonic() - began < 2


async def test_call_tool_on_a_gzip_bomb_stops_at_max_result_bytes(hostile, record_property):
    _, client = hostile
    rss, began = peak_rss_mib(), time.monotonic()
    async with asyncio.timeout(20):
        with pytest.raises(StreamDecodeError, match="max_result_bytes=67108864"):
            await client.call_tool("hostile.gzip_bomb", {"mib": 1024})
    elapsed = time.monotonic() - began
    report(record_property, "gzip_bomb_1GiB", elapsed, rss)
    assert peak_rss_mib() - rss < 300  # the 64 MiB result (and its buffer), never the 1 GiB body
    # Streaming the same tool is not bounded by it: nothing is kept.
    received = 0
    async with asyncio.timeout(20):
        async for chunk in client.call_tool_streaming("hostile.gzip_bomb", {"mib": 96}):
            received += len(chunk)
    assert received == 96 * MiB


async def test_a_truncated_gzip_member_is_not_returned_as_complete(hostile):
    _, client = hostile
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterruptedError):
            await client.call_tool("hostile.truncated_gzip", {})
