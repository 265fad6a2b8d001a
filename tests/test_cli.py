"""The ``utcp-http-stream`` command, run as a user runs it: the installed console
script in a subprocess, against the demo server (in a thread of this process,
or started with ``serve-demo`` in a subprocess). Exit codes, stdout, stderr,
files written, a real terminal (pty), and Ctrl-C mid-stream.

Every wait is bounded: a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from utcp_http_stream.demo import DOWNLOAD_SIZE, DemoServerThread, DemoSettings, build_manual, payload
from utcp_http_stream.demo.content import reply_tokens

TIMEOUT = 30  # seconds, for any single command


def _find_cli() -> str:
    beside_python = Path(sys.executable).parent / "utcp-http-stream"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("utcp-http-stream")
    if found:
        return found
    pytest.skip("the utcp-http-stream console script is not installed (pip install -e .)")
    raise AssertionError  # unreachable


CLI = _find_cli()
FAST = DemoSettings(token_delay=0.001, job_delay=0.001, log_delay=0.001, download_delay=0)
MANUALS = Path(__file__).resolve().parent.parent / "manuals"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update(extra)
    return env


def run(*args: str, timeout: float = TIMEOUT, env: dict[str, str] | None = None, cwd: Path | None = None):
    """The CLI's result, with text stdout/stderr."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, env=env or _env(), cwd=cwd)


def run_binary(*args: str, timeout: float = TIMEOUT):
    return subprocess.run([CLI, *args], capture_output=True, timeout=timeout, env=_env())


