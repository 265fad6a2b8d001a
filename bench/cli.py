"""The command line of ``bench/run.py``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench.config import DEFAULT_JSON, HAVE_UTCP_HTTP, Config
from bench.headline import HeadlineConfig, render_headline, run_headline
from bench.profiling import PROFILE_CASES, profile_case
from bench.report import render
from bench.runner import run_benchmark
from bench.scenarios import CASE_KEYS
from bench.slow_consumer import rss_child


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Benchmark utcp-http-stream against utcp-http and raw aiohttp.")
    p.add_argument(
        "--quick",
        action="store_true",
        help="only the headline scenarios, paired A/B (under ~2 minutes)",
    )
    p.add_argument(
        "--no-priority",
        action="store_true",
        help="--quick: leave the scheduling priority alone (by default nice -10 when permitted)",
    )
    p.add_argument("--short", action="store_true", help="every case, 2 rounds and smaller sizes (~90 s)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results (JSON)")
    p.add_argument("--rounds", type=int, help="override the number of rounds")
    p.add_argument(
        "--cases",
        help="comma-separated subset of: " + ",".join(CASE_KEYS) + ",slow_consumer_rss,decoders",
    )
    p.add_argument("--no-utcp-http", action="store_true", help="skip the utcp-http column")
    p.add_argument("--no-rss", action="store_true", help="skip the slow-consumer RSS case")
    p.add_argument("--no-decoders", action="store_true", help="skip bench/decoders.py")
    p.add_argument("--profile", choices=sorted(PROFILE_CASES), help="profile the plugin on one case and exit")
    p.add_argument("--profile-repeat", type=int, default=3)
    p.add_argument("--backend", choices=["json", "orjson"], help="JSON backend for --profile")
    # internal: one slow consumer, run in a child process
    p.add_argument("--rss-child", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--sleep", type=float, help=argparse.SUPPRESS)
    p.add_argument("--chunk-size", type=int, default=4096, help=argparse.SUPPRESS)
    return p


def _config(args: argparse.Namespace) -> Config:
    cfg = Config.short() if args.short else Config.full()
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
    return cfg


def _write(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    if args.rss_child:
        result = asyncio.run(rss_child(args.rss_child, args.base, args.size, args.sleep, args.chunk_size))
        print(json.dumps(result))
        return 0

    if args.quick:
        hcfg = HeadlineConfig()
        if args.rounds:
            hcfg.rounds = args.rounds
        if args.no_utcp_http or not HAVE_UTCP_HTTP:
            hcfg.with_utcp_http = False
        if args.no_priority:
            hcfg.nice = None
        results = asyncio.run(run_headline(hcfg, log=_log))
        print(render_headline(results))
        path = args.json if args.json != DEFAULT_JSON else DEFAULT_JSON.with_name("results-quick.json")
        _write(path, {"mode": "quick", **results})
        print(f"\nwrote {path} ({results['duration_s']} s)")
        return 0

    cfg = _config(args)
    if args.profile:
        print(asyncio.run(profile_case(cfg, args.profile, args.profile_repeat, args.backend)))
        return 0

    results = asyncio.run(run_benchmark(cfg, log=_log))
    print(render(results))
    _write(args.json, results)
    print(f"\nwrote {args.json} ({results['meta']['duration_s']} s)")
    return 0
