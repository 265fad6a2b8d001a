"""End-to-end benchmark: this plugin vs ``utcp-http`` vs a raw aiohttp loop.

    python bench/run.py                 # full run (5 rounds), a few minutes
    python bench/run.py --quick         # 2 rounds, smaller sizes, under ~90 s
    python bench/run.py --json out.json # results file (default bench/results.json)
    python bench/run.py --profile ndjson  # profile the plugin on one case

A loopback aiohttp server runs in a separate process (``bench/loopback_server.py``);
this process is the client only, so ``time.process_time()`` is client CPU.
Every case runs its implementations in interleaved samples (the order rotates
from one sample to the next, several samples per round), and ratios are
*paired*: computed between the runs of one sample, then the median is
reported. See ``bench/README.md`` for the method and figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import gc
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

RUN_SCRIPT = Path(__file__).resolve()
HERE = RUN_SCRIPT.parent
SERVER_SCRIPT = HERE / "loopback_server.py"
DEFAULT_JSON = HERE / "results.json"
MiB = 1 << 20
MB = 1_000_000


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAVE_UTCP_HTTP = _importable("utcp_http")

# utcp-http calls logging.basicConfig(INFO) on import and logs per call; its
# log lines are not what we measure.
logging.getLogger("utcp_http").setLevel(logging.WARNING)
logging.getLogger("utcp").setLevel(logging.WARNING)


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------


@dataclass
class Config:
    """Sizes are chosen so that each measured run lasts ~0.1-0.7 s on a 2-core box;
    ``stream_repeat`` paired samples per round for the streaming cases (many
    short samples resist a noisy machine better than a few long ones)."""

    mode: str = "full"
    rounds: int = 5
    stream_repeat: int = 3
    bytes_size: int = 192 * MiB
    ndjson_lines: int = 100_000
    sse_events: int = 50_000
    seq_calls: int = 300
    concurrent_calls: int = 200
    ttfi_calls: int = 10
    pause_ms: int = 50
    big_size: int = 32 * MiB
    utcp_http_big_timeout_s: float = 30.0
    rss_size: int = 256 * MiB
    rss_sleep_s: float = 0.0002
    rss_chunk_size: int = 4096
    decoder_mb: int = 32
    cases: tuple[str, ...] = ()
    with_utcp_http: bool = HAVE_UTCP_HTTP
    with_rss: bool = True
    with_decoders: bool = True

    @classmethod
    def full(cls) -> Config:
        return cls()

    @classmethod
    def quick(cls) -> Config:
        return cls(
            mode="quick",
            rounds=2,
            stream_repeat=2,
            bytes_size=96 * MiB,
            ndjson_lines=50_000,
            sse_events=25_000,
            ttfi_calls=5,
            utcp_http_big_timeout_s=10.0,
            rss_size=64 * MiB,
            decoder_mb=8,
        )

    @classmethod
    def tiny(cls) -> Config:
        """For the smoke test: every case, seconds in all."""
        return cls(
            mode="tiny",
            rounds=1,
            stream_repeat=1,
            bytes_size=256 * 1024,
            ndjson_lines=2_000,
            sse_events=1_000,
            seq_calls=10,
            concurrent_calls=10,
            ttfi_calls=2,
            pause_ms=5,
            big_size=256 * 1024,
            utcp_http_big_timeout_s=5.0,
            rss_size=1 * MiB,
            rss_sleep_s=0.0,
            decoder_mb=1,
            with_decoders=False,
        )


# ---------------------------------------------------------------------------
# the loopback server (a separate process)
# ---------------------------------------------------------------------------


class ServerProcess:
    """``bench/loopback_server.py`` in a child process; ``.base`` is its URL."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(SERVER_SCRIPT), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the loopback server did not start (got {line!r})")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# the three families of clients
# ---------------------------------------------------------------------------


def _json_backend_api():
    try:
        from utcp_http_stream.decoders import jsonlib
    except ImportError:  # pragma: no cover - older layouts
        return None
    return jsonlib if hasattr(jsonlib, "set_backend") else None


def plugin_default_backend() -> str:
    jsonlib = _json_backend_api()
    return jsonlib.backend() if jsonlib is not None else "unknown"


def plugin_backends() -> list[str]:
    """The JSON backends the plugin can run with here: stdlib always, orjson if installed."""
    jsonlib = _json_backend_api()
    if jsonlib is None:
        return []
    return ["json", "orjson"] if jsonlib.ORJSON_AVAILABLE else ["json"]


@contextlib.contextmanager
def json_backend(name: str | None):
    jsonlib = _json_backend_api()
    if name is None or jsonlib is None:
        yield
        return
    previous = jsonlib.backend()
    jsonlib.set_backend(name)
    try:
        yield
    finally:
        jsonlib.set_backend(previous)


