"""OpenAPI documents served by aiohttp test servers, registered through
UtcpClient: a hand-written OpenAPI 3.2 document (YAML) with ``itemSchema``
over SSE, JSONL and JSON-seq and a dual JSON-or-SSE operation; a Swagger 2.0
document; and the failures of ARCHITECTURE section 7 ($ref cycle, broken
operation, alias bomb, oversized document)."""

from __future__ import annotations

import json
import time

import yaml
from aiohttp import web

from tests.support import manual_template

WORDS = ["Streams", " are", " first", "-class"]
RS = b"\x1e"


def chat_document(host: str) -> dict:
    item = {"type": "object", "properties": {"delta": {"type": "string"}}, "required": ["delta"]}
    question = {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.2.0",
        "info": {"title": "chat", "version": "2.1.0"},
        "servers": [
            {"url": "http://{host}/{base}", "variables": {"host": {"default": host}, "base": {"default": "api"}}}
        ],
        "components": {
            "schemas": {"Delta": item},
            "securitySchemes": {"chat-token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"chat-token": []}],
        "paths": {
            "/chat/sse": {"get": {
                "operationId": "chat_sse", "summary": "Chat as server-sent events", "tags": ["chat"],
                "parameters": [question],
                "responses": {"200": {"description": "ok", "content": {"text/event-stream": {"itemSchema": {
                    "type": "object",
                    "properties": {"data": {"type": "string", "contentMediaType": "application/json",
                                            "contentSchema": {"$ref": "#/components/schemas/Delta"}}},
                }}}}},
            }},
            "/chat/jsonl": {"get": {
                "operationId": "chat_jsonl", "parameters": [question],
                "responses": {"200": {"description": "ok", "content": {
                    "application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Delta"}}}}},
            }},
            "/chat/seq": {"get": {
                "operationId": "chat_seq", "parameters": [question],
                "responses": {"200": {"description": "ok", "content": {
                    "application/json-seq": {"itemSchema": {"$ref": "#/components/schemas/Delta"}}}}},
            }},
            "/chat": {"post": {
                "operationId": "chat",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "stream": {"type": "boolean"}},
                    "required": ["q"],
                }}}},
                "responses": {"200": {"description": "ok", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}},
                    "text/event-stream": {"itemSchema": {"$ref": "#/components/schemas/Delta"}},
                }}},
            }},
            "/open": {"get": {"operationId": "open", "security": [{}], "responses": {"204": {"description": "ok"}}}},
        },
    }


async def serve_chat(request: web.Request) -> web.StreamResponse:
    seen[request.path] = dict(request.headers)
    kind = request.match_info["kind"]
    if kind == "sse":
        body = b"".join(b"data: " + json.dumps({"delta": w}).encode() + b"\n\n" for w in WORDS) + b"data: [DONE]\n\n"
        ctype = "text/event-stream"
    elif kind == "jsonl":
        body = b"".join(json.dumps({"delta": w}).encode() + b"\n" for w in WORDS)
        ctype = "application/jsonl"
    else:
        body = b"".join(RS + json.dumps({"delta": w}, indent=1).encode() + b"\n" for w in WORDS)
        ctype = "application/json-seq"
    response = web.StreamResponse(headers={"Content-Type": ctype})
    await response.prepare(request)
    for start in range(0, len(body), 5):  # small writes: boundaries fall everywhere
        await response.write(body[start : start + 5])
    await response.write_eof()
    return response


async def serve_dual(request: web.Request) -> web.StreamResponse:
    seen[request.path] = dict(request.headers)
    payload = await request.json()
    if not payload.get("stream"):
        return web.json_response({"text": "".join(WORDS)})
    body = b"".join(b"data: " + json.dumps({"delta": w}).encode() + b"\n\n" for w in WORDS)
    return web.Response(body=body, content_type="text/event-stream")


seen: dict[str, dict] = {}


def chat_app(document_text=None, content_type: str = "application/yaml") -> web.Application:
    async def openapi(request: web.Request) -> web.Response:
        text = document_text(request) if document_text else yaml.safe_dump(chat_document(request.host))
        return web.Response(text=text, content_type=content_type)

    app = web.Application()
    app.router.add_get("/openapi.yaml", openapi)
    app.router.add_get("/api/chat/{kind}", serve_chat)
    app.router.add_post("/api/chat", serve_dual)
    app.router.add_get("/api/open", no_content)
    return app


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def registered(serve, config=None, app=None, path="/openapi.yaml", **extra):
    from utcp.utcp_client import UtcpClient

    base = await serve(app or chat_app())
    client = await UtcpClient.create(config=config or {"variables": {"chat_CHAT_TOKEN": "tok-123"}})
    template = manual_template(base, name="chat", **extra)
    template.url = base + path
    result = await client.register_manual(template)
    return client, result


