"""register_manual: success, every failure kind as success=False with a
readable error, legacy v0.1 manuals, SSRF filtering."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.support import manual_template


def app_with(handler):
    app = web.Application()
    app.router.add_get("/utcp", handler)
    return app


async def register(serve, utcp_client, handler, **extra):
    base = await serve(app_with(handler))
    return await utcp_client.register_manual(manual_template(base, **extra)), base


async def test_json_labelled_as_text_is_accepted(serve, utcp_client):
    async def handler(request):
        base = f"http://{request.host}"
        return web.Response(
            text='{"manual_version":"2.0","utcp_version":"1.0.1","tools":[{"name":"t","tool_call_template":'
            '{"call_template_type":"streamable_http","url":"' + base + '/t"}}]}',
            content_type="text/plain",
        )

    result, _ = await register(serve, utcp_client, handler)
    assert result.success and [t.name for t in result.manual.tools] == ["svc.t"]


@pytest.mark.parametrize(
    "handler_body,expected",
    [
        (lambda r: web.Response(status=404, text="nope"), "HTTP 404"),
        (lambda r: web.Response(text="<html>not json</html>"), "not valid JSON"),
        (lambda r: web.json_response([1, 2]), "JSON object"),
        (lambda r: web.json_response({"manual_version": "1"}), "no 'tools' list"),
    ],
)
async def test_failures_are_results_not_exceptions(serve, utcp_client, handler_body, expected):
    async def handler(request):
        return handler_body(request)

    result, _ = await register(serve, utcp_client, handler)
    assert result.success is False
    assert any(expected in e for e in result.errors), result.errors


async def test_oversized_manual_refused(serve, utcp_client):
    async def handler(request):
        return web.Response(text='{"tools": [' + " " * 5000 + "]}")

    result, _ = await register(serve, utcp_client, handler, max_item_bytes=1000)
    assert not result.success and "larger than 1000 bytes" in result.errors[0]


async def test_connection_refused_is_a_result(utcp_client, free_port):
    result = await utcp_client.register_manual(manual_template(f"http://127.0.0.1:{free_port}"))
    assert not result.success and "could not connect" in result.errors[0]


async def test_insecure_manual_url_is_a_result(utcp_client):
    result = await utcp_client.register_manual(manual_template("http://example.com"))
    assert not result.success and "plain http" in result.errors[0]


async def test_one_bad_tool_does_not_sink_the_manual(serve, utcp_client):
    async def handler(request):
        base = f"http://{request.host}"
        return web.json_response({"tools": [
            {"name": "good", "tool_call_template": {"call_template_type": "streamable_http", "url": base + "/g"}},
            {"name": "bad", "tool_call_template": {"call_template_type": "streamable_http", "url": base + "/b",
                                                   "http_method": "BREW"}},
        ]})

    result, _ = await register(serve, utcp_client, handler)
    assert result.success
    assert [t.name for t in result.manual.tools] == ["svc.good"]
    assert any("bad" in e and "http_method" in e for e in result.errors)


async def test_legacy_v01_manual_is_upgraded_and_callable(serve, utcp_client):
    async def handler(request):
        base = f"http://{request.host}"
        return web.json_response({
            "version": "0.1.0",
            "tools": [{
                "name": "logs",
                "description": "legacy",
                "inputs": {"type": "object", "properties": {}},
                "tool_provider": {"name": "legacy", "provider_type": "http_stream", "url": base + "/logs",
                                  "http_method": "GET", "content_type": "application/octet-stream",
                                  "chunk_size": 4096, "timeout": 60000},
            }],
        })

    async def logs(request):
        return web.Response(text="a\nb\n", content_type="text/plain")

    app = app_with(handler)
    app.router.add_get("/logs", logs)
    base = await serve(app)
    result = await utcp_client.register_manual(manual_template(base))
    assert result.success, result.errors
    assert result.manual.manual_version == "0.1.0"
    tool = result.manual.tools[0]
    assert tool.tool_call_template.call_template_type == "streamable_http"
    assert await utcp_client.call_tool("svc.logs", {}) == "a\nb"


async def test_remote_manual_may_not_name_loopback_tools():
    from utcp_http_stream.manual import parse_manual

    doc = {"tools": [
        {"name": "local", "tool_call_template": {"call_template_type": "streamable_http", "url": "http://127.0.0.1/x"}},
        {"name": "remote", "tool_call_template": {"call_template_type": "streamable_http", "url": "https://a.example/x"}},
    ]}
    parsed = parse_manual(doc, source_url="https://tools.example/utcp")
    assert [t.name for t in parsed.manual.tools] == ["remote"]
    assert "local" in parsed.errors[0] and "loopback" in parsed.errors[0]
    assert len(parse_manual(doc, source_url="http://127.0.0.1:9/utcp").manual.tools) == 2
