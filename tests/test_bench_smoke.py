"""The benchmark must not rot: run every case of ``bench/run.py`` once, at tiny
sizes, against its real loopback server process, and the headline scenarios
(``--quick``) for two rounds.

Only correctness is checked here (every implementation ran, did the expected
amount of work, the plugin reused one connection); the figures of a tiny run
mean nothing. The utcp-http column is skipped when ``utcp_http`` is not
installed (CI installs only the test extras).
"""

from __future__ import annotations

import json

from bench import cli, instructions, report
from bench.config import HAVE_UTCP_HTTP, Config
from bench.headline import HeadlineConfig, render_headline, run_headline
from bench.runner import run_benchmark
from bench.scenarios import CASE_KEYS
from bench.servers import ServerProcess
from bench.stats import block_ratios


async def test_every_case_runs_at_tiny_sizes():
    results = await run_benchmark(Config.tiny(), log=lambda message: None)

    assert list(results["cases"]) == list(CASE_KEYS)
    for key, case in results["cases"].items():
        assert case["impls"], key
        for name, impl in case["impls"].items():
            assert impl["errors"] == [], (key, name, impl["errors"])
            assert impl["median"] is not None and impl["median"] > 0, (key, name)
        names = set(case["impls"])
        assert any(name.startswith("plugin") for name in names), key
        assert any(name.startswith("raw") for name in names), key
        assert any("utcp-http" in name for name in names) == HAVE_UTCP_HTTP, key

    # The plugin pools: one TCP connection for all its sequential calls.
    assert set(results["cases"]["calls_seq"]["impls"]["plugin"]["connections"]) == {1}
    # The same case also went through a real UtcpClient (entry-point discovery).
    assert "plugin via UtcpClient" in results["cases"]["calls_seq"]["impls"]

    rss = results["slow_consumer_rss"]["impls"]
    assert rss["plugin"]["ok"] and rss["raw"]["ok"], rss
    if HAVE_UTCP_HTTP:
        assert results["utcp_http_big_call_tool"]["status"] == "ok"

    targets = results["targets"]
    assert {t["met"] for t in targets} <= {True, False, None}
    assert len(targets) >= 8
    assert "targets (paired ratios from this run):" in report.render(results)
    json.dumps(results, default=str)  # what --json writes


async def test_headline_scenarios_run_paired():
    results = await run_headline(HeadlineConfig.tiny())

    expected = {"seq", "concurrent", "concurrent_fresh", "bytes_4k_floor"} | ({"bytes_4k"} if HAVE_UTCP_HTTP else set())
    assert set(results["scenarios"]) == expected
    for key, scenario in results["scenarios"].items():
        assert scenario["errors"] == [], (key, scenario["errors"])
        assert len(scenario["ratios"]) == 2, key  # one paired ratio per A B B A round
        assert scenario["ratio"] > 0 and scenario["cpu_ratio"] > 0, key
        assert scenario["met"] in (True, False), key
    # Sequential calls stay on one connection per run for both clients (none after warm-up).
    assert set(results["scenarios"]["seq"]["sides"]["plugin"]["connections"]) <= {0, 1}
    # Fresh uncapped pools open one connection per concurrent call, for both.
    for side in results["scenarios"]["concurrent_fresh"]["sides"].values():
        assert side["connections"] == [10], side
    rendered = render_headline(results)
    assert "targets (paired, this run):" in rendered
    if HAVE_UTCP_HTTP:
        assert "the most an aiohttp-based client yielding these items could reach in bytes_4k" in rendered
    json.dumps(results, default=str)


def test_command_line_writes_json(tmp_path):
    out = tmp_path / "results.json"
    assert cli.main(["--short", "--rounds", "1", "--cases", "ttfi", "--no-utcp-http", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["meta"]["mode"] == "short"
    assert set(written["cases"]) == {"ttfi"}
    assert written["cases"]["ttfi"]["impls"]["plugin"]["errors"] == []


async def test_the_instruction_count_client_runs_both_sides():
    # What bench/instructions.py runs under valgrind, here without it: both
    # sides, every mode, against the loopback server process.
    with ServerProcess() as server:
        for mode in ("seq", "conc", "args"):
            for side in instructions.SIDES:
                await instructions.run_client(mode, side, 200, server.base)


def test_block_ratios_cancel_the_position_within_a_round():
    # A B B A: the side that runs first is 10 % slower; per-run ratios would
    # split into 1.1x and 0.9x clusters, the per-round sums do not.
    a = [1.1, 1.0, 1.0, 1.1]  # round 1: A first (slow) then A last; round 2: A second and third
    b = [1.0, 1.1, 1.1, 1.0]
    assert block_ratios(a, b) == [1.0, 1.0]
    assert block_ratios([2.0, 2.0, float("nan"), 1.0], [1.0, 1.0, 1.0, 1.0]) == [2.0]
