"""The README's examples, run as a reader runs them, so they cannot rot.

Every ```python block is saved to a file and run by a fresh interpreter in a
directory holding a copy of ``manuals/`` and a ``.env``, against the demo
server (the README's ``127.0.0.1:8765`` and ``api.example.com`` stand for it).
Every ```json block is a manual or template that ``validate`` accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from utcp_http_stream.cli.validate import check_document
from utcp_http_stream.demo import DemoServerThread, DemoSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_URL = "http://127.0.0.1:8765"
# Remote APIs in examples, and the demo endpoint that stands in for each.
STAND_INS = {"https://api.example.com/v1/stream": "/chat"}
TIMEOUT = 60


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


PYTHON = _blocks("python")
#: Fragments (```py): they need files or names a reader supplies; they must parse.
FRAGMENTS = _blocks("py")
JSON = _blocks("json")


@pytest.fixture(scope="module")
def demo():
    with DemoServerThread(settings=DemoSettings(token_delay=0, job_delay=0, log_delay=0, download_delay=0)) as server:
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, demo) -> Path:
    """What a reader has: the repository's manuals (aimed at the running
    demo) and a .env beside them."""
    directory = tmp_path_factory.mktemp("reader")
    manuals = directory / "manuals"
    shutil.copytree(ROOT / "manuals", manuals)
    for path in manuals.glob("*.json"):
        path.write_text(path.read_text().replace(DEMO_URL, demo.base_url))
    (directory / ".env").write_text("demo_UNUSED=1\n")
    return directory


@pytest.fixture(scope="module")
def ran(demo, workdir: Path):
    """Each example's result: all of them started at once (an interpreter
    start and utcp's imports take a second or two each), then awaited."""
    started = {index: _start(_runnable(block, demo.base_url), workdir, index) for index, block in enumerate(PYTHON)}
    down = _start(_runnable(PYTHON[0], "http://127.0.0.1:1"), workdir, "down")
    results: dict[object, subprocess.CompletedProcess[str]] = {}

    def result(index: object) -> subprocess.CompletedProcess[str]:
        if index not in results:
            process = down if index == "down" else started[index]
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results[index] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        return results[index]

    yield result
    for process in [*started.values(), down]:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _runnable(source: str, base_url: str) -> str:
    source = source.replace(DEMO_URL, base_url)
    for remote, path in STAND_INS.items():
        source = source.replace(remote, base_url + path)
    try:
        compile(source, "example", "exec")
    except SyntaxError:  # top-level await, as in a notebook: run it in a coroutine
        source = "import asyncio\n\nasync def _example():\n" + textwrap.indent(source, "    ")
        source += "\n\nasyncio.run(_example())\n"
    return source


def _start(source: str, cwd: Path, label: object) -> subprocess.Popen[str]:
    script = cwd / f"example_{label}.py"
    script.write_text(source)
    return subprocess.Popen(
        [sys.executable, str(script)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_readme_has_the_examples_this_file_runs():
    assert len(PYTHON) >= 4 and JSON
    assert any("try:" in block and "finally:" in block and "client.close()" in block for block in PYTHON)
    assert any('"manual_call_templates"' in block and '"load_variables_from"' in block for block in PYTHON)


@pytest.mark.parametrize("index", range(len(PYTHON)), ids=[f"python{i}" for i in range(len(PYTHON))])
def test_python_example_runs_against_the_demo(index: int, ran):
    result = ran(index)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr
    assert "[INFO]" not in result.stderr, result.stderr  # the README's logging advice works
    assert result.stdout.strip(), "an example should show something"


def test_the_first_example_shows_tools_tokens_and_the_argument_error(ran):
    result = ran(0)
    lines = result.stdout.splitlines()
    assert any(line.startswith("demo.chat - ") for line in lines), result.stdout
    assert "invalid arguments for tool 'demo.chat': argument 'prompt' must be string" in result.stdout


def test_the_first_example_with_the_server_down_exits_cleanly(ran):
    result = ran("down")
    assert result.returncode == 1
    assert "could not register the demo manual" in result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr


def test_the_config_example_registers_both_manuals(ran):
    result = ran(next(index for index, block in enumerate(PYTHON) if '"manual_call_templates"' in block))
    assert result.returncode == 0, result.stderr
    names = set(result.stdout.split())
    assert {"demo.chat", "openai.chat_completion"} <= names


@pytest.mark.parametrize("index", range(len(JSON)), ids=[f"json{i}" for i in range(len(JSON))])
def test_json_example_is_valid(index: int):
    report = check_document(json.loads(JSON[index]))
    assert report.errors == []


@pytest.mark.parametrize("index", range(len(FRAGMENTS)), ids=[f"py{i}" for i in range(len(FRAGMENTS))])
def test_python_fragment_parses(index: int):
    compile(_runnable(FRAGMENTS[index], DEMO_URL), f"fragment {index}", "exec")
