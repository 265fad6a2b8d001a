"""``parse_manual``: one bad tool costs only itself; the first of two same-named
tools wins; a remote manual may not name local tool URLs."""

from __future__ import annotations

from typing import Any

import pytest
from utcp.plugins.plugin_loader import ensure_plugins_initialized

from utcp_http_stream.manual import parse_manual


@pytest.fixture(autouse=True)
def _plugins():
    ensure_plugins_initialized()


def tool(name: str, url: str = "https://api.example.com/x", **template: Any) -> dict[str, Any]:
    return {"name": name, "description": "", "inputs": {"type": "object"}, "outputs": {},
            "tool_call_template": {"call_template_type": "streamable_http", "url": url, **template}}


def deep(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def test_a_deeply_nested_tool_costs_only_itself():
    bad = tool("deep")
    bad["inputs"] = deep(400)
    result = parse_manual({"tools": [bad, tool("good")]})
    assert [t.name for t in result.manual.tools] == ["good"]
    assert len(result.errors) == 1 and "'deep'" in result.errors[0]


@pytest.mark.parametrize("provider_type", [["http_stream"], {"a": 1}, 7, None])
def test_a_legacy_provider_type_of_the_wrong_type_costs_only_its_tool(provider_type):
    legacy = {"name": "legacy", "description": "", "inputs": {}, "outputs": {},
              "tool_provider": {"provider_type": provider_type, "url": "https://api.example.com/x"}}
    result = parse_manual({"version": "0.1", "tools": [legacy, tool("good")]})
    assert [t.name for t in result.manual.tools] == ["good"]
    assert len(result.errors) == 1 and "'legacy'" in result.errors[0]


def test_the_first_of_two_same_named_tools_is_kept():
    result = parse_manual({"tools": [tool("t", "https://a.example/1"), tool("t", "https://b.example/2")]})
    assert [t.tool_call_template.url for t in result.manual.tools] == ["https://a.example/1"]
    assert "came earlier" in result.errors[0]


@pytest.mark.parametrize("field", ["timeout", "connect_timeout", "idle_timeout", "max_item_bytes", "chunk_size",
                                   "max_result_bytes"])
def test_booleans_are_not_numbers(field):
    result = parse_manual({"tools": [tool("t", **{field: True})]})
    assert result.manual.tools == [] and field in result.errors[0]


def test_a_remote_manual_may_not_name_local_tools_however_spelled():
    hosts = ["\u217cocalhost", "127.1", "0x7f000001", "[::ffff:7f00:1]", "0.0.0.0", "169.254.169.254", "localhost."]
    tools = [tool(f"t{i}", f"https://{host}:9/x") for i, host in enumerate(hosts)]
    result = parse_manual({"tools": tools}, source_url="https://evil.example/utcp")
    assert result.manual.tools == [] and len(result.errors) == len(hosts)
    local = parse_manual({"tools": tools[:2]}, source_url="http://127.0.0.1:8080/utcp")
    assert len(local.manual.tools) == 2
