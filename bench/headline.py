"""The headline scenarios (``python bench/run.py --quick``), paired A/B.

1. ``seq``: sequential small JSON calls on one connection, the plugin's
   ``call_tool`` against a raw aiohttp loop (``get`` + ``read`` + ``json.loads``),
   each on one long-lived client. Target: at least 0.9x raw's call rate.
2. ``concurrent``: 200 small JSON calls under one ``asyncio.gather``, both with
   an uncapped pool (raw: ``TCPConnector(limit=0)``) on long-lived clients, so
   the 200 connections of the warm-up are reused. Target: at most 1.2x raw's
   wall time. ``concurrent_fresh`` is the same with a fresh client per round
   (200 connects in each run, the full benchmark's ``calls_concurrent``): the
   connects cost both sides the same and dilute the ratio.
3. ``bytes_4k``: a bytes stream read in 4 KiB pieces, the plugin against
   utcp-http's ``call_tool_streaming``. Target: at least 2x utcp-http's rate.
   ``bytes_4k_floor`` puts the plugin beside the leanest aiohttp loop that
   yields the same items (``iter_any()``, the plugin's ``cut``, one async
   generator); the quotient of the two ratios is the most an aiohttp-based
   client could reach in ``bytes_4k`` (its ceiling, printed under the targets).

Method: the loopback server runs in its own process; rounds are interleaved
A B B A (the next round B A A B): the ratio of a round is the sum of its
two plugin runs over the sum of its two reference runs, so which side runs
first, and load that rises or falls through the round, cancel within it;
each round has new long-lived clients, warmed by one unmeasured run (a
warm pool's ratio depends on its connection set);
``gc.collect()`` before every run, and each figure is the median of the
per-round ratios. Client CPU comes from ``time.process_time()`` in this
process, server CPU from ``/proc/<pid>/stat`` of the server process, and
"others" is the CPU the rest of the machine used during the run (from
``/proc/stat``): when it is not near zero, the run shared the two cores with
other jobs and the ratios move (bench/README.md: "Why two measurements
disagree").
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import json
import os
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from bench.config import HAVE_UTCP_HTTP, MB, MiB
from bench.servers import ServerProcess
from bench.stats import block_ratios, median
from bench.targets import drain_protocol, raw_bytes_items, raw_small

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class HeadlineConfig:
    """About 40 s on this 2-core VM at nice -10 (up to ~2.5 min at the default
    priority while other jobs hold the cores); ``tiny()`` is for the smoke test."""

    rounds: int = 15  # each round runs A B B A (B A A B the next)
    seq_calls: int = 250
    concurrent_calls: int = 200
    bytes_size: int = 48 * MiB
    chunk_size: int = 4096
    with_utcp_http: bool = HAVE_UTCP_HTTP
    # New long-lived clients (warmed, unmeasured) at the start of every round,
    # so that the ratio is not that of one connection set (_run_scenario).
    renew_clients: bool = True
    # Scheduling priority of the client and the server process while they run
    # (``os.setpriority``; lowering it below 0 needs root). Other jobs on the
    # machine then yield the cores to the benchmark instead of sharing them.
    nice: int | None = -10

    @classmethod
    def tiny(cls) -> HeadlineConfig:
        return cls(rounds=2, seq_calls=10, concurrent_calls=10, bytes_size=256 * 1024, nice=None)


# ---------------------------------------------------------------------------
# CPU accounting: this process, the server process, the whole machine
# ---------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds (10 ms resolution), None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy_s() -> float | None:
    """CPU seconds all processes used so far (every core), None off Linux."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class Run:
    """One measured run: wall and CPU seconds (client, server, everything else)."""

    wall: float
    cpu: float
    server_cpu: float | None
    others_cpu: float | None
    work: int
    connections: int | None = None


@dataclass
class Side:
    """One implementation of a scenario: ``run(state)`` does the work once and
    returns how much; ``setup`` (per round when ``fresh``) builds its client."""

    name: str
    setup: Callable[[], Awaitable[Any]]
    run: Callable[[Any], Awaitable[int]]
    close: Callable[[Any], Awaitable[None]]
    fresh: bool = False
    state: Any = None