class Clients:
    """The long-lived clients (one pool each) that the streaming cases share,
    the control session that reads the server's connection counter, and the
    call templates. (The call cases build a fresh client per run instead.)"""

    def __init__(self, base: str, with_utcp_http: bool) -> None:
        self.base = base
        self.with_utcp_http = with_utcp_http
        self.raw: aiohttp.ClientSession | None = None
        self.ctl: aiohttp.ClientSession | None = None
        self.plugin: Any = None
        self.uh_stream: Any = None
        self.uh_sse: Any = None

    async def __aenter__(self) -> Clients:
        from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol

        self.raw = aiohttp.ClientSession()
        # The control session only reads /stats; a long keep-alive keeps it on
        # one connection so it never shows up in a connection count.
        self.ctl = aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=600))
        self.plugin = StreamableHttpCommunicationProtocol()
        if self.with_utcp_http:
            from utcp_http.sse_communication_protocol import SseCommunicationProtocol
            from utcp_http.streamable_http_communication_protocol import (
                StreamableHttpCommunicationProtocol as UhStreamProtocol,
            )

            self.uh_stream = UhStreamProtocol()
            self.uh_sse = SseCommunicationProtocol()
        await self.connections()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.plugin.close()
        for session in (self.raw, self.ctl):
            if session is not None:
                await session.close()

    async def connections(self) -> int:
        assert self.ctl is not None
        async with self.ctl.get(self.base + "/stats") as resp:
            return (await resp.json())["connections"]

    # templates ---------------------------------------------------------------

    def plugin_template(self, path: str, **fields: Any) -> Any:
        from utcp_http_stream.template import StreamableHttpCallTemplate

        return StreamableHttpCallTemplate(name="bench", url=self.base + path, **fields)

    def uh_template(self, path: str, **fields: Any) -> Any:
        from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate

        return StreamableHttpCallTemplate(name="bench", url=self.base + path, **fields)

    def uh_sse_template(self, path: str) -> Any:
        from utcp_http.sse_call_template import SseCallTemplate

        return SseCallTemplate(name="bench", url=self.base + path)


# What a consumer does with each piece: count it (bytes: count its length).
async def drain_protocol(proto: Any, template: Any, args: dict[str, Any], *, measure_bytes: bool) -> int:
    total = 0
    if measure_bytes:
        async for chunk in proto.call_tool_streaming(None, "bench.tool", args, template):
            total += len(chunk)
    else:
        async for _item in proto.call_tool_streaming(None, "bench.tool", args, template):
            total += 1
    return total


async def raw_bytes_chunked(session: aiohttp.ClientSession, url: str, chunk_size: int) -> int:
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_chunked(chunk_size):
            total += len(chunk)
    return total


async def raw_bytes_any(session: aiohttp.ClientSession, url: str) -> int:
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            total += len(chunk)
    return total


async def raw_bytes_any_sliced(session: aiohttp.ClientSession, url: str, chunk_size: int) -> int:
    """``iter_any()`` cut into pieces of at most ``chunk_size`` (one copy each):
    the cheapest loop that keeps the chunk_size contract, with no plugin code."""
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for data in resp.content.iter_any():
            if len(data) <= chunk_size:
                total += len(data)
                continue
            view = memoryview(data)
            for start in range(0, len(data), chunk_size):
                total += len(view[start : start + chunk_size].tobytes())
    return total


async def raw_ndjson_line_iter(session: aiohttp.ClientSession, url: str) -> int:
    """aiohttp's line iterator: what most hand-written NDJSON clients do."""
    loads = json.loads
    count = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.strip():
                loads(line)
                count += 1
    return count


async def raw_ndjson_split(session: aiohttp.ClientSession, url: str) -> int:
    """``iter_any()`` and one ``split`` per chunk (stdlib json)."""
    loads = json.loads
    count = 0
    pending = b""
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line:
                    loads(line)
                    count += 1
    if pending.strip():
        loads(pending)
        count += 1
    return count


async def raw_sse_split(session: aiohttp.ClientSession, url: str) -> int:
    """A minimal, not spec-complete SSE loop (LF only, single ``data:`` line):
    the floor any real parser pays."""
    loads = json.loads
    count = 0
    pending = b""
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            blocks = (pending + chunk).split(b"\n\n")
            pending = blocks.pop()
            for block in blocks:
                if block.startswith(b"data: "):
                    data = block[6:]
                    if data != b"[DONE]":
                        loads(data)
                        count += 1
    return count


