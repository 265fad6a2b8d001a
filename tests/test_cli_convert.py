"""``convert``, and ``validate``/``discover`` with OpenAPI documents, run as
the installed console script against files and the demo server."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
import yaml

from tests.test_cli import CLI, FAST, TIMEOUT, _env, assert_one_error_line
from utcp_http_stream.cli.convert import auth_summary
from utcp_http_stream.demo import DemoServerThread

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "shop", "version": "3.0.1"},
    "servers": [{"url": "/api"}],
    "components": {"securitySchemes": {"shop_key": {"type": "apiKey", "in": "header", "name": "X-Shop-Key"}}},
    "security": [{"shop_key": []}],
    "paths": {
        "/orders/{id}/events": {"get": {
            "operationId": "order_events",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"text/event-stream": {}}}},
        }},
        "/upload": {"post": {
            "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "ok"}},
        }},
    },
}  # fmt: skip


def run(*args: str):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=TIMEOUT, env=_env())


@pytest.fixture(scope="module")
def demo():
    with DemoServerThread(settings=FAST) as server:
        yield server


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    return path


def test_convert_a_yaml_file_to_stdout(spec_file):
    result = run("convert", str(spec_file), "--base-url", "https://shop.example/docs/openapi.yaml")
    assert result.returncode == 0, result.stderr
    manual = json.loads(result.stdout)
    assert manual["manual_version"] == "3.0.1"
    [tool] = manual["tools"]
    assert tool["name"] == "order_events"
    assert tool["tool_call_template"] == {
        "call_template_type": "streamable_http",
        "url": "https://shop.example/api/orders/{id}/events",
        "stream_format": "sse",
        "auth": {"auth_type": "api_key", "api_key": "${SHOP_KEY}", "var_name": "X-Shop-Key", "location": "header"},
    }
    assert "warning: POST /upload: skipped" in result.stderr and "multipart" in result.stderr


def test_convert_writes_a_file_that_validates(spec_file, tmp_path):
    out = tmp_path / "manual.json"
    result = run("convert", str(spec_file), "-o", str(out), "--base-url", "https://shop.example/")
    assert result.returncode == 0 and "wrote 1 tool to" in result.stderr
    checked = run("validate", str(out))
    assert checked.returncode == 0 and checked.stdout.startswith("OK "), checked.stderr


def test_convert_a_url(demo):
    result = run("convert", demo.base_url + "/openapi.json")
    assert result.returncode == 0, result.stderr
    urls = [tool["tool_call_template"]["url"] for tool in json.loads(result.stdout)["tools"]]
    assert urls[0] == demo.base_url + "/chat" and len(urls) == 5


def test_convert_refuses_what_is_not_openapi(tmp_path):
    path = tmp_path / "manual.json"
    path.write_text('{"tools": []}')
    line = assert_one_error_line(run("convert", str(path)), 2)
    assert "not an OpenAPI or Swagger document" in line
    assert "no such file" in assert_one_error_line(run("convert", str(tmp_path / "missing.yaml")), 2)


def test_relative_servers_of_a_file_need_a_base_url(spec_file):
    result = run("convert", str(spec_file))
    assert result.returncode == 1 and "relative" in result.stderr and "--base-url" in result.stderr


def test_validate_an_openapi_file(spec_file):
    result = run("validate", str(spec_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"OK {spec_file}: OpenAPI 3.1.0 document, 1 tool"
    assert "POST /upload: skipped" in result.stderr


def test_discover_an_openapi_url(demo):
    result = run("discover", demo.base_url + "/openapi.json")
    assert result.returncode == 0, result.stderr
    assert "5 tools" in result.stdout and ".chat\n" in result.stdout and "[streamable_http, sse" in result.stdout


def test_auth_summary_names_variables_never_values():
    bearer = SimpleNamespace(auth_type="api_key", var_name="Authorization", api_key="Bearer ${OPENAI}")
    assert auth_summary(bearer) == "api_key Authorization (set ${OPENAI})"
    basic = SimpleNamespace(auth_type="basic", username="${S_USERNAME}", password="${S_PASSWORD}")
    assert auth_summary(basic) == "basic (set ${S_USERNAME}, ${S_PASSWORD})"
    literal = SimpleNamespace(auth_type="api_key", var_name="X-Key", api_key="sk-secret")
    assert auth_summary(literal) == "api_key X-Key"