@dataclass
class Scenario:
    key: str
    title: str
    a: Side  # the plugin
    b: Side  # the reference
    expected: int
    per: int  # calls per run (CPU per call) or bytes per run
    unit: str  # "calls/s", "ms" or "MB/s"
    target: float
    op: str  # ">=" for rates, "<=" for times
    runs: dict[str, list[Run]] = field(default_factory=dict)
    function_calls: dict[str, int] = field(default_factory=dict)


class _Meter:
    """Measures one run of a side: wall, client CPU, server CPU, the rest of
    the machine, and the connections the server accepted meanwhile."""

    def __init__(self, server_pid: int, stats_url: str) -> None:
        self.server_pid = server_pid
        self.stats_url = stats_url
        self.ctl: aiohttp.ClientSession | None = None  # reads /stats, on a connection of its own

    async def connections(self) -> int:
        assert self.ctl is not None
        async with self.ctl.get(self.stats_url) as resp:
            return (await resp.json())["connections"]

    async def measure(self, side: Side) -> Run:
        state = await side.setup() if side.fresh else side.state
        try:
            before = await self.connections()
            gc.collect()
            server0, busy0 = _proc_cpu_s(self.server_pid), _machine_busy_s()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            work = await side.run(state)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            server1, busy1 = _proc_cpu_s(self.server_pid), _machine_busy_s()
            connections = await self.connections() - before
        finally:
            if side.fresh:
                await side.close(state)
        server_cpu = None if server0 is None or server1 is None else server1 - server0
        others = None
        if busy0 is not None and busy1 is not None and server_cpu is not None:
            others = max(0.0, (busy1 - busy0) - cpu - server_cpu)
        return Run(wall, cpu, server_cpu, others, work, connections)


AUTOGROUP = "/proc/self/autogroup"


def _autogroup_nice() -> int | None:
    """The nice value of this session's scheduler autogroup (Linux), if any."""
    try:
        with open(AUTOGROUP) as f:
            return int(f.read().split("nice")[1])
    except (OSError, IndexError, ValueError):
        return None


def _set_autogroup_nice(nice: int) -> None:
    with open(AUTOGROUP, "w") as f:
        f.write(str(nice))


@contextlib.contextmanager
def _priority(nice: int | None, server_pid: int | None) -> Iterator[str]:
    """Run this process and the server at ``nice`` for the duration; yields what was applied.

    With ``kernel.sched_autogroup_enabled`` (the default on desktop and many VM
    kernels) every session is one scheduling group and a process's nice value
    only orders it within its own group: against other sessions' jobs it is the
    group's nice (``/proc/self/autogroup``, shared with the server, a child
    process) that counts, so both are set and both restored afterwards.
    """
    if nice is None or server_pid is None or not hasattr(os, "setpriority"):
        yield "default"
        return
    me = os.getpid()
    before = os.getpriority(os.PRIO_PROCESS, me)
    group_before = _autogroup_nice()
    applied = []
    try:
        for pid in (me, server_pid):
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        applied.append(f"nice {nice}")
        if group_before is not None:
            _set_autogroup_nice(nice)
            applied.append(f"autogroup nice {nice}")
    except OSError as exc:
        applied.append(f"(nice {nice} refused: {exc.strerror})")
    try:
        yield " + ".join(applied) + " for the client and the server"
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, me, before)
        if group_before is not None:
            with contextlib.suppress(OSError):
                _set_autogroup_nice(group_before)


async def _count_function_calls(side: Side) -> int:
    """Python and C function calls of one run, counted by cProfile (coroutine
    resumptions included). Unlike time, the count does not depend on the load
    of the machine: a change in it is a change in the code path."""
    state = await side.setup() if side.fresh else side.state
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        try:
            await side.run(state)
        finally:
            profiler.disable()
    finally:
        if side.fresh:
            await side.close(state)
    return pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# the scenarios
# ---------------------------------------------------------------------------


def _plugin_protocol() -> Any:
    from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol

    return StreamableHttpCommunicationProtocol()


