"""The whole path through UtcpClient (loaded from the entry point) against a
real aiohttp server on 127.0.0.1: discovery, every framing, every method,
argument mapping, auth, errors."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from utcp.interfaces.communication_protocol import CommunicationProtocol

from tests.support import manual_template
from utcp_http_stream import HttpStatusError, StreamableHttpCommunicationProtocol
from utcp_http_stream.errors import InsecureUrlError, TemplateError

BLOB = bytes(range(256)) * 64  # 16 KiB


def tool(name, base, path, **template):
    return {
        "name": name,
        "description": f"{name} tool",
        "inputs": {"type": "object", "properties": {}},
        "tool_call_template": {"call_template_type": "streamable_http", "url": base + path, **template},
    }


def build_app(state):
    async def manual(request):
        base = f"http://{request.host}"
        return web.json_response(
            {
                "utcp_version": "1.0.1",
                "manual_version": "1.0.0",
                "tools": [
                    tool("ndjson", base, "/ndjson"),
                    tool("text", base, "/text"),
                    tool("blob", base, "/blob", chunk_size=1000),
                    tool("doc", base, "/doc/{kind}"),
                    tool("echo", base, "/echo/{id}", http_method="POST", body_field="body",
                         header_fields=["X-Trace"], stream_format="json"),
                    tool("method", base, "/method", stream_format="json"),
                    tool("keyed", base, "/whoami", stream_format="json",
                         auth={"auth_type": "api_key", "api_key": "k-123", "var_name": "X-Api-Key"}),
                    tool("keyed_query", base, "/whoami", stream_format="json",
                         auth={"auth_type": "api_key", "api_key": "k-q", "var_name": "key", "location": "query"}),
                    tool("keyed_cookie", base, "/whoami", stream_format="json",
                         auth={"auth_type": "api_key", "api_key": "k-c", "var_name": "session", "location": "cookie"}),
                    tool("basic", base, "/whoami", stream_format="json",
                         auth={"auth_type": "basic", "username": "ann", "password": "pw"}),
                    tool("fail", base, "/fail"),
                ],
            }
        )

    async def ndjson(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for i in range(5):
            await resp.write(json.dumps({"i": i}).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def text(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await resp.prepare(request)
        await resp.write("línea uno\r\n\nline".encode())
        await resp.write(b" three\n")
        await resp.write_eof()
        return resp

    async def blob(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        for i in range(0, len(BLOB), 3000):
            await resp.write(BLOB[i : i + 3000])
        await resp.write_eof()
        return resp

    async def doc(request):
        return web.json_response({"kind": request.match_info["kind"], "query": dict(request.query)})

    async def echo(request):
        state["echo_raw_path"] = request.raw_path
        return web.json_response(
            {
                "id": request.match_info["id"],
                "body": await request.json(),
                "trace": request.headers.get("X-Trace"),
                "ctype": request.headers.get("Content-Type"),
                "query": dict(request.query),
            }
        )

    async def method(request):
        if request.method == "HEAD":
            return web.Response(headers={"X-Method": "HEAD", "Content-Type": "application/json"})
        body = await request.text()
        return web.json_response({"method": request.method, "body": body})

    async def whoami(request):
        return web.json_response(
            {
                "x_api_key": request.headers.get("X-Api-Key"),
                "query_key": request.query.get("key"),
                "cookie": request.cookies.get("session"),
                "authorization": request.headers.get("Authorization"),
            }
        )

    async def fail(request):
        return web.Response(status=503, reason="Service Unavailable", text="backend \x1b[31mdown\x00 " + "x" * 5000)

    app = web.Application()
    app.router.add_get("/utcp", manual)
    app.router.add_get("/ndjson", ndjson)
    app.router.add_get("/text", text)
    app.router.add_get("/blob", blob)
    app.router.add_get("/doc/{kind}", doc)
    app.router.add_post("/echo/{id}", echo)
    app.router.add_route("*", "/method", method)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/fail", fail)
    return app


@pytest.fixture
async def registered(serve, utcp_client):
    state: dict = {}
    base = await serve(build_app(state))
    result = await utcp_client.register_manual(manual_template(base))
    assert result.success, result.errors
    return utcp_client, base, state


def test_entry_point_registers_factories_for_both_names():
    from utcp.plugins.plugin_loader import ensure_plugins_initialized

    ensure_plugins_initialized()
    for name in ("streamable_http", "http_stream"):
        factory = CommunicationProtocol.communication_protocol_factories[name]
        assert factory is StreamableHttpCommunicationProtocol


async def test_discovery_lists_tools(registered):
    client, _, _ = registered
    tools = await client.search_tools("tool", limit=50)
    assert {"svc.ndjson", "svc.text", "svc.blob", "svc.doc", "svc.echo"} <= {t.name for t in tools}


async def test_ndjson_objects_stream(registered):
    client, _, _ = registered
    items = [x async for x in client.call_tool_streaming("svc.ndjson", {})]
    assert items == [{"i": i} for i in range(5)]
    assert await client.call_tool("svc.ndjson", {}) == items


async def test_text_lines_stream(registered):
    client, _, _ = registered
    items = [x async for x in client.call_tool_streaming("svc.text", {})]
    assert items == ["línea uno", "", "line three"]
    assert await client.call_tool("svc.text", {}) == "línea uno\n\nline three"


async def test_byte_chunks_stream(registered):
    client, _, _ = registered
    chunks = [x async for x in client.call_tool_streaming("svc.blob", {})]
    assert all(isinstance(c, bytes) and 0 < len(c) <= 1000 for c in chunks)
    assert b"".join(chunks) == BLOB
    assert await client.call_tool("svc.blob", {}) == BLOB


async def test_json_document_with_path_and_query(registered):
    client, _, _ = registered
    items = [x async for x in client.call_tool_streaming("svc.doc", {"kind": "a b", "n": 1, "ok": True})]
    assert items == [{"kind": "a b", "query": {"n": "1", "ok": "true"}}]


async def test_argument_mapping_end_to_end(registered):
    client, _, state = registered
    result = await client.call_tool("svc.echo", {"id": "../x", "body": {"q": [1]}, "X-Trace": "t-1", "extra": "e"})
    assert result == {"id": "../x", "body": {"q": [1]}, "trace": "t-1", "ctype": "application/json",
                      "query": {"extra": "e"}}
    assert state["echo_raw_path"].startswith("/echo/..%2Fx")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_each_method(serve, method):
    base = await serve(build_app({}))
    from utcp_http_stream.transport import StreamClient

    async with StreamClient() as client:
        result = await client.call({"url": base + "/method", "http_method": method, "stream_format": "json",
                                    "body_field": "b"}, {"b": "payload"})
    assert result == {"method": method, "body": "payload"}


async def test_head_has_headers_and_no_body(serve):
    from utcp_http_stream.transport import StreamClient

    base = await serve(build_app({}))
    async with StreamClient() as client:
        async with client.stream({"url": base + "/method", "http_method": "HEAD"}) as resp:
            assert resp.status == 200 and resp.headers["X-Method"] == "HEAD"
            assert [x async for x in resp] == []


@pytest.mark.parametrize(
    "tool_name,field,expected",
    [
        ("svc.keyed", "x_api_key", "k-123"),
        ("svc.keyed_query", "query_key", "k-q"),
        ("svc.keyed_cookie", "cookie", "k-c"),
        ("svc.basic", "authorization", "Basic YW5uOnB3"),
    ],
)
async def test_auth_kinds(registered, tool_name, field, expected):
    client, _, _ = registered
    result = await client.call_tool(tool_name, {})
    assert result[field] == expected


async def test_status_error_is_specific_and_bounded(registered):
    client, _, _ = registered
    with pytest.raises(HttpStatusError) as info:
        [x async for x in client.call_tool_streaming("svc.fail", {})]
    err = info.value
    assert err.status == 503 and err.reason == "Service Unavailable"
    assert err.detail.startswith("backend") and "\x1b" not in err.detail and "\x00" not in err.detail
    assert len(err.detail) < 400
    assert "/fail" in err.url


async def test_one_pooled_connection_serves_sequential_calls(serve):
    from aiohttp import web
    from utcp.utcp_client import UtcpClient

    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/doc", handler)
    base = await serve(app)
    client = await UtcpClient.create()
    try:
        protocol = client._protocol_for("streamable_http")
        for _ in range(3):
            assert await protocol.client.call({"url": base + "/doc"}) == {"ok": True}
        assert len(set(peers)) == 1  # keep-alive: one connection for all three
        assert repr(protocol.client).startswith("<StreamClient open")
    finally:
        await client.close()
    assert repr(protocol.client).startswith("<StreamClient idle")


async def test_clients_do_not_share_protocol_instances(serve):
    from utcp.utcp_client import UtcpClient

    a = await UtcpClient.create()
    b = await UtcpClient.create()
    try:
        assert a._protocol_for("streamable_http") is not b._protocol_for("streamable_http")
    finally:
        await a.close()
        await b.close()


async def test_template_error_before_any_request(registered):
    client, _, _ = registered
    with pytest.raises(TemplateError, match="missing path parameter 'kind'"):
        await client.call_tool("svc.doc", {})


async def test_insecure_url_refused(utcp_client):
    from utcp_http_stream.transport import StreamClient

    async with StreamClient() as client:
        with pytest.raises(InsecureUrlError):
            async with client.stream({"url": "http://example.com/x"}):
                pass


async def test_raw_bytes_of_an_sse_response(serve):
    from utcp_http_stream.transport import StreamClient

    async def sse(request):
        return web.Response(body=b"id: 1\ndata: a\n\n", content_type="text/event-stream")

    app = web.Application()
    app.router.add_get("/sse", sse)
    base = await serve(app)
    async with StreamClient() as client, client.stream({"url": base + "/sse"}) as resp:
        assert resp.framing == "sse"
        assert b"".join([c async for c in resp.iter_bytes()]) == b"id: 1\ndata: a\n\n"


@pytest.mark.parametrize(("stream_format", "accept"), [("auto", "*/*"), ("sse", "text/event-stream"),
                                                       ("json", "application/json")])
async def test_the_server_sees_the_accept_header_of_the_expected_framing(serve, stream_format, accept):
    # "auto" adds no header of its own (no Accept means the same): the wire
    # still carries "Accept: */*", aiohttp's default.
    async def echo(request):
        seen = json.dumps({"accept": request.headers.getall("Accept", [])})
        if stream_format == "sse":
            return web.Response(text=f"data: {seen}\n\n", content_type="text/event-stream")
        return web.Response(text=seen, content_type="application/json")

    app = web.Application()
    app.router.add_get("/accept", echo)
    base = await serve(app)
    from utcp_http_stream.transport import StreamClient

    async with StreamClient() as client:
        result = await client.call({"url": base + "/accept", "stream_format": stream_format})
    assert result == ([{"accept": [accept]}] if stream_format == "sse" else {"accept": [accept]})
