"""The slow consumer: peak RSS while a consumer that sleeps per chunk reads a long
stream, each implementation in its own process for a clean peak-RSS reading."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.config import MB, RUN_SCRIPT, Config, MiB


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    value = _status_kib("VmHWM")
    if value is not None:
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def rss_child(impl: str, base: str, size: int, sleep_s: float, chunk_size: int) -> dict[str, Any]:
    """Stream ``size`` bytes, sleeping ``sleep_s`` (blocking, like a consumer
    busy with each chunk) per chunk; report the peak RSS growth."""
    closers: list[Callable[[], Awaitable[None]]] = []
    if impl == "plugin":
        from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol
        from utcp_http_stream.template import StreamableHttpCallTemplate

        proto = StreamableHttpCommunicationProtocol()
        closers.append(proto.close)
        template = StreamableHttpCallTemplate(name="bench", url=base + "/bytes", chunk_size=chunk_size, timeout=0)

        def stream(n: int):
            return proto.call_tool_streaming(None, "bench.bytes", {"n": n}, template)
    elif impl == "utcp-http":
        from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate as UhTemplate
        from utcp_http.streamable_http_communication_protocol import StreamableHttpCommunicationProtocol as Uh

        uh = Uh()
        uh_template = UhTemplate(name="bench", url=base + "/bytes", chunk_size=chunk_size, timeout=600_000)

        def stream(n: int):
            return uh.call_tool_streaming(None, "bench.bytes", {"n": n}, uh_template)
    elif impl == "raw":
        session = aiohttp.ClientSession()
        closers.append(session.close)

        async def stream(n: int):
            async with session.get(f"{base}/bytes?n={n}") as resp:
                async for chunk in resp.content.iter_chunked(chunk_size):
                    yield chunk
    else:
        raise ValueError(f"unknown implementation {impl!r}")

    async for _chunk in stream(MiB):  # warm-up: connection, buffers, imports
        pass
    gc.collect()
    before = peak_rss_kib()
    rss_before = _status_kib("VmRSS")
    total = chunks = 0
    start = time.perf_counter()
    async for chunk in stream(size):
        total += len(chunk)
        chunks += 1
        if sleep_s:
            # Blocking on purpose: a consumer busy with each chunk, during
            # which the event loop cannot read (backpressure must hold).
            time.sleep(sleep_s)  # noqa: ASYNC251
    wall = time.perf_counter() - start
    after = peak_rss_kib()
    for close in closers:
        await close()
    return {
        "impl": impl,
        "bytes": total,
        "chunks": chunks,
        "wall_s": round(wall, 3),
        "consumer_MBps": round(total / MB / wall, 2),
        "peak_rss_before_mib": round(before / 1024, 2),
        "rss_before_mib": round((rss_before or 0) / 1024, 2),
        "peak_rss_after_mib": round(after / 1024, 2),
        "growth_mib": round((after - before) / 1024, 2),
        "ok": total == size,
    }


async def run_slow_consumers(cfg: Config, base: str, impls: list[str]) -> dict[str, Any]:
    """All consumers at once: they mostly sleep, and RSS is per process."""

    async def one(impl: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RUN_SCRIPT),
            "--rss-child",
            impl,
            "--base",
            base,
            "--size",
            str(cfg.rss_size),
            "--sleep",
            str(cfg.rss_sleep_s),
            "--chunk-size",
            str(cfg.rss_chunk_size),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            return {"impl": impl, "error": err.decode(errors="replace")[-2000:]}
        return json.loads(out.decode().strip().splitlines()[-1])

    results = await asyncio.gather(*(one(impl) for impl in impls))
    return {
        "size_mib": cfg.rss_size // MiB,
        "sleep_ms_per_chunk": cfg.rss_sleep_s * 1000,
        "chunk_size": cfg.rss_chunk_size,
        "impls": {r["impl"]: r for r in results},
    }