def _plugin_template(base: str, path: str, **fields: Any) -> Any:
    from utcp_http_stream.template import StreamableHttpCallTemplate

    return StreamableHttpCallTemplate(name="bench", url=base + path, **fields)


async def _new_plugin() -> Any:
    return _plugin_protocol()


async def _new_raw_uncapped() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def _close(obj: Any) -> None:
    await obj.close()


def _calls(cfg: HeadlineConfig, base: str, *, concurrent: bool, fresh: bool) -> tuple[Side, Side]:
    n = cfg.concurrent_calls if concurrent else cfg.seq_calls
    template = _plugin_template(base, "/json")
    url = base + "/json"

    async def many(call: Callable[[], Awaitable[Any]]) -> int:
        if concurrent:
            return len(await asyncio.gather(*(call() for _ in range(n))))
        for _ in range(n):
            await call()
        return n

    async def plugin(proto: Any) -> int:
        return await many(lambda: proto.call_tool(None, "bench.small", {}, template))

    async def raw(session: aiohttp.ClientSession) -> int:
        return await many(lambda: raw_small(session, url))

    return (
        Side("plugin", _new_plugin, plugin, _close, fresh),
        Side("raw aiohttp" + (", no limit" if concurrent else ""), _new_raw_uncapped, raw, _close, fresh),
    )


def _bytes(cfg: HeadlineConfig, base: str) -> tuple[Side, Side]:
    from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate
    from utcp_http.streamable_http_communication_protocol import StreamableHttpCommunicationProtocol

    args = {"n": cfg.bytes_size}
    template = _plugin_template(base, "/bytes", chunk_size=cfg.chunk_size)
    uh_template = StreamableHttpCallTemplate(name="bench", url=base + "/bytes", chunk_size=cfg.chunk_size)

    async def new_uh() -> Any:
        return StreamableHttpCommunicationProtocol()

    async def run(proto: Any, tpl: Any) -> int:
        return await drain_protocol(proto, tpl, args, measure_bytes=True)

    async def plugin(proto: Any) -> int:
        return await run(proto, template)

    async def uh(proto: Any) -> int:
        return await run(proto, uh_template)

    return Side("plugin", _new_plugin, plugin, _close), Side("utcp-http", new_uh, uh, _close)


def _bytes_floor(cfg: HeadlineConfig, base: str) -> tuple[Side, Side]:
    """The plugin against the leanest aiohttp loop that yields the same 4 KiB
    items (``iter_any()``, the plugin's ``cut``, one async generator): what
    the plugin's own code around the cut costs, and the least any
    aiohttp-based client that keeps the contract spends (README: "bytes_4k
    against aiohttp's own floor")."""
    template = _plugin_template(base, "/bytes", chunk_size=cfg.chunk_size)
    url = f"{base}/bytes?n={cfg.bytes_size}"

    async def plugin(proto: Any) -> int:
        return await drain_protocol(proto, template, {"n": cfg.bytes_size}, measure_bytes=True)

    async def raw(session: aiohttp.ClientSession) -> int:
        return await raw_bytes_items(session, url, cfg.chunk_size)

    return Side("plugin", _new_plugin, plugin, _close), Side("raw aiohttp, same items", _new_raw_uncapped, raw, _close)


