"""The benchmark must not rot: run every case of ``bench/run.py`` once, at tiny
sizes, against its real loopback server process.

Only correctness is checked here (every implementation ran, did the expected
amount of work, the plugin reused one connection); the figures of a tiny run
mean nothing. The utcp-http column is skipped when ``utcp_http`` is not
installed (CI installs only the test extras).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH_RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run_under_test", BENCH_RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


async def test_every_case_runs_at_tiny_sizes(bench):
    cfg = bench.Config.tiny()
    results = await bench.run_benchmark(cfg, log=lambda message: None)

    assert list(results["cases"]) == list(bench.CASE_KEYS)
    for key, case in results["cases"].items():
        assert case["impls"], key
        for name, impl in case["impls"].items():
            assert impl["errors"] == [], (key, name, impl["errors"])
            assert impl["median"] is not None and impl["median"] > 0, (key, name)
        names = set(case["impls"])
        assert any(name.startswith("plugin") for name in names), key
        assert any(name.startswith("raw") for name in names), key
        assert any("utcp-http" in name for name in names) == bench.HAVE_UTCP_HTTP, key

    # The plugin pools: one TCP connection for all its sequential calls.
    assert set(results["cases"]["calls_seq"]["impls"]["plugin"]["connections"]) == {1}
    # The same case also went through a real UtcpClient (entry-point discovery).
    assert "plugin via UtcpClient" in results["cases"]["calls_seq"]["impls"]

    rss = results["slow_consumer_rss"]["impls"]
    assert rss["plugin"]["ok"] and rss["raw"]["ok"], rss
    if bench.HAVE_UTCP_HTTP:
        assert results["utcp_http_big_call_tool"]["status"] == "ok"

    targets = results["targets"]
    assert {t["met"] for t in targets} <= {True, False, None}
    assert len(targets) >= 8
    assert "targets (paired ratios from this run):" in bench.render(results)
    json.dumps(results, default=str)  # what --json writes


def test_command_line_writes_json(bench, tmp_path):
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--rounds", "1", "--cases", "ttfi", "--no-utcp-http", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["meta"]["mode"] == "quick"
    assert set(written["cases"]) == {"ttfi"}
    assert written["cases"]["ttfi"]["impls"]["plugin"]["errors"] == []
