"""Backpressure (issue 5): a slow consumer keeps the client's memory flat.

The fault server (in the test process) streams 128 MiB; a consumer in a
subprocess reads it through ``UtcpClient`` one chunk at a time, sleeping
1 ms per chunk. The subprocess measures its own memory, so the server's
buffers do not count: its peak RSS (VmHWM, or ru_maxrss where /proc is
missing) may grow by less than 32 MiB over the RSS it had before the stream.
While it reads, it asks the server how much it has sent: the difference
(what sits in socket buffers and aiohttp's reader) must stay a small window,
which is only true if the plugin stops reading from the socket while the
consumer sleeps.

Run as a module (``python -m tests.e2e.test_transport_backpressure MANUAL_URL``
from the project root) this file is the consumer; it prints one JSON report
line.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fault_server import running_fault_server

MiB = 1024 * 1024
STREAM_BYTES = 128 * MiB
CHUNK = 64 * 1024
RSS_GROWTH_LIMIT = 32 * MiB
#: server-sent minus consumer-read. Socket buffers on loopback autotune to a
#: few MiB (tcp_rmem/tcp_wmem); without backpressure the gap would be most of
#: the 128 MiB, since the server can send far faster than the consumer reads.
WINDOW_LIMIT = 20 * MiB
CHECK_EVERY = 4 * MiB
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _proc_status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _rss_bytes() -> int:
    kib = _proc_status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    return _peak_rss_bytes()  # no /proc: the peak so far is the best baseline


def _peak_rss_bytes() -> int:
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


async def _consume(manual_url: str) -> dict[str, Any]:
    import aiohttp
    from utcp.utcp_client import UtcpClient

    from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

    client = await UtcpClient.create()
    stats_session = aiohttp.ClientSession()
    stats_url = manual_url.rsplit("/", 1)[0] + "/stats"
    try:
        template = StreamableHttpCallTemplateSerializer().validate_dict(
            {"name": "fault", "call_template_type": "streamable_http", "url": manual_url}
        )
        result = await client.register_manual(template)
        assert result.success, result.errors

        async def server_sent(key: str) -> int:
            async with stats_session.get(stats_url, params={"key": key}) as response:
                return (await response.json())["bytes_sent"]

        # Warm up: every code path and buffer the big stream will use.
        async for _chunk in client.call_tool_streaming("fault.big", {"size": 4 * MiB, "key": "warm"}):
            await asyncio.sleep(0)
        await server_sent("warm")

        rss_before = _rss_bytes()
        read = 0
        chunks = 0
        windows: list[int] = []
        next_check = CHECK_EVERY
        started = time.monotonic()
        async for chunk in client.call_tool_streaming("fault.big", {"size": STREAM_BYTES, "key": "big"}):
            read += len(chunk)
            chunks += 1
            await asyncio.sleep(0.001)
            if read >= next_check:
                windows.append(await server_sent("big") - read)
                next_check += CHECK_EVERY
        elapsed = time.monotonic() - started
        return {
            "read": read,
            "chunks": chunks,
            "largest_chunk": CHUNK,
            "seconds": elapsed,
            "rss_before": rss_before,
            "peak_rss": _peak_rss_bytes(),
            "windows": windows,
        }
    finally:
        await stats_session.close()
        await client.close()


async def test_slow_consumer_keeps_memory_flat(record_property: Any) -> None:
    async with running_fault_server() as fault:
        fault.add_tool("big", "/big", chunk_size=CHUNK, timeout=0, idle_timeout=10_000)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.test_transport_backpressure",
            fault.url("/utcp"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(PROJECT_ROOT),
        )
        try:
            async with asyncio.timeout(60):
                out, err = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail("the consumer subprocess did not finish within 60 s")
        assert process.returncode == 0, err.decode(errors="replace")[-3000:]
        report = json.loads(out.decode().strip().splitlines()[-1])
        stats = fault.stream("big")

    growth = report["peak_rss"] - report["rss_before"]
    window = max(report["windows"])
    record_property("backpressure_peak_rss_growth_mib", growth / MiB)
    record_property("backpressure_max_window_mib", window / MiB)
    record_property("backpressure_seconds", report["seconds"])
    print(
        f"[resilience] backpressure: {report['read'] / MiB:.0f} MiB in {report['seconds']:.1f} s "
        f"({report['chunks']} chunks); peak RSS growth {growth / MiB:.2f} MiB; "
        f"server ahead of consumer by at most {window / MiB:.2f} MiB"
    )
    assert report["read"] == STREAM_BYTES
    assert stats.finished and stats.bytes_sent == STREAM_BYTES
    assert growth < RSS_GROWTH_LIMIT
    assert len(report["windows"]) >= STREAM_BYTES // CHECK_EVERY - 1
    assert window < WINDOW_LIMIT


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_consume(sys.argv[1]))))