def build_scenarios(cfg: HeadlineConfig, base: str) -> list[Scenario]:
    kib = cfg.chunk_size // 1024
    scenarios = [
        Scenario(
            "seq",
            f"{cfg.seq_calls} sequential small JSON calls on one connection (long-lived clients)",
            *_calls(cfg, base, concurrent=False, fresh=False),
            expected=cfg.seq_calls,
            per=cfg.seq_calls,
            unit="calls/s",
            target=0.9,
            op=">=",
        ),
        Scenario(
            "concurrent",
            f"{cfg.concurrent_calls} concurrent small JSON calls, uncapped pools, warm (connections reused)",
            *_calls(cfg, base, concurrent=True, fresh=False),
            expected=cfg.concurrent_calls,
            per=cfg.concurrent_calls,
            unit="ms",
            target=1.2,
            op="<=",
        ),
        Scenario(
            "concurrent_fresh",
            f"{cfg.concurrent_calls} concurrent small JSON calls, uncapped pools, fresh client per round",
            *_calls(cfg, base, concurrent=True, fresh=True),
            expected=cfg.concurrent_calls,
            per=cfg.concurrent_calls,
            unit="ms",
            target=1.2,
            op="<=",
        ),
    ]
    def stream(key: str, title: str, sides: tuple[Side, Side], target: float) -> Scenario:
        return Scenario(key, title, *sides, expected=cfg.bytes_size, per=cfg.bytes_size, unit="MB/s",
                        target=target, op=">=")

    if cfg.with_utcp_http:
        scenarios.append(stream(
            f"bytes_{kib}k",
            f"bytes stream of {cfg.bytes_size / MiB:g} MiB read in {kib} KiB pieces (long-lived clients)",
            _bytes(cfg, base),
            2.0,
        ))
    scenarios.append(stream(
        f"bytes_{kib}k_floor",
        f"the same stream: the plugin against the leanest aiohttp loop yielding the same {kib} KiB items",
        _bytes_floor(cfg, base),
        0.9,
    ))
    return scenarios


# ---------------------------------------------------------------------------
# running and summarizing
# ---------------------------------------------------------------------------


