"""A newcomer's first hour with the ``utcp-http-stream`` command, step by step:
the installed console script in a subprocess (or a pty), against the demo
server. What tripped them before: variable names nobody documented, URLs
without a scheme, ``-i`` and download progress missing for some manuals,
units, exit codes, a closed pipe, ``"$schema": null``, advice that led nowhere.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import CLI, FAST, TIMEOUT, _env, assert_one_error_line, demo, run, run_in_pty
from utcp_http_stream.demo import build_manual, payload

__all__ = ["demo"]  # the demo server fixture, shared with test_cli


@pytest.fixture(scope="module")
def files(demo, tmp_path_factory):
    directory = tmp_path_factory.mktemp("newcomer")
    template = directory / "my_demo.json"
    template.write_text(json.dumps({"name": "demo", "call_template_type": "streamable_http", "url": demo.manual_url}))
    manual = build_manual(demo.base_url, FAST)
    manual["tools"][2]["tool_call_template"]["headers"] = {"X-Log-Token": "${LOG_TOKEN}"}  # log_tail needs a key
    manual_path = directory / "team_tools.json"
    manual_path.write_text(json.dumps(manual))
    env_file = directory / "team.env"
    env_file.write_text("team__tools_LOG_TOKEN=t0k3n\n")
    return type("Files", (), {"template": str(template), "manual": str(manual_path), "env": str(env_file)})


def _hostport(demo) -> str:
    return demo.base_url.removeprefix("http://")


# -- validate -------------------------------------------------------------------------------------------------


def test_validate_reports_misspelled_fields_and_unfillable_placeholders(tmp_path):
    manual = {
        "manual_version": "1.0.0",
        "utcp_version": "1.0.1",
        "tools": [
            {
                "name": "chat",
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": "https://api.example.com/v1/chat",
                    "stream_fromat": "sse",
                    "idle_timout": 500,
                    "verify": False,
                    "headers": {"Authorization": "Bearer ${API-KEY}"},
                },
            },
            {
                "name": "plain",
                "tool_call_template": {"call_template_type": "http", "url": "https://api.example.com/x"},
            },
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(manual))
    result = run("validate", str(path))
    assert result.returncode == 2
    where = f"error: {path}: tools[0].tool_call_template"
    assert result.stderr.splitlines() == [
        f"{where}.stream_fromat: unknown field 'stream_fromat' (did you mean 'stream_format'?)",
        f"{where}.idle_timout: unknown field 'idle_timout' (did you mean 'idle_timeout'?)",
        f"{where}.verify: unknown field 'verify': certificate checks cannot be turned off from a manual; trust a "
        "private CA with the client setting ca_bundle (UTCP_HTTP_STREAM_CA_BUNDLE)",
        f"{where}.headers.Authorization: placeholder ${{API-KEY}} can never be filled (utcp substitutes only names "
        "made of letters, digits and _); rename it to ${API_KEY}",
        f"{path}: 4 problems; not valid",
    ]
    assert "http" not in result.stderr.replace("https://", "")  # the utcp-http tool is valid


def test_validate_knows_the_installed_plugins_types(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps(
            {"tools": [{"name": "p", "tool_call_template": {"call_template_type": "http", "url": "https://a.example"}}]}
        )
    )
    result = run("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "1 http" in result.stdout


# -- discover -------------------------------------------------------------------------------------------------


def test_discover_without_a_scheme_names_the_manual_after_the_host(demo):
    result = run("discover", f"{_hostport(demo)}/utcp")
    assert result.returncode == 0, result.stderr
    port = demo.base_url.rsplit(":", 1)[1]
    lines = result.stdout.splitlines()
    assert lines[0] == f"manual 'local{port}' from {demo.manual_url}: 5 tools"
    assert lines[1] == (
        f"The manual name 'local{port}' comes from the URL's host {_hostport(demo)}; pass --name to choose another."
    )
    assert f"local{port}.chat" in lines


def test_discover_lists_the_variables_to_set_under_their_exact_names(files):
    result = run("discover", files.manual)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"manual 'team_tools' from {files.manual}: 5 tools\n")
    assert "as a UTCP manual has no name field; pass --name to choose another" in result.stdout
    assert "  needs:  team__tools_LOG_TOKEN (not set)" in result.stdout

    with_env = run("discover", files.manual, "--env-file", files.env)
    assert "  needs:  team__tools_LOG_TOKEN\n" in with_env.stdout
    renamed = run("discover", files.manual, "--name", "team")
    assert "  needs:  team_LOG_TOKEN (not set)" in renamed.stdout


def test_discover_json_has_no_null_stand_ins(files):
    result = run("discover", files.template, "--json")
    assert result.returncode == 0, result.stderr
    assert '"$schema"' not in result.stdout and '"$id"' not in result.stdout
    manual = json.loads(result.stdout)
    assert manual["tools"][0]["inputs"] == build_manual("http://x", FAST)["tools"][0]["inputs"]


def test_a_refused_url_exits_2_from_every_command():
    for args in (["discover", "http://example.com/utcp"], ["call", "http://example.com/utcp", "t"],
                 ["request", "GET", "http://example.com/x"]):  # fmt: skip
        assert "plain http" in assert_one_error_line(run(*args), 2)


def test_a_missing_file_says_how_to_write_a_url(tmp_path):
    assert "no such file" in assert_one_error_line(run("discover", str(tmp_path / "nope.json")), 2)


# -- call ---------------------------------------------------------------------------------------------------


def test_a_missing_argument_is_named_with_what_the_tool_takes(files):
    line = assert_one_error_line(run("call", files.template, "chat"), 2)
    assert line == (
        "error: invalid arguments for tool 'chat': missing required argument 'prompt' (string). The tool takes: "
        "prompt (string, required), max_tokens (integer), delay_ms (integer). Nothing was sent; call the tool "
        "again with corrected arguments."
    )


def test_key_value_arguments_take_the_schemas_types(demo, files):
    result = run("call", files.template, "job_progress", "job_id=42", "steps=2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["job"] == "42"
    refused = assert_one_error_line(run("call", files.template, "job_progress", "job_id=1", "steps=two"), 2)
    assert refused == "error: tool argument steps=two: the tool expects integer, got 'two'"


def test_an_unset_variable_says_where_the_manual_name_came_from(files):
    line = assert_one_error_line(run("call", files.manual, "log_tail", "service=api", "lines=1"), 2)
    assert "define team__tools_LOG_TOKEN" in line
    assert f"comes from the file name {files.manual}, as a UTCP manual has no name field" in line
    result = run("call", files.manual, "log_tail", "service=api", "lines=1", "--env-file", files.env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source", ["template", "url", "hostport"])
def test_include_shows_the_response_for_every_kind_of_manual(demo, files, source):
    manual = {"template": files.template, "url": demo.manual_url, "hostport": f"{_hostport(demo)}/utcp"}[source]
    result = run("call", manual, "log_tail", "service=api", "lines=2", "-i")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("HTTP 200 OK  (text framing)\n")
    assert "Content-Type: text/plain" in result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_download_progress_has_total_percent_rate_in_mib_and_eta(files, tmp_path):
    target = tmp_path / "demo.bin"
    code, output = run_in_pty("call", files.template, "download", "-o", str(target))
    assert code == 0, output[-800:]
    size = payload(FAST.download_size).size
    total = f"{size / 1024 / 1024:.1f} MiB".encode()
    assert b"/" + total in output  # done/total
    assert b"100%" in output
    assert b"MiB/s" in output and b"MB/s" not in output
    assert b"ETA" in output


def test_a_closed_pipe_ends_quietly(files):
    for args in (["download"], ["log_tail", "service=api", "lines=5000"]):
        shell = subprocess.run(
            f"'{CLI}' call '{files.template}' {' '.join(args)} | head -c 100 > /dev/null; "
            'echo "exit=${PIPESTATUS[0]}"',
            shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=TIMEOUT, env=_env(),
        )  # fmt: skip
        assert shell.stdout.strip() == "exit=0", shell.stderr
        assert shell.stderr == ""


def test_help_documents_the_variable_names():
    for command in ("call", "discover"):
        text = " ".join(run(command, "--help").stdout.split())
        assert "my__api_API_KEY" in text and "manual file's name without .json" in text and "--name" in text


def test_the_readme_documents_the_variable_names():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "openai__chat_OPENAI_API_KEY" in readme and "`discover` lists every tool's" in readme
