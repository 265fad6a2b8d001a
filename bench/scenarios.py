"""The cases of the full benchmark: what each implementation does in one measured run."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.config import MB, Config, MiB
from bench.targets import (
    Clients,
    drain_protocol,
    first_item_latency,
    make_utcp_client,
    plugin_backends,
    raw_big_read,
    raw_bytes_any,
    raw_bytes_any_sliced,
    raw_bytes_chunked,
    raw_first_items,
    raw_ndjson_line_iter,
    raw_ndjson_split,
    raw_small,
    raw_sse_split,
)


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