async def run_headline(cfg: HeadlineConfig, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every scenario in A B B A rounds; the results dict (JSON-able)."""
    log = log or (lambda message: None)
    started = time.perf_counter()
    with ServerProcess() as server, _priority(cfg.nice, server.proc.pid if server.proc else None) as priority:
        assert server.proc is not None
        meter = _Meter(server.proc.pid, server.base + "/stats")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=600)) as meter.ctl:
            scenarios = build_scenarios(cfg, server.base)
            for sc in scenarios:
                await _run_scenario(sc, cfg.rounds, meter, renew=cfg.renew_clients)
                log(f"  {sc.key}: {cfg.rounds} rounds done")
    return {
        "config": asdict(cfg),
        "priority": priority,
        "duration_s": round(time.perf_counter() - started, 1),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "scenarios": {sc.key: summarize(sc) for sc in scenarios},
    }


async def _run_scenario(sc: Scenario, rounds: int, meter: _Meter, *, renew: bool = True) -> None:
    """``rounds`` rounds of A B B A (B A A B every other round), then one
    counted run per side (function calls).

    Each round starts with new long-lived clients, warmed by one unmeasured
    run each (``renew``; else once, before the first round): a warm pool's
    ratio depends on the connection set it happens to hold (four client
    pairs in one process measured 1.23x, 1.06x, 1.17x and 1.25x on the same
    code), so one pair for the whole scenario is one draw from that spread,
    and a new pair per round samples it (bench/README.md)."""
    sides = (sc.a, sc.b)
    sc.runs = {side.name: [] for side in sides}
    try:
        for r in range(rounds):
            if r == 0 or (renew and not sc.a.fresh):  # a fresh side makes its client per run
                await _new_clients(sides, meter)
            first, second = sides if r % 2 == 0 else sides[::-1]
            for side in (first, second, second, first):
                sc.runs[side.name].append(await meter.measure(side))
        sc.function_calls = {side.name: await _count_function_calls(side) for side in sides}
    finally:
        for side in sides:
            await _close_state(side)


async def _new_clients(sides: tuple[Side, Side], meter: _Meter) -> None:
    """New long-lived clients, and one unmeasured run per side (imports, first
    connections, caches)."""
    for side in sides:
        if not side.fresh:
            await _close_state(side)
            side.state = await side.setup()
    for side in sides:
        await meter.measure(side)


async def _close_state(side: Side) -> None:
    """Close a long-lived side's client (a fresh side keeps none between runs)."""
    state, side.state = side.state, None
    if state is not None:
        await side.close(state)


def _value(sc: Scenario, run: Run) -> float:
    if sc.unit == "ms":
        return run.wall * 1000
    if sc.unit == "MB/s":
        return run.work / MB / run.wall
    return run.work / run.wall


def summarize(sc: Scenario) -> dict[str, Any]:
    a_runs, b_runs = sc.runs[sc.a.name], sc.runs[sc.b.name]
    bad = [
        f"{name}: did {r.work}, expected {sc.expected}"
        for name, runs in sc.runs.items()
        for r in runs
        if r.work != sc.expected
    ]
    # per round (A B B A): time(plugin) / time(reference), and the same for client CPU
    time_ratios = block_ratios([r.wall for r in a_runs], [r.wall for r in b_runs])
    ratios = time_ratios if sc.unit == "ms" else [1 / x for x in time_ratios if x]
    ratio = median(ratios)
    cpu_ratio = median(block_ratios([r.cpu for r in a_runs], [r.cpu for r in b_runs]))
    fa, fb = sc.function_calls.get(sc.a.name), sc.function_calls.get(sc.b.name)
    calls_ratio = fa / fb if fa and fb else None
    sides = {}
    for name, runs in sc.runs.items():
        sides[name] = {
            "value": median([_value(sc, r) for r in runs]),
            "wall_s": median([r.wall for r in runs]),
            "cpu_s": median([r.cpu for r in runs]),
            "cpu_us_per_call": None if sc.unit == "MB/s" else median([r.cpu / sc.per * 1e6 for r in runs]),
            "server_cpu_s": median([r.server_cpu for r in runs if r.server_cpu is not None]),
            "others_cpu_s": median([r.others_cpu for r in runs if r.others_cpu is not None]),
            # cores the rest of the machine kept busy during the runs (2 = both cores of this VM)
            "others_cores": median([r.others_cpu / r.wall for r in runs if r.others_cpu is not None and r.wall]),
            "connections": sorted({r.connections for r in runs if r.connections is not None}),
            "function_calls_per_run": sc.function_calls.get(name),
            "walls_s": [round(r.wall, 5) for r in runs],
            "cpus_s": [round(r.cpu, 5) for r in runs],
            "others_cores_per_run": [None if r.others_cpu is None else round(r.others_cpu / r.wall, 3) for r in runs],
        }
    by_load = _by_load(sc, ratios, a_runs, b_runs)
    met = None if ratio is None else (ratio >= sc.target if sc.op == ">=" else ratio <= sc.target)
    return {
        "title": sc.title,
        "unit": sc.unit,
        "a": sc.a.name,
        "b": sc.b.name,
        "ratio": ratio,
        "ratio_quartiles": _quartiles(ratios),
        "ratios": [round(x, 4) for x in ratios],
        "cpu_ratio": cpu_ratio,
        "function_calls_ratio": calls_ratio,
        "target": sc.target,
        "op": sc.op,
        "met": met,
        "by_load": by_load,
        "errors": bad,
        "sides": sides,
    }


QUIET_CORES = 0.3  # a round is "quiet" when the rest of the machine kept less than this busy
BUSY_CORES = 0.7


def _by_load(sc: Scenario, ratios: list[float], a_runs: list[Run], b_runs: list[Run]) -> dict[str, Any]:
    """The per-round ratios split by how busy the rest of the machine was in
    that round: the evidence for what load does to a ratio, from the run itself."""
    loads = []
    for start in range(0, min(len(a_runs), len(b_runs)) - 1, 2):
        runs = a_runs[start : start + 2] + b_runs[start : start + 2]
        if any(r.others_cpu is None for r in runs):
            return {}
        loads.append(sum(r.others_cpu or 0.0 for r in runs) / sum(r.wall for r in runs))
    if len(loads) != len(ratios):
        return {}
    quiet = [x for x, load in zip(ratios, loads, strict=True) if load < QUIET_CORES]
    busy = [x for x, load in zip(ratios, loads, strict=True) if load >= BUSY_CORES]
    return {
        "round_others_cores": [round(x, 3) for x in loads],
        "quiet": {"rounds": len(quiet), "ratio": median(quiet)},
        "busy": {"rounds": len(busy), "ratio": median(busy)},
    }


def _quartiles(values: list[float]) -> list[float] | None:
    if len(values) < 4:
        return None
    q = statistics.quantiles(values, n=4)
    return [round(q[0], 3), round(q[2], 3)]


def render_headline(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        f"headline scenarios: {cfg['rounds']} interleaved A B B A rounds, paired medians "
        f"({results['duration_s']} s; priority {results['priority']}; load average at end {results['loadavg_at_end']})",
        "  'ratio': median over A B B A rounds of value(plugin)/value(reference) (rates: >1 faster; ms: <1 faster),"
        " [quartiles]",
        "  'cpu': client CPU (time.process_time); 'server': CPU of the server process (10 ms ticks); 'others': cores",
        "  the rest of the machine kept busy meanwhile (0 on a quiet machine; near 2, the runs shared both cores);",
        "  'function calls': Python and C calls in one run (cProfile), the same whatever the load",
        "",
    ]
    for key, s in results["scenarios"].items():
        lines.append(f"[{key}] {s['title']}")
        for name, side in s["sides"].items():
            per_call = side["cpu_us_per_call"]
            cpu = f"{per_call:7.1f} us/call" if per_call is not None else f"{side['cpu_s']:7.3f} s/run "
            lines.append(
                f"  {name:<22}{_fmt_value(side['value'], s['unit']):>12} {s['unit']:<8} cpu {cpu}"
                f"  server {_fmt_s(side['server_cpu_s'])}  others {_fmt_cores(side['others_cores'])}"
                f"  conns {side['connections']}"
            )
        q = s["ratio_quartiles"]
        lines.append(
            f"  ratio {s['ratio']:.3f}x {q or ''}  client CPU plugin/reference {s['cpu_ratio']:.2f}x"
            f"  function calls plugin/reference {_fmt_x(s.get('function_calls_ratio'))}"
            if s["ratio"] is not None
            else "  ratio n/a"
        )
        split = s.get("by_load") or {}
        if split:
            quiet, busy = split["quiet"], split["busy"]
            lines.append(
                f"  by load: {quiet['rounds']} quiet rounds (others < {QUIET_CORES} cores) {_fmt_x(quiet['ratio'])}, "
                f"{busy['rounds']} busy rounds (>= {BUSY_CORES} cores) {_fmt_x(busy['ratio'])}"
            )
        lines.extend(f"  ! {e}" for e in s["errors"][:3])
        lines.append("")
    lines.append("targets (paired, this run):")
    labels = {
        "seq": "sequential calls on one connection >= 0.9x raw aiohttp's rate",
        "concurrent": "200 concurrent calls <= 1.2x raw aiohttp's time (same uncapped pool, warm)",
        "concurrent_fresh": "(fresh pools: 200 connects in both, for comparison) <= 1.2x raw aiohttp's time",
        "bytes_4k": "bytes at 4 KiB chunks >= 2x utcp-http's rate",
        "bytes_4k_floor": "(the floor: the leanest aiohttp loop yielding the same items) >= 0.9x its rate",
    }
    for key, s in results["scenarios"].items():
        status = {True: "MET   ", False: "MISSED", None: "n/a   "}[s["met"]]
        cpu = f" (client CPU per call {s['cpu_ratio']:.2f}x the reference's)" if s["unit"] != "MB/s" else ""
        value = "n/a" if s["ratio"] is None else f"{s['ratio']:.3f}x"
        lines.append(f"  [{status}] {labels.get(key, key)}: {value}{cpu}")
    ceiling = bytes_ceiling(results["scenarios"])
    if ceiling is not None:
        lines.append(
            f"  the most an aiohttp-based client yielding these items could reach in bytes_4k this run"
            f" (utcp-http's time over the leanest loop's): {ceiling:.3f}x"
        )
    return "\n".join(lines)


def bytes_ceiling(scenarios: dict[str, Any]) -> float | None:
    """utcp-http's rate ratio to the leanest aiohttp loop yielding the same
    items: the bytes_4k ratio of a client with no code around the cut. It is
    the quotient of two scenarios' medians, not a paired ratio of its own."""
    items, floor = scenarios.get("bytes_4k"), scenarios.get("bytes_4k_floor")
    if not items or not floor or not items["ratio"] or not floor["ratio"]:
        return None
    return items["ratio"] / floor["ratio"]


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if unit == "ms" else f"{value:,.0f}" if unit == "calls/s" else f"{value:,.1f}"


def _fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}x"


def _fmt_cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} cores"


def _fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def dump(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=2, default=str) + "\n"