async def test_openapi_32_item_schema_framings_and_outputs(serve):
    client, result = await registered(serve)
    try:
        assert result.success and result.errors == [], result.errors
        assert result.manual.manual_version == "2.1.0"
        tools = {t.name: t for t in result.manual.tools}
        formats = {name: t.tool_call_template.stream_format for name, t in tools.items()}
        assert formats == {
            "chat.chat_sse": "sse", "chat.chat_jsonl": "ndjson", "chat.chat_seq": "json_seq",
            "chat.chat": "auto", "chat.open": "auto",
        }  # fmt: skip
        delta = {"type": "object", "properties": {"delta": {"type": "string"}}, "required": ["delta"]}
        for name in ("chat.chat_sse", "chat.chat_jsonl", "chat.chat_seq"):
            assert tools[name].outputs.model_dump(exclude_none=True) == {"type": "array", "items": delta}
        assert tools["chat.chat_sse"].tags == ["chat"]
        assert tools["chat.chat_sse"].description == "Chat as server-sent events"
        for name in ("chat.chat_sse", "chat.chat_jsonl", "chat.chat_seq"):
            assert await client.call_tool(name, {"q": "hi"}) == [{"delta": w} for w in WORDS]
            streamed = [item async for item in client.call_tool_streaming(name, {"q": "hi"})]
            assert streamed == [{"delta": w} for w in WORDS]
        assert seen["/api/chat/sse"]["Authorization"] == "Bearer tok-123"
        assert seen["/api/chat/seq"]["Accept"] == "application/json-seq"
    finally:
        await client.close()


async def test_dual_json_or_sse_operation(serve):
    client, result = await registered(serve)
    try:
        template = next(t for t in result.manual.tools if t.name == "chat.chat").tool_call_template
        assert template.headers == {"Accept": "application/json, text/event-stream"}
        assert (template.http_method, template.body_field) == ("POST", "body")
        assert template.content_type == "application/json"
        assert await client.call_tool("chat.chat", {"body": {"q": "hi"}}) == {"text": "".join(WORDS)}
        arguments = {"body": {"q": "hi", "stream": True}}
        streamed = [item async for item in client.call_tool_streaming("chat.chat", arguments)]
        assert streamed == [{"delta": w} for w in WORDS]
        assert seen["/api/chat"]["Accept"] == "application/json, text/event-stream"
    finally:
        await client.close()


async def test_anonymous_requirement_sends_no_auth(serve):
    client, result = await registered(serve)
    try:
        assert next(t for t in result.manual.tools if t.name == "chat.open").tool_call_template.auth is None
        assert await client.call_tool("chat.open", {}) == b""
    finally:
        await client.close()


# -- Swagger 2.0 -----------------------------------------------------------------------------------


def swagger_document(host: str) -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": "legacy", "version": "1"},
        "host": host,
        "basePath": "/v1",
        "schemes": ["http"],
        "securityDefinitions": {"legacy_basic": {"type": "basic"}},
        "definitions": {"Item": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        "paths": {
            "/items/{id}/events": {"get": {
                "operationId": "item_events", "produces": ["application/x-ndjson"],
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "integer"},
                               {"name": "limit", "in": "query", "type": "integer", "default": 2}],
                "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Item"}}},
            }},
            "/items": {"post": {
                "operationId": "create_item", "consumes": ["application/json"], "produces": ["application/json"],
                "security": [{"legacy_basic": []}],
                "parameters": [{"name": "item", "in": "body", "required": True,
                                "schema": {"$ref": "#/definitions/Item"}}],
                "responses": {"201": {"description": "ok", "schema": {"$ref": "#/definitions/Item"}}},
            }},
            "/search": {"post": {
                "operationId": "search", "consumes": ["application/x-www-form-urlencoded"],
                "produces": ["text/plain"],
                "parameters": [{"name": "term", "in": "formData", "type": "string", "required": True}],
                "responses": {"200": {"description": "ok", "schema": {"type": "string"}}},
            }},
            "/upload": {"post": {
                "operationId": "upload", "consumes": ["multipart/form-data"],
                "parameters": [{"name": "file", "in": "formData", "type": "file"}],
                "responses": {"200": {"description": "ok"}},
            }},
        },
    }


def swagger_app() -> web.Application:
    async def events(request: web.Request) -> web.Response:
        count = int(request.query.get("limit", "2"))
        lines = "".join(json.dumps({"id": int(request.match_info["id"]), "n": n}) + "\n" for n in range(count))
        return web.Response(text=lines, content_type="application/x-ndjson")

    async def create(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.json(), "auth": request.headers.get("Authorization")})

    async def search(request: web.Request) -> web.Response:
        form = await request.post()
        return web.Response(text=f"found {form['term']}\nend\n")

    app = web.Application()
    async def document(request: web.Request) -> web.Response:
        return web.json_response(swagger_document(request.host))

    app.router.add_get("/swagger.json", document)
    app.router.add_get("/v1/items/{id}/events", events)
    app.router.add_post("/v1/items", create)
    app.router.add_post("/v1/search", search)
    return app