def assert_one_error_line(result, code: int | tuple[int, ...]) -> str:
    """A failure is one ``error:`` line on stderr, no traceback, and ``code``."""
    codes = code if isinstance(code, tuple) else (code,)
    assert result.returncode in codes, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _read_line(stream, timeout: float) -> str:
    """One line from a subprocess pipe, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = stream.fileno()
    while not buffer.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete line within {timeout} s (got {buffer!r})")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            byte = os.read(fd, 1)
            if not byte:
                raise AssertionError(f"stream closed (got {buffer!r})")
            buffer += byte
    return buffer.decode()


def run_in_pty(*args: str, timeout: float = TIMEOUT, env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr (100x30)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [CLI, *args], stdin=slave, stdout=slave, stderr=slave, env=env or _env(TERM="xterm-256color")
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out in a pty; output so far: {bytes(output[-500:])!r}")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            output += data
        return process.wait(timeout=10), bytes(output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(master)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    with DemoServerThread(settings=FAST) as server:
        yield server


@pytest.fixture(scope="module")
def files(demo, tmp_path_factory):
    """A manual call template file and a UTCP manual file for the running demo."""
    directory = tmp_path_factory.mktemp("manuals")
    template = directory / "demo.json"
    template.write_text(json.dumps({"name": "demo", "call_template_type": "streamable_http", "url": demo.manual_url}))
    manual = directory / "demo_manual.json"
    manual.write_text(json.dumps(build_manual(demo.base_url, FAST)))
    return type("Files", (), {"template": str(template), "manual": str(manual), "dir": directory})


# -- basics ---------------------------------------------------------------------------------------


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "serve-demo", "discover", "call", "request", "validate"):
        assert command in result.stdout
    for command in ("call", "request", "validate", "discover", "serve-demo", "demo"):
        assert run(command, "--help").returncode == 0


def test_import_is_light():
    code = (
        "import sys, utcp_http_stream.cli; "
        "heavy = [m for m in ('rich', 'utcp', 'aiohttp', 'pydantic') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_usage_errors_are_one_line_and_exit_2():
    assert "invalid choice" in assert_one_error_line(run("bogus"), 2)
    assert "required" in assert_one_error_line(run("call"), 2)
    assert "key=value" in assert_one_error_line(run("call", str(MANUALS / "demo.json"), "chat", "novalue"), 2)


# -- demo / serve-demo ------------------------------------------------------------------------------


def test_demo_runs_end_to_end_without_a_terminal():
    started = time.monotonic()
    result = run("demo", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "\x1b" not in result.stderr  # plain lines, no escape codes
    assert "registered 5 tools" in out
    assert "".join(reply_tokens("Why stream tool output?")[0]) in out  # the tokens, joined
    assert "100%" in out and "20/20" in out  # job progress, plain
    assert "ERROR api: upstream payments timed out" in out  # log tail
    assert f"sha256 verified ({payload(DOWNLOAD_SIZE).sha256[:16]}" in out
    for tool in ("demo.chat", "demo.job_progress", "demo.log_tail", "demo.download"):
        assert any(line.startswith(tool) for line in out.splitlines()), tool
    assert "first item" in out and "all tools streamed OK" in out
    assert elapsed < 30


def test_serve_demo_prints_its_urls_serves_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [CLI, "serve-demo", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    try:
        first = _read_line(process.stdout, 15)
        assert first.startswith("demo server listening on http://127.0.0.1:")
        manual_line = _read_line(process.stdout, 5)
        assert manual_line.startswith("manual: ")
        manual_url = manual_line.split(" ", 1)[1].strip()
        assert manual_url == first.rsplit(" ", 1)[1].strip() + "/utcp"

        listed = run("discover", manual_url, "--name", "demo")
        assert listed.returncode == 0, listed.stderr
        assert "demo.chat" in listed.stdout and "demo.download" in listed.stdout

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert b"stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_demo_on_a_taken_port_fails_with_one_line(demo):
    port = demo.base_url.rsplit(":", 1)[1]
    line = assert_one_error_line(run("serve-demo", "--port", port), 1)
    assert f"127.0.0.1:{port}" in line


# -- discover ---------------------------------------------------------------------------------------


def test_discover_lists_tools_with_their_inputs(demo):
    result = run("discover", demo.manual_url, "--name", "demo")
    assert result.returncode == 0, result.stderr
    assert "5 tools" in result.stdout
    assert "prompt (string, required)" in result.stdout
    assert "job_id (string, required)" in result.stdout
    assert "select /choices/0/delta/content" in result.stdout


def test_discover_json_prints_the_manual(demo, files):
    result = run("discover", files.template, "--json")
    assert result.returncode == 0, result.stderr
    manual = json.loads(result.stdout)
    assert [tool["name"] for tool in manual["tools"]] == [
        "chat",
        "job_progress",
        "log_tail",
        "download",
        "download_info",
    ]
    assert manual["tools"][0]["tool_call_template"]["call_template_type"] == "streamable_http"


def test_discover_errors(demo):
    refused = assert_one_error_line(run("discover", "http://127.0.0.1:1/utcp"), 1)
    assert "could not connect" in refused
    insecure = assert_one_error_line(run("discover", "http://example.com/utcp"), (1, 2))
    assert "plain http" in insecure
    not_found = assert_one_error_line(run("discover", demo.base_url + "/nope"), 1)
    assert "404" in not_found


# -- call ---------------------------------------------------------------------------------------------


def test_call_streams_tokens_through_a_manual_call_template(files):
    result = run("call", files.template, "chat", "prompt=hello there", "max_tokens=7")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(reply_tokens("hello there", 7)[0]) + "\n"
    assert result.stderr == ""


def test_call_a_tool_of_a_manual_file_directly(files):
    result = run("call", files.manual, "job_progress", "job_id=j1", "steps=4", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3, 4]
    assert records[-1] == {
        "job": "j1",
        "step": 4,
        "total": 4,
        "percent": 100.0,
        "message": "done",
        "done": True,
    }


def test_call_a_url_directly_and_text_lines(demo):
    result = run("call", demo.manual_url, "log_tail", "service=worker", "lines=3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(" worker: " in line for line in lines)


def test_call_args_json_and_key_value_values_parse_as_json(files):
    result = run("call", files.template, "chat", "--args", '{"prompt": "x", "max_tokens": 10}', "max_tokens=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(reply_tokens("x", 2)[0]) + "\n"  # 2 parsed as a number, overriding --args


def test_call_download_to_a_file_checks_out(files, tmp_path):
    target = tmp_path / "out" / "demo.bin"
    target.parent.mkdir()
    result = run("call", files.manual, "download", "-o", str(target))
    assert result.returncode == 0, result.stderr
    expected = payload(FAST.download_size)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected.sha256
    assert f"wrote {expected.size} bytes to {target} (sha256 {expected.sha256})" in result.stderr
    assert [p.name for p in target.parent.iterdir()] == ["demo.bin"]  # no temp file left behind


def test_call_download_to_a_pipe_writes_the_bytes(files):
    result = run_binary("call", files.template, "download")
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(result.stdout).hexdigest() == payload(FAST.download_size).sha256


def test_call_usage_errors_exit_2(files, tmp_path):
    assert "prompt" in assert_one_error_line(run("call", files.template, "chat"), 2)
    assert "available: chat" in assert_one_error_line(run("call", files.manual, "nope"), 2)
    assert "no such file" in assert_one_error_line(run("call", str(tmp_path / "missing.json"), "x"), 2)
    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{ not json")
    assert "not valid JSON" in assert_one_error_line(run("call", str(bad_json), "x"), 2)
    assert "--args" in assert_one_error_line(run("call", files.template, "chat", "--args", "[1]"), 2)


def test_call_resolves_variables_like_utcp_client(demo, tmp_path):
    manual = {
        "manual_version": "1.0.0",
        "utcp_version": "1.0.0",
        "tools": [
            {
                "name": "logs",
                "inputs": {"type": "object", "properties": {"service": {"type": "string"}}},
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": demo.base_url + "/logs/{service}/tail",
                    "headers": {"X-Api-Key": "${LOG_KEY}"},
                },
            }
        ],
    }
    path = tmp_path / "my_logs.json"
    path.write_text(json.dumps(manual))
    missing = assert_one_error_line(run("call", str(path), "logs", "service=api", "lines=1"), 2)
    assert "my__logs_LOG_KEY" in missing  # the manual's name, underscores doubled, as UtcpClient does

    env_file = tmp_path / ".env"
    env_file.write_text("my__logs_LOG_KEY=s3cret\n")
    result = run("call", str(path), "logs", "service=api", "lines=2", "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "s3cret" not in result.stdout + result.stderr


def test_call_failures_exit_1_with_one_line(demo, files, tmp_path):
    template = tmp_path / "down.json"
    template.write_text(
        json.dumps({"name": "down", "call_template_type": "streamable_http", "url": "http://127.0.0.1:1/utcp"})
    )
    assert "could not" in assert_one_error_line(run("call", str(template), "chat"), 1)
    result = run("call", files.manual, "job_progress", "job_id=x", "steps=0")  # schema-typed, but below minimum
    assert "HTTP 400" in assert_one_error_line(result, 1)


def test_debug_shows_the_traceback():
    result = run("--debug", "request", "GET", "http://127.0.0.1:1/")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "error: could not connect" in result.stderr


# -- request --------------------------------------------------------------------------------------------


def test_request_streams_with_the_plugins_decoding(demo):
    lines = run("request", "GET", demo.base_url + "/logs/api/tail?lines=2")
    assert lines.returncode == 0, lines.stderr
    assert len(lines.stdout.splitlines()) == 2

    chat = run(
        "request", "POST", demo.base_url + "/chat?max_tokens=3", "--body", '{"prompt": "yo"}',
        "--select", "/choices/0/delta/content", "-H", "X-Trace: 1", "--include",
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "".join(reply_tokens("yo", 3)[0]) + "\n"
    assert "HTTP 200 OK" in chat.stderr and "sse framing" in chat.stderr

    events = run("request", "POST", demo.base_url + "/chat?max_tokens=1", "--body", "plain", "--json")
    documents = [json.loads(line) for line in events.stdout.splitlines()]
    assert documents[0]["object"] == "chat.completion.chunk" and len(documents) == 3  # role, 1 token, finish


def test_request_errors(demo):
    assert "plain http" in assert_one_error_line(run("request", "GET", "http://example.com/x"), 2)
    assert "JSON Pointer" in assert_one_error_line(
        run("request", "GET", demo.base_url + "/stats", "--select", "nope"), 2
    )
    assert "Name:value" in assert_one_error_line(run("request", "GET", demo.base_url, "-H", "bad"), 2)
    assert "404" in assert_one_error_line(run("request", "GET", demo.base_url + "/missing"), 1)
    assert "could not connect" in assert_one_error_line(run("request", "GET", "http://127.0.0.1:1/"), 1)


# -- validate --------------------------------------------------------------------------------------------


def test_validate_accepts_every_shipped_manual():
    result = run("validate", *sorted(str(p) for p in MANUALS.glob("*.json")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("OK ") == len(list(MANUALS.glob("*.json")))
    assert "warning" not in result.stderr


def test_validate_reports_every_problem_with_its_json_path(tmp_path):
    document = {
        "manual_version": "1.0.0",
        "utcp_version": "1.0.0",
        "tools": [
            {
                "name": "ok",
                "tool_call_template": {"call_template_type": "streamable_http", "url": "https://a.example/x"},
            },
            {
                "name": "ok",
                "tool_call_template": {"call_template_type": "streamable_http", "url": "http://a.example/x"},
            },
            {
                "name": "bad",
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": "https://a.example/x",
                    "http_method": "FETCH",
                    "chunk_size": 0,
                    "auth": {"auth_type": "oauth2", "client_id": "${ID}"},
                },
            },
            {"name": "nothing"},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = run("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for expected in (
        "tools[1].name: duplicate tool name 'ok'",
        "tools[1].tool_call_template.url:",
        "tools[2].tool_call_template.http_method: http_method 'FETCH' is not supported",
        "tools[2].tool_call_template.chunk_size:",
        "tools[2].tool_call_template.auth.token_url: Field required",
        "tools[2].tool_call_template.auth.client_secret: Field required",
        "tools[3].tool_call_template: missing",
    ):
        assert f"error: {path}: {expected}" in result.stderr, (expected, result.stderr)


def test_validate_upgrades_a_legacy_provider_and_writes_with_a_backup(tmp_path):
    legacy = {
        "name": "stream_api",
        "provider_type": "http_stream",
        "url": "https://api.example.com/stream",
        "http_method": "POST",
        "chunk_size": 1024,
        "auth": {"auth_type": "api_key", "api_key": "${API_KEY}", "var_name": "X-Api-Key"},
    }
    path = tmp_path / "provider.json"
    path.write_text(json.dumps(legacy))
    printed = run("validate", str(path))
    assert printed.returncode == 0, printed.stderr
    upgraded = json.loads(printed.stdout)
    assert upgraded["call_template_type"] == "streamable_http" and "provider_type" not in upgraded
    assert {k: v for k, v in upgraded.items() if k != "call_template_type"} == {
        k: v for k, v in legacy.items() if k != "provider_type"
    }
    assert json.loads(path.read_text()) == legacy  # untouched without --write

    written = run("validate", str(path), "--write")
    assert written.returncode == 0, written.stderr
    assert json.loads(path.read_text()) == upgraded
    assert json.loads((tmp_path / "provider.json.bak").read_text()) == legacy
    again = run("validate", str(path))
    assert again.returncode == 0 and again.stdout.startswith("OK ")


def test_validate_upgrades_a_legacy_manual_and_provider_list(tmp_path):
    manual = {
        "version": "0.2.0",
        "tools": [
            {
                "name": "t",
                "inputs": {"type": "object", "properties": {}},
                "tool_provider": {"name": "p", "provider_type": "http_stream", "url": "https://a.example/s"},
            }
        ],
    }
    path = tmp_path / "legacy_manual.json"
    path.write_text(json.dumps(manual))
    result = run("validate", str(path))
    assert result.returncode == 0, result.stderr
    upgraded = json.loads(result.stdout)
    assert upgraded["manual_version"] == "0.2.0" and upgraded["utcp_version"] == "1.0.0"
    template = upgraded["tools"][0]["tool_call_template"]
    assert template["call_template_type"] == "streamable_http" and "tool_provider" not in upgraded["tools"][0]

    providers = [
        {"name": "one", "provider_type": "http_stream", "url": "https://a.example/s"},
        {"name": "two", "provider_type": "http_stream", "url": "https://b.example/s", "http_method": "BOGUS"},
    ]
    listing = tmp_path / "providers.json"
    listing.write_text(json.dumps(providers))
    invalid = run("validate", str(listing))
    assert invalid.returncode == 2
    assert f"error: {listing}: [1].http_method:" in invalid.stderr


def test_validate_bad_json_is_one_line():
    result = run("validate", "/definitely/missing.json")
    assert "no such file" in assert_one_error_line(result, 2)


# -- a real terminal -------------------------------------------------------------------------------------


def test_download_progress_bar_in_a_terminal_ends_cleanly(files, tmp_path):
    target = tmp_path / "tty.bin"
    code, output = run_in_pty("call", files.manual, "download", "-o", str(target))
    assert code == 0, output[-800:]
    assert b"\x1b[" in output  # a live, coloured display
    assert b"MiB" in output  # bytes transferred
    hide, show = output.rfind(b"\x1b[?25l"), output.rfind(b"\x1b[?25h")
    assert hide != -1 and show > hide  # the cursor is given back
    assert b"wrote %d bytes" % FAST.download_size in output
    assert hashlib.sha256(target.read_bytes()).hexdigest() == payload(FAST.download_size).sha256


def test_terminal_tokens_and_summary(files):
    code, output = run_in_pty("call", files.template, "chat", "prompt=tty", "max_tokens=4")
    assert code == 0
    text = output.replace(b"\r\n", b"\n")
    assert "".join(reply_tokens("tty", 4)[0]).encode() in text
    assert b"4 item(s)" in text


def test_no_color_means_plain_output_even_in_a_terminal(files):
    code, output = run_in_pty(
        "call",
        files.template,
        "chat",
        "prompt=x",
        "max_tokens=2",
        env=_env(TERM="xterm-256color", NO_COLOR="1"),
    )
    assert code == 0
    assert b"\x1b" not in output


def test_binary_data_is_never_dumped_onto_a_terminal(files):
    code, output = run_in_pty("call", files.template, "download")
    assert code == 2
    assert b"error: the tool streams binary data" in output
    assert len(output) < 2000  # no bytes were written to the terminal


# -- Ctrl-C ----------------------------------------------------------------------------------------------


def test_ctrl_c_mid_stream_exits_130_and_closes_the_connection(tmp_path):
    with DemoServerThread(settings=FAST) as server:
        template = tmp_path / "demo.json"
        template.write_text(
            json.dumps({"name": "demo", "call_template_type": "streamable_http", "url": server.manual_url})
        )
        process = subprocess.Popen(
            [CLI, "call", str(template), "log_tail", "service=api", "lines=100000", "delay_ms=20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        try:
            assert " api: " in _read_line(process.stdout, 15)  # mid-stream
            assert server.stats()["open_streams"] == 1
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 130
            stderr = process.stderr.read().decode()
            assert stderr.strip() == "interrupted" and "Traceback" not in stderr
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = server.stats()
            if stats["open_streams"] == 0 and stats["open_connections"] == 0:
                break
            time.sleep(0.02)
        assert stats["open_streams"] == 0 and stats["open_connections"] == 0, stats
        assert stats["streams_completed"] == 0  # it really was cut mid-stream
