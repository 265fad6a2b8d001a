"""Targets (MET / MISSED from the paired ratios of a run) and the text report."""

from __future__ import annotations

from typing import Any


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