async def test_swagger_2_document_converts_and_its_tools_work(serve):
    client, result = await registered(
        serve,
        config={"variables": {"chat_LEGACY_BASIC_USERNAME": "ann", "chat_LEGACY_BASIC_PASSWORD": "pw"}},
        app=swagger_app(),
        path="/swagger.json",
    )
    try:
        assert result.success
        assert [t.name for t in result.manual.tools] == ["chat.item_events", "chat.create_item", "chat.search"]
        assert len(result.errors) == 1 and "POST /upload: skipped" in result.errors[0]
        assert "multipart" in result.errors[0]
        assert await client.call_tool("chat.item_events", {"id": 7, "limit": 3}) == [
            {"id": 7, "n": 0}, {"id": 7, "n": 1}, {"id": 7, "n": 2},
        ]  # fmt: skip
        created = await client.call_tool("chat.create_item", {"body": {"id": 5}})
        assert created == {"got": {"id": 5}, "auth": "Basic YW5uOnB3"}
        assert await client.call_tool("chat.search", {"body": {"term": "owl"}}) == "found owl\nend"
    finally:
        await client.close()


# -- what section 7 says about bad documents ----------------------------------------------------------


def _broken_document(request: web.Request) -> str:
    document = chat_document(request.host)
    document["components"]["schemas"]["Node"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        },
    }
    document["paths"]["/chat/jsonl"]["get"]["parameters"].append(
        {"name": "tree", "in": "query", "schema": {"$ref": "#/components/schemas/Node"}}
    )
    document["paths"]["/chat/seq"]["get"]["parameters"].append({"$ref": "#/components/parameters/Missing"})
    return json.dumps(document)


async def test_ref_cycle_is_cut_and_a_broken_operation_costs_only_itself(serve):
    client, result = await registered(serve, app=chat_app(_broken_document, "application/json"))
    try:
        assert result.success
        names = [t.name for t in result.manual.tools]
        assert "chat.chat_seq" not in names and "chat.chat_jsonl" in names
        assert len(result.errors) == 1
        assert "GET /chat/seq: skipped" in result.errors[0] and "#/components/parameters/Missing" in result.errors[0]
        tree = next(t for t in result.manual.tools if t.name == "chat.chat_jsonl").inputs.properties["tree"]
        children = tree.properties["children"].items.model_dump(exclude_none=True)
        assert children == {"description": "recursive reference to #/components/schemas/Node (not expanded)"}
        assert await client.call_tool("chat.chat_jsonl", {"q": "hi"}) == [{"delta": w} for w in WORDS]
    finally:
        await client.close()


def _alias_bomb(request: web.Request) -> str:
    lines = ["openapi: 3.1.0", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    lines.append("paths: {}")
    return "\n".join(lines) + "\n"


async def test_alias_bomb_is_refused_quickly(serve):
    started = time.monotonic()
    client, result = await registered(serve, app=chat_app(_alias_bomb))
    try:
        assert not result.success
        assert "alias" in result.errors[0] and "refused before loading" in result.errors[0]
        assert time.monotonic() - started < 2
    finally:
        await client.close()


async def test_oversized_document_is_refused(serve):
    client, result = await registered(serve, max_item_bytes=2000)
    try:
        assert not result.success and "larger than 2000 bytes" in result.errors[0]
    finally:
        await client.close()


async def test_json_seq_tool_from_a_utcp_manual(serve):
    """json_seq framing also works for a plain manual's tool, forced or auto."""
    from utcp.utcp_client import UtcpClient

    async def manual(request: web.Request) -> web.Response:
        base = f"http://{request.host}/api/chat/seq"
        return web.json_response({"tools": [
            {"name": "forced", "tool_call_template": {"call_template_type": "streamable_http", "url": base,
                                                      "stream_format": "json_seq", "select": "/delta"}},
            {"name": "auto", "tool_call_template": {"call_template_type": "streamable_http", "url": base,
                                                    "aggregate": "concat", "select": "/delta"}},
        ]})  # fmt: skip

    app = chat_app()
    app.router.add_get("/utcp", manual)
    base = await serve(app)
    client = await UtcpClient.create()
    try:
        assert (await client.register_manual(manual_template(base, name="seq"))).success
        assert [item async for item in client.call_tool_streaming("seq.forced", {})] == WORDS
        assert await client.call_tool("seq.auto", {}) == "".join(WORDS)
    finally:
        await client.close()