async def raw_small(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return json.loads(await resp.read())


async def raw_big_read(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return len(await resp.read())


async def first_item_latency(agen_factory: Callable[[], Any]) -> float:
    """Seconds from starting the call to its first item; the rest is drained
    (untimed) so the connection goes back to the pool."""
    start = time.perf_counter()
    agen = agen_factory()
    first = time.perf_counter()
    async for _item in agen:
        first = time.perf_counter()
        break
    async for _item in agen:
        pass
    return first - start


async def raw_first_items(session: aiohttp.ClientSession, url: str):
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.strip():
                yield json.loads(line)


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one measured run did: ``work`` (bytes, items or calls) and, when
    the run measures its own metric (latency), ``value``."""

    work: float
    value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Impl:
    name: str
    run: Callable[[Any], Awaitable[Outcome]]
    setup: Callable[[], Awaitable[Any]] | None = None
    teardown: Callable[[Any], Awaitable[None]] | None = None
    backend: str | None = None


@dataclass
class Case:
    key: str
    title: str
    unit: str  # MB/s, lines/s, events/s, calls/s, ms
    impls: list[Impl]
    refs: list[str]  # implementations ratios are computed against (paired)
    expected: float | None = None  # the work every run must have done
    count_connections: bool = False
    repeat: int = 1  # paired samples per round, for cases whose runs are short

    @property
    def higher_is_better(self) -> bool:
        return self.unit != "ms"

    def value(self, outcome: Outcome, wall: float) -> float:
        if outcome.value is not None:
            return outcome.value
        scale = MB if self.unit == "MB/s" else 1
        return outcome.work / scale / wall


async def _close(obj: Any) -> None:
    await obj.close()


def _plugin_stream_impls(
    c: Clients, path: str, args: dict[str, Any], *, measure_bytes: bool = False, **fields: Any
) -> list[Impl]:
    """The plugin through its protocol's ``call_tool_streaming``, once per JSON
    backend when items are JSON (the backend is switched around each run)."""
    template = c.plugin_template(path, **fields)

    async def run(_state: Any) -> Outcome:
        return Outcome(await drain_protocol(c.plugin, template, args, measure_bytes=measure_bytes))

    backends = plugin_backends()
    if measure_bytes or not backends:
        return [Impl("plugin", run)]
    return [Impl(f"plugin ({b})", run, backend=b) for b in backends]


def case_bytes(cfg: Config, c: Clients, chunk_size: int) -> Case:
    n = cfg.bytes_size
    url = f"{c.base}/bytes?n={n}"
    impls = _plugin_stream_impls(c, "/bytes", {"n": n}, measure_bytes=True, chunk_size=chunk_size)
    if cfg.with_utcp_http:
        uh_template = c.uh_template("/bytes", chunk_size=chunk_size)

        async def uh_run(_s: Any) -> Outcome:
            return Outcome(await drain_protocol(c.uh_stream, uh_template, {"n": n}, measure_bytes=True))

        impls.append(Impl("utcp-http", uh_run))

    async def raw_chunked(_s: Any) -> Outcome:
        return Outcome(await raw_bytes_chunked(c.raw, url, chunk_size))

    async def raw_sliced(_s: Any) -> Outcome:
        return Outcome(await raw_bytes_any_sliced(c.raw, url, chunk_size))

    async def raw_any(_s: Any) -> Outcome:
        return Outcome(await raw_bytes_any(c.raw, url))

    impls += [
        Impl("raw iter_chunked", raw_chunked),
        Impl("raw iter_any+slice", raw_sliced),
        Impl("raw iter_any", raw_any),
    ]
    if chunk_size == 4096:
        refs = (["utcp-http"] if cfg.with_utcp_http else []) + ["raw iter_any+slice"]
    else:
        refs = ["raw iter_chunked", "raw iter_any+slice"]
    return Case(
        f"bytes_{chunk_size // 1024}k",
        f"bytes stream, chunk_size={chunk_size // 1024} KiB, {n / MiB:g} MiB",
        "MB/s",
        impls,
        refs,
        expected=n,
        repeat=cfg.stream_repeat,
    )


def case_ndjson(cfg: Config, c: Clients) -> Case:
    n = cfg.ndjson_lines
    url = f"{c.base}/ndjson?n={n}"
    impls = _plugin_stream_impls(c, "/ndjson", {"n": n})
    if cfg.with_utcp_http:
        uh_template = c.uh_template("/ndjson")

        async def uh_run(_s: Any) -> Outcome:
            return Outcome(await drain_protocol(c.uh_stream, uh_template, {"n": n}, measure_bytes=False))

        impls.append(Impl("utcp-http", uh_run))

    async def raw_lines(_s: Any) -> Outcome:
        return Outcome(await raw_ndjson_line_iter(c.raw, url))

    async def raw_split(_s: Any) -> Outcome:
        return Outcome(await raw_ndjson_split(c.raw, url))

    impls += [Impl("raw line-iter", raw_lines), Impl("raw iter_any+split", raw_split)]
    refs = ["raw line-iter"] + (["utcp-http"] if cfg.with_utcp_http else [])
    return Case(
        "ndjson", f"NDJSON, {n:,} lines of ~110 B", "lines/s", impls, refs, expected=n, repeat=cfg.stream_repeat
    )


def case_sse(cfg: Config, c: Clients) -> Case:
    n = cfg.sse_events
    url = f"{c.base}/sse?n={n}"
    impls = _plugin_stream_impls(c, "/sse", {"n": n})
    if cfg.with_utcp_http:
        uh_template = c.uh_sse_template("/sse")

        async def uh_run(_s: Any) -> Outcome:
            # utcp-http also yields the closing "[DONE]" (as a string).
            return Outcome(await drain_protocol(c.uh_sse, uh_template, {"n": n}, measure_bytes=False) - 1)

        impls.append(Impl("utcp-http SSE", uh_run))

    async def raw_run(_s: Any) -> Outcome:
        return Outcome(await raw_sse_split(c.raw, url))

    impls.append(Impl("raw split (minimal)", raw_run))
    refs = (["utcp-http SSE"] if cfg.with_utcp_http else []) + ["raw split (minimal)"]
    return Case(
        "sse",
        f"SSE, {n:,} OpenAI-style delta events of ~190 B",
        "events/s",
        impls,
        refs,
        expected=n,
        repeat=cfg.stream_repeat,
    )


def _call_impls(cfg: Config, c: Clients, calls: int, concurrent: bool) -> list[Impl]:
    """Small JSON calls; every implementation gets a fresh client (pool) per run."""
    small = c.plugin_template("/json")
    small_url = c.base + "/json"

    async def many(fn: Callable[[], Awaitable[Any]]) -> Outcome:
        if concurrent:
            await asyncio.gather(*(fn() for _ in range(calls)))
        else:
            for _ in range(calls):
                await fn()
        return Outcome(calls)

    async def plugin_setup() -> Any:
        from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol

        return StreamableHttpCommunicationProtocol()

    async def plugin_run(proto: Any) -> Outcome:
        return await many(lambda: proto.call_tool(None, "bench.small", {}, small))

    async def raw_setup() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    async def raw_unlimited_setup() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def raw_run(session: aiohttp.ClientSession) -> Outcome:
        return await many(lambda: raw_small(session, small_url))

    impls = [Impl("plugin", plugin_run, plugin_setup, _close), Impl("raw pooled", raw_run, raw_setup, _close)]
    if concurrent:
        impls.append(Impl("raw pooled, no limit", raw_run, raw_unlimited_setup, _close))
    else:

        async def client_setup() -> Any:
            return await make_utcp_client(c.base)

        async def client_run(client: Any) -> Outcome:
            return await many(lambda: client.call_tool("bench.small", {}))

        impls.append(Impl("plugin via UtcpClient", client_run, client_setup, _close))
    if cfg.with_utcp_http:
        uh_small = c.uh_template("/json")

        async def uh_setup() -> Any:
            from utcp_http.streamable_http_communication_protocol import StreamableHttpCommunicationProtocol

            return StreamableHttpCommunicationProtocol()

        async def uh_run(proto: Any) -> Outcome:
            return await many(lambda: proto.call_tool(None, "bench.small", {}, uh_small))

        impls.append(Impl("utcp-http", uh_run, uh_setup, _close))
    return impls


def case_calls_seq(cfg: Config, c: Clients) -> Case:
    refs = ["raw pooled"] + (["utcp-http"] if cfg.with_utcp_http else [])
    return Case(
        "calls_seq",
        f"{cfg.seq_calls} sequential small JSON calls (fresh client per run)",
        "calls/s",
        _call_impls(cfg, c, cfg.seq_calls, False),
        refs,
        expected=cfg.seq_calls,
        count_connections=True,
        repeat=3,
    )


def case_calls_concurrent(cfg: Config, c: Clients) -> Case:
    impls = _call_impls(cfg, c, cfg.concurrent_calls, True)
    for impl in impls:
        impl.run = _wall_ms(impl.run)
    return Case(
        "calls_concurrent",
        f"{cfg.concurrent_calls} concurrent small JSON calls, wall time (fresh client per run)",
        "ms",
        impls,
        ["raw pooled", "raw pooled, no limit"],
        expected=cfg.concurrent_calls,
        count_connections=True,
        repeat=5,
    )


def case_ttfi(cfg: Config, c: Clients) -> Case:
    path = f"/pause?ms={cfg.pause_ms}"
    template = c.plugin_template(path)
    url = c.base + path

    def ttfi(make_agen: Callable[[], Any]) -> Callable[[Any], Awaitable[Outcome]]:
        async def run(_s: Any) -> Outcome:
            samples = [await first_item_latency(make_agen) for _ in range(cfg.ttfi_calls)]
            return Outcome(
                cfg.ttfi_calls,
                value=statistics.median(samples) * 1000,
                extra={"samples_ms": [round(s * 1000, 3) for s in samples]},
            )

        return run

    impls = [
        Impl("plugin", ttfi(lambda: c.plugin.call_tool_streaming(None, "bench.pause", {}, template))),
        Impl("raw", ttfi(lambda: raw_first_items(c.raw, url))),
    ]
    if cfg.with_utcp_http:
        uh_template = c.uh_template(path)
        impls.append(
            Impl("utcp-http", ttfi(lambda: c.uh_stream.call_tool_streaming(None, "bench.pause", {}, uh_template)))
        )
    return Case(
        "ttfi",
        f"time to first item behind a {cfg.pause_ms} ms server pause (median of {cfg.ttfi_calls} calls per run)",
        "ms",
        impls,
        ["raw"],
        expected=cfg.ttfi_calls,
    )


def case_big_call_tool(cfg: Config, c: Clients) -> Case:
    n = cfg.big_size
    template = c.plugin_template("/bytes")
    url = f"{c.base}/bytes?n={n}"

    async def plugin_call_tool(_s: Any) -> Outcome:
        body = await c.plugin.call_tool(None, "bench.big", {"n": n}, template)
        return Outcome(len(body))

    async def plugin_streamed(_s: Any) -> Outcome:
        return Outcome(await drain_protocol(c.plugin, template, {"n": n}, measure_bytes=True))

    async def raw_read(_s: Any) -> Outcome:
        return Outcome(await raw_big_read(c.raw, url))

    impls = [
        Impl("plugin call_tool", plugin_call_tool),
        Impl("plugin streaming", plugin_streamed),
        Impl("raw read()", raw_read),
    ]
    if cfg.with_utcp_http:
        uh_template = c.uh_template("/bytes")

        async def uh_streamed(_s: Any) -> Outcome:
            return Outcome(await drain_protocol(c.uh_stream, uh_template, {"n": n}, measure_bytes=True))

        impls.append(Impl("utcp-http streaming", uh_streamed))
    return Case(
        "big_call_tool",
        f"call_tool (aggregated) vs streaming the same {n / MiB:g} MiB, default chunk_size",
        "MB/s",
        impls,
        ["plugin streaming", "raw read()"],
        expected=n,
        repeat=5,
    )


CASE_KEYS = ("bytes_4k", "bytes_64k", "ndjson", "sse", "calls_seq", "calls_concurrent", "ttfi", "big_call_tool")


def build_cases(cfg: Config, c: Clients) -> list[Case]:
    builders: dict[str, Callable[[], Case]] = {
        "bytes_4k": lambda: case_bytes(cfg, c, 4096),
        "bytes_64k": lambda: case_bytes(cfg, c, 65536),
        "ndjson": lambda: case_ndjson(cfg, c),
        "sse": lambda: case_sse(cfg, c),
        "calls_seq": lambda: case_calls_seq(cfg, c),
        "calls_concurrent": lambda: case_calls_concurrent(cfg, c),
        "ttfi": lambda: case_ttfi(cfg, c),
        "big_call_tool": lambda: case_big_call_tool(cfg, c),
    }
    keys = [k for k in CASE_KEYS if not cfg.cases or k in cfg.cases]
    return [builders[k]() for k in keys]


def _wall_ms(run: Callable[[Any], Awaitable[Outcome]]) -> Callable[[Any], Awaitable[Outcome]]:
    async def timed(state: Any) -> Outcome:
        start = time.perf_counter()
        outcome = await run(state)
        outcome.value = (time.perf_counter() - start) * 1000
        return outcome

    return timed


async def make_utcp_client(base: str) -> Any:
    """A real UtcpClient (plugins from entry points) with the bench manual registered."""
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    manual = CallTemplateSerializer().validate_dict(
        {"name": "bench", "call_template_type": "streamable_http", "url": base + "/utcp"}
    )
    result = await client.register_manual(manual)
    if not result.success:
        await client.close()
        raise RuntimeError(f"could not register the bench manual: {result.errors}")
    return client


# ---------------------------------------------------------------------------
# running the rounds
# ---------------------------------------------------------------------------


@dataclass
class Record:
    wall: float
    cpu: float
    value: float
    connections: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


async def run_once(case: Case, impl: Impl, clients: Clients, *, collect: bool = True) -> Record:
    state = None
    before = await clients.connections() if case.count_connections else None
    try:
        if impl.setup is not None:
            state = await impl.setup()
        with json_backend(impl.backend):
            if collect:
                gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            outcome = await impl.run(state)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        error = None
        if case.expected is not None and outcome.work != case.expected:
            error = f"did {outcome.work} units of work, expected {case.expected}"
        value = case.value(outcome, wall) if error is None else float("nan")  # kept out of the medians
        record = Record(wall, cpu, value, extra=outcome.extra, error=error)
        if before is not None:
            record.connections = await clients.connections() - before
        return record
    except Exception as exc:  # one failing implementation must not end the run
        return Record(0.0, 0.0, float("nan"), error=f"{type(exc).__name__}: {exc}")
    finally:
        if state is not None and impl.teardown is not None:
            await impl.teardown(state)


def _median(values: list[float]) -> float | None:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else None


async def run_rounds(cfg: Config, clients: Clients, log: Callable[[str], None]) -> dict[str, Any]:
    cases = build_cases(cfg, clients)
    records: dict[str, dict[str, list[Record]]] = {case.key: {i.name: [] for i in case.impls} for case in cases}

    # Warm-up: every implementation once (imports, first connections, caches).
    for case in cases:
        for impl in case.impls:
            await run_once(case, impl, clients)

    for r in range(cfg.rounds):
        started = time.perf_counter()
        for case in cases:
            for k in range(case.repeat):
                shift = (r * case.repeat + k) % len(case.impls)
                for impl in case.impls[shift:] + case.impls[:shift]:
                    records[case.key][impl.name].append(await run_once(case, impl, clients))
        log(f"  round {r + 1}/{cfg.rounds} done in {time.perf_counter() - started:.1f} s")

    return {case.key: summarize(case, records[case.key]) for case in cases}


def summarize(case: Case, recs: dict[str, list[Record]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": case.title,
        "unit": case.unit,
        "higher_is_better": case.higher_is_better,
        "refs": case.refs,
        "impls": {},
    }
    for name, rows in recs.items():
        values = [row.value for row in rows]
        entry: dict[str, Any] = {
            "values": [round(v, 4) for v in values],
            "walls_s": [round(row.wall, 5) for row in rows],
            "cpus_s": [round(row.cpu, 5) for row in rows],
            "median": _median(values),
            "median_wall_s": _median([row.wall for row in rows]),
            "median_cpu_s": _median([row.cpu for row in rows]),
            "errors": [row.error for row in rows if row.error],
        }
        if case.count_connections:
            conns = [row.connections for row in rows if row.connections is not None]
            entry["connections"] = conns
            entry["median_connections"] = _median([float(x) for x in conns])
        if any(row.extra for row in rows):
            entry["extra"] = [row.extra for row in rows]
        ratios: dict[str, Any] = {}
        for ref in case.refs:
            if ref == name or ref not in recs:
                continue
            pairs = [
                (a.value, b.value)
                for a, b in zip(rows, recs[ref], strict=False)
                if a.value == a.value and b.value == b.value and b.value
            ]
            ratios[ref] = {
                "paired_ratio": _median([a / b for a, b in pairs]),
                "paired_diff": _median([a - b for a, b in pairs]),
                "ratios": [round(a / b, 4) for a, b in pairs],
                # >1: this implementation used less client CPU than the reference
                "cpu_saving": _median(
                    [b.cpu / a.cpu for a, b in zip(rows, recs[ref], strict=False) if a.cpu and b.cpu]
                ),
            }
        entry["vs"] = ratios
        out["impls"][name] = entry
    return out


# ---------------------------------------------------------------------------
# the slow consumer (each in its own process, for a clean peak-RSS reading)
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# utcp-http's aggregated call_tool on the big body (once, with a time cap)
# ---------------------------------------------------------------------------


async def utcp_http_big_call_tool(cfg: Config, clients: Clients) -> dict[str, Any]:
    template = clients.uh_template("/bytes")
    start = time.perf_counter()
    cpu0 = time.process_time()
    try:
        body = await asyncio.wait_for(
            clients.uh_stream.call_tool(None, "bench.big", {"n": cfg.big_size}, template),
            cfg.utcp_http_big_timeout_s,
        )
    except TimeoutError:
        return {"status": f"timeout >{cfg.utcp_http_big_timeout_s:g}s", "timeout_s": cfg.utcp_http_big_timeout_s}
    wall = time.perf_counter() - start
    return {
        "status": "ok" if len(body) == cfg.big_size else f"wrong size {len(body)}",
        "wall_s": round(wall, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "MBps": round(cfg.big_size / MB / wall, 2),
    }


# ---------------------------------------------------------------------------
# decoder throughput (bench/decoders.py, owned by the decoders' author)
# ---------------------------------------------------------------------------


def run_decoders(cfg: Config) -> dict[str, Any]:
    path = HERE / "decoders.py"
    if not path.exists():
        return {"status": "bench/decoders.py not present"}
    try:
        spec = importlib.util.spec_from_file_location("_bench_decoders", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        result = module.run(cfg.decoder_mb, cfg.mode != "full")
        out: dict[str, Any] = {
            "status": "ok",
            "size_mb": cfg.decoder_mb,
            "wall_s": round(time.perf_counter() - start, 2),
            "result": result,
        }
        if hasattr(module, "print_report"):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                module.print_report(result)
            out["report"] = buf.getvalue()
        return out
    except Exception as exc:
        return {"status": f"failed: {type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------


def _ratio(cases: dict[str, Any], case: str, impl: str, ref: str) -> float | None:
    try:
        return cases[case]["impls"][impl]["vs"][ref]["paired_ratio"]
    except KeyError:
        return None


def _diff(cases: dict[str, Any], case: str, impl: str, ref: str) -> float | None:
    try:
        return cases[case]["impls"][impl]["vs"][ref]["paired_diff"]
    except KeyError:
        return None


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cases = results["cases"]
    targets: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, op: str, threshold: float, text: str, **more: Any) -> None:
        if measured is None:
            met = None
        else:
            met = measured >= threshold if op == ">=" else measured <= threshold
        targets.append(
            {"target": name, "measured": measured, "op": op, "threshold": threshold, "text": text, "met": met, **more}
        )

    def fmt(x: float | None, suffix: str = "x", near: float | None = None) -> str:
        if x is None:
            return "n/a"
        # Next to its threshold, two decimals could round a miss into a hit.
        digits = 3 if near is not None and abs(x - near) < 0.01 else 2
        return f"{x:.{digits}f}{suffix}"

    def plugin_names(case: str) -> list[str]:
        return [n for n in cases.get(case, {}).get("impls", {}) if n.startswith("plugin (")] or ["plugin"]

    if "calls_seq" in cases:
        r = _ratio(cases, "calls_seq", "plugin", "raw pooled")
        cpu = cases["calls_seq"]["impls"]["plugin"]["vs"].get("raw pooled", {}).get("cpu_saving")
        add(
            "sequential call rate >= 0.9x raw pooled session",
            r,
            ">=",
            0.9,
            f"{fmt(r, near=0.9)} (client CPU per call: {fmt(None if not cpu else 1 / cpu)} raw's)",
        )
        conns = cases["calls_seq"]["impls"]["plugin"].get("connections", [])
        worst = max(conns) if conns else None
        add(
            "1 TCP connection for the sequential calls",
            worst,
            "<=",
            1,
            f"at most {worst} per run of {cases['calls_seq']['title'].split()[0]} calls, over {len(conns)} runs "
            f"(utcp-http: {_num(cases['calls_seq']['impls'].get('utcp-http', {}).get('median_connections'), 'count')})",
        )
    if "calls_concurrent" in cases:
        r = _ratio(cases, "calls_concurrent", "plugin", "raw pooled")
        r2 = _ratio(cases, "calls_concurrent", "plugin", "raw pooled, no limit")
        add(
            "concurrent calls wall time <= 1.2x raw pooled session",
            r,
            "<=",
            1.2,
            f"{fmt(r, near=1.2)} (vs raw with no connection limit: {fmt(r2)})",
        )
    if "ndjson" in cases:
        for name in plugin_names("ndjson"):
            r = _ratio(cases, "ndjson", name, "raw line-iter")
            add(f"NDJSON {name} >= 1.5x raw line-iterator loop (stdlib json)", r, ">=", 1.5, fmt(r, near=1.5))
    if "sse" in cases:
        for name in plugin_names("sse"):
            r = _ratio(cases, "sse", name, "utcp-http SSE")
            add(f"SSE {name} >= 1.8x utcp-http's SSE protocol", r, ">=", 1.8, fmt(r, near=1.8))
    if "bytes_4k" in cases:
        r = _ratio(cases, "bytes_4k", "plugin", "utcp-http")
        floor = _ratio(cases, "bytes_4k", "raw iter_any+slice", "utcp-http")
        add(
            "bytes at chunk_size 4 KiB >= 2x utcp-http",
            r,
            ">=",
            2.0,
            f"{fmt(r, near=2.0)} (a bare iter_any+4 KiB slicing loop, no plugin code: {fmt(floor)})",
        )
    if "bytes_64k" in cases:
        r = _ratio(cases, "bytes_64k", "plugin", "raw iter_chunked")
        r2 = _ratio(cases, "bytes_64k", "plugin", "raw iter_any+slice")
        add(
            "bytes at chunk_size 64 KiB >= 0.95x raw (iter_chunked(64 KiB))",
            r,
            ">=",
            0.95,
            f"{fmt(r, near=0.95)} (vs raw iter_any+slice: {fmt(r2)})",
        )
    if "ttfi" in cases:
        d = _diff(cases, "ttfi", "plugin", "raw")
        add("time to first item within 1 ms of raw", d, "<=", 1.0, fmt(d, " ms", near=1.0))
    rss = results.get("slow_consumer_rss", {}).get("impls", {}).get("plugin")
    if rss is not None:
        growth = rss.get("growth_mib")
        add("slow consumer peak RSS growth <= 8 MiB", growth, "<=", 8.0, fmt(growth, " MiB"))
    if "big_call_tool" in cases:
        r = _ratio(cases, "big_call_tool", "plugin call_tool", "plugin streaming")
        r = None if not r else 1 / r  # a ratio of rates; the target is a ratio of times
        floor = _ratio(cases, "big_call_tool", "raw read()", "plugin streaming")
        floor = None if not floor else 1 / floor
        add(
            "non-streaming call_tool within 2x the time of streaming",
            r,
            "<=",
            2.0,
            f"{fmt(r, near=2.0)} (raw aiohttp resp.read() takes {fmt(floor)} the plugin's streaming time)",
        )
    return targets


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:,.2f}"
    if unit == "MB/s":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"utcp-http-stream benchmark — {meta['date']} — mode {meta['mode']}, {meta['rounds']} rounds, "
        f"{meta['cpus']} CPUs, Python {meta['python']}",
        f"versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}; "
        f"plugin JSON backend by default: {meta['plugin_json_backend']}",
        f"load average at start/end: {meta.get('loadavg_at_start')} / {meta.get('loadavg_at_end')}",
        "values: medians of all samples (n = rounds x samples per round). 'vs X': median of the paired ratios "
        "value/value(X), each pair",
        "  from the same round and repeat (for rates >1 is faster, for ms <1 is faster; ms cases also show the "
        "median paired difference).",
        "  'cpu s': client CPU seconds per run; 'cpu vs X': median of paired CPU(X)/CPU (>1 = less CPU).",
        "",
    ]
    for key, case in results["cases"].items():
        samples = max((len(e["values"]) for e in case["impls"].values()), default=0)
        lines.append(f"[{key}] {case['title']} (n={samples})")
        lines.extend(_case_table(case))
        lines.append("")

    big = results.get("utcp_http_big_call_tool")
    if big:
        lines.append(
            "[big_call_tool] utcp-http call_tool (bytes +=) on the same body, once: "
            + ", ".join(f"{k}={v}" for k, v in big.items())
        )
        lines.append("")

    rss = results.get("slow_consumer_rss")
    if rss:
        lines.append(
            f"[slow_consumer_rss] {rss['size_mib']} MiB at chunk_size {rss['chunk_size']}, consumer "
            f"sleeps {rss['sleep_ms_per_chunk']:g} ms per chunk (one process each)"
        )
        lines.append(
            f"  {'implementation':<24}{'growth MiB':>11}{'peak before':>13}{'peak after':>12}"
            f"{'chunks':>9}{'wall s':>8}{'MB/s':>8}"
        )
        for name, r in rss["impls"].items():
            if "error" in r:
                lines.append(f"  {name:<24}ERROR {r['error'][-200:]}")
                continue
            lines.append(
                f"  {name:<24}{r['growth_mib']:>11.2f}{r['peak_rss_before_mib']:>13.1f}"
                f"{r['peak_rss_after_mib']:>12.1f}{r['chunks']:>9}{r['wall_s']:>8.1f}"
                f"{r['consumer_MBps']:>8.1f}"
            )
        lines.append("")

    dec = results.get("decoders")
    if dec:
        lines.append(
            f"[decoders] bench/decoders.py run({dec.get('size_mb')}, quick={meta['mode'] != 'full'}): {dec['status']}"
        )
        if dec.get("report"):
            lines.extend("  " + line for line in dec["report"].rstrip().splitlines())
        elif dec.get("result") is not None:
            lines.extend("  " + line for line in _render_any(dec["result"]))
        lines.append("")

    lines.append("targets (paired ratios from this run):")
    for t in results["targets"]:
        status = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        lines.append(f"  [{status}] {t['target']}: {t['text']}")
    return "\n".join(lines)


def _table(rows: list[list[str]], left: int = 1) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def _case_table(case: dict[str, Any]) -> list[str]:
    unit, refs = case["unit"], case["refs"]
    with_conns = any("median_connections" in e for e in case["impls"].values())
    header = ["implementation", unit, "wall s", "cpu s", *[f"vs {r}" for r in refs]]
    if refs:
        header.append(f"cpu vs {refs[0]}")
    if with_conns:
        header.append("conns")
    rows = [header]
    errors = []
    for name, e in case["impls"].items():
        row = [name, _num(e["median"], unit), _fixed(e["median_wall_s"], 3), _fixed(e["median_cpu_s"], 3)]
        for ref in refs:
            v = e["vs"].get(ref)
            cell = "-" if v is None or v["paired_ratio"] is None else f"{v['paired_ratio']:.2f}x"
            if v is not None and unit == "ms" and v["paired_diff"] is not None:
                cell += f" ({v['paired_diff']:+.2f} ms)"
            row.append(cell)
        if refs:
            v = e["vs"].get(refs[0])
            row.append("-" if v is None or v["cpu_saving"] is None else f"{v['cpu_saving']:.2f}x")
        if with_conns:
            row.append(_num(e.get("median_connections"), "count"))
        rows.append(row)
        if e["errors"]:
            errors.append(f"  ! {name}: {len(e['errors'])} failed run(s): {e['errors'][0][:160]}")
    return _table(rows) + errors


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _render_any(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines()
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [", ".join(f"{k}={v}" for k, v in row.items()) for row in value]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    return [repr(value)]


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("utcp-http-stream", "utcp", "utcp-http", "aiohttp", "orjson"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


async def run_benchmark(
    cfg: Config, *, log: Callable[[str], None] | None = None, base: str | None = None
) -> dict[str, Any]:
    """Run every case against a loopback server (started here unless ``base``
    is given) and return the results dict (also what ``--json`` writes)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    with contextlib.ExitStack() as stack:
        if base is None:
            base = stack.enter_context(ServerProcess()).base
        started = time.perf_counter()
        results: dict[str, Any] = {
            "meta": {
                "date": _dt.datetime.now().isoformat(timespec="seconds"),
                "mode": cfg.mode,
                "rounds": cfg.rounds,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "versions": _versions(),
                "plugin_json_backend": plugin_default_backend(),
                "plugin_json_backends_measured": plugin_backends(),
                "utcp_http_measured": cfg.with_utcp_http,
                "loadavg_at_start": _loadavg(),
            },
            "config": asdict(cfg),
        }
        async with Clients(base, cfg.with_utcp_http) as clients:
            log(f"server {base}; {cfg.rounds} rounds ({cfg.mode})")
            results["cases"] = await run_rounds(cfg, clients, log)
            if cfg.with_utcp_http and (not cfg.cases or "big_call_tool" in cfg.cases):
                log(f"  utcp-http call_tool on {cfg.big_size // MiB} MiB (cap {cfg.utcp_http_big_timeout_s:g} s)")
                results["utcp_http_big_call_tool"] = await utcp_http_big_call_tool(cfg, clients)
            if cfg.with_rss:
                log(f"  slow consumers of {cfg.rss_size // MiB} MiB")
                impls = ["plugin", "raw"] + (["utcp-http"] if cfg.with_utcp_http else [])
                results["slow_consumer_rss"] = await run_slow_consumers(cfg, base, impls)
        if cfg.with_decoders:
            log("  decoder throughput (bench/decoders.py)")
            results["decoders"] = run_decoders(cfg)
        results["targets"] = evaluate_targets(results)
        results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
        results["meta"]["loadavg_at_end"] = _loadavg()
        return results


# ---------------------------------------------------------------------------
# profiling one case (plugin only)
# ---------------------------------------------------------------------------

PROFILE_CASES = {
    "bytes4k": ("bytes_4k", "plugin"),
    "bytes64k": ("bytes_64k", "plugin"),
    "ndjson": ("ndjson", None),
    "sse": ("sse", None),
    "calls": ("calls_seq", "plugin"),
    "client": ("calls_seq", "plugin via UtcpClient"),
    "concurrent": ("calls_concurrent", "plugin"),
}


async def profile_case(cfg: Config, which: str, repeat: int, backend: str | None) -> str:
    case_key, impl_name = PROFILE_CASES[which]
    cfg.cases = (case_key,)
    with ServerProcess() as server:
        async with Clients(server.base, with_utcp_http=False) as clients:
            case = build_cases(cfg, clients)[0]
            if impl_name is None:
                chosen = backend or plugin_default_backend()
                impl_name = f"plugin ({chosen})" if any(i.name.startswith("plugin (") for i in case.impls) else "plugin"
            impl = next(i for i in case.impls if i.name == impl_name)
            await run_once(case, impl, clients)  # warm-up
            report = [f"{case.title}: {impl.name}, {repeat} runs per profiler"]
            try:
                from pyinstrument import Profiler
            except ImportError:
                report.append("(pyinstrument not installed: pip install pyinstrument; cProfile only)")
            else:
                profiler = Profiler(interval=0.0002, async_mode="disabled")
                profiler.start()
                for _ in range(repeat):
                    rec = await run_once(case, impl, clients, collect=False)
                profiler.stop()
                report.append(f"pyinstrument (last run {rec.value:,.1f} {case.unit} under the sampler):")
                report.append(profiler.output_text(time="percent_of_total"))
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(repeat):
                rec = await run_once(case, impl, clients, collect=False)
            prof.disable()
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("tottime").print_stats(25)
            report.append(f"cProfile, by self time (last run {rec.value:,.1f} {case.unit} under cProfile):")
            report.append(buf.getvalue())
            return "\n".join(report)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark utcp-http-stream against utcp-http and raw aiohttp.")
    parser.add_argument("--quick", action="store_true", help="2 rounds and smaller sizes (under ~90 s)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results (JSON)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument(
        "--cases",
        help="comma-separated subset of: " + ",".join(CASE_KEYS) + ",slow_consumer_rss,decoders",
    )
    parser.add_argument("--no-utcp-http", action="store_true", help="skip the utcp-http column")
    parser.add_argument("--no-rss", action="store_true", help="skip the slow-consumer RSS case")
    parser.add_argument("--no-decoders", action="store_true", help="skip bench/decoders.py")
    parser.add_argument("--profile", choices=sorted(PROFILE_CASES), help="profile the plugin on one case and exit")
    parser.add_argument("--profile-repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["json", "orjson"], help="JSON backend for --profile")
    # internal: one slow consumer, run in a child process
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sleep", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, default=4096, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child:
        result = asyncio.run(rss_child(args.rss_child, args.base, args.size, args.sleep, args.chunk_size))
        print(json.dumps(result))
        return 0

    cfg = Config.quick() if args.quick else Config.full()
    if args.rounds:
        cfg.rounds = args.rounds
    if args.cases:
        cfg.cases = tuple(part.strip() for part in args.cases.split(",") if part.strip())
        cfg.with_rss = cfg.with_rss and "slow_consumer_rss" in cfg.cases
        cfg.with_decoders = cfg.with_decoders and "decoders" in cfg.cases
    if args.no_utcp_http or not HAVE_UTCP_HTTP:
        cfg.with_utcp_http = False
    cfg.with_rss = cfg.with_rss and not args.no_rss
    cfg.with_decoders = cfg.with_decoders and not args.no_decoders

    if args.profile:
        print(asyncio.run(profile_case(cfg, args.profile, args.profile_repeat, args.backend)))
        return 0

    results = asyncio.run(run_benchmark(cfg))
    print(render(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {args.json} ({results['meta']['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
