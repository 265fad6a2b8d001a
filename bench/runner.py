"""Running the full benchmark: warm-up, interleaved rounds, the once-only extras."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import gc
import importlib.metadata
import importlib.util
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench.config import HERE, MB, Config, MiB
from bench.report import evaluate_targets
from bench.scenarios import Case, Impl, build_cases
from bench.servers import ServerProcess
from bench.slow_consumer import run_slow_consumers
from bench.stats import Record, summarize
from bench.targets import Clients, json_backend, plugin_backends, plugin_default_backend


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
