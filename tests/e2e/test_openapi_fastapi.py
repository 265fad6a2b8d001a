"""A FastAPI application run by uvicorn on 127.0.0.1: every route discovered
from its ``/openapi.json`` through UtcpClient streams exactly what it sends,
with the framing its declared media type names and the arguments mapped to
path, query, header and body as the document says."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterable, Iterator
from typing import Annotated

import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Header, Security  # noqa: E402
from fastapi.responses import PlainTextResponse, Response  # noqa: E402
from fastapi.security import APIKeyHeader  # noqa: E402
from fastapi.sse import EventSourceResponse  # noqa: E402
from pydantic import BaseModel  # noqa: E402

BLOB = bytes(range(256)) * 64
API_KEY = APIKeyHeader(name="X-API-Key")


class Token(BaseModel):
    index: int
    text: str


class Order(BaseModel):
    quantity: int
    note: str | None = None


def build_app() -> FastAPI:
    app = FastAPI(title="streams", version="0.3.0")

    @app.get("/tokens", response_class=EventSourceResponse, operation_id="stream_tokens")
    async def tokens(count: int = 3) -> AsyncIterable[Token]:
        for index in range(count):
            yield Token(index=index, text=f"t{index}")

    @app.get("/jobs/{job_id}/progress", operation_id="job_progress")
    async def progress(job_id: str, steps: int = 3) -> AsyncIterable[dict]:
        for step in range(steps):
            yield {"job": job_id, "step": step}

    @app.get("/status", operation_id="status")
    async def status() -> dict:
        return {"ok": True, "version": "0.3.0"}

    @app.get("/log", response_class=PlainTextResponse, operation_id="log")
    async def log() -> str:
        return "first line\nsecond line\n"

    @app.get(
        "/blob",
        operation_id="blob",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    async def blob(size: int = len(BLOB)) -> Response:
        return Response(BLOB[:size], media_type="application/octet-stream")

    @app.post("/orders/{shop}", operation_id="place_order")
    async def order(
        shop: str, order: Order, express: bool = False, x_trace_id: Annotated[str | None, Header()] = None
    ) -> dict:
        return {"shop": shop, "express": express, "trace": x_trace_id, "order": order.model_dump()}

    @app.get("/secret", operation_id="secret")
    async def secret(api_key: Annotated[str, Security(API_KEY)]) -> dict:
        return {"key_ok": api_key == "sekret"}

    return app


@pytest.fixture(scope="module")
def fastapi_base() -> Iterator[str]:
    """uvicorn serving the app on a free 127.0.0.1 port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
async def client(fastapi_base):
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create(config={"variables": {"fast_APIKEYHEADER": "sekret"}})
    result = await client.register_manual(_manual(fastapi_base + "/openapi.json"))
    assert result.success, result.errors
    assert result.errors == []
    yield client
    await client.close()


def _manual(url: str, name: str = "fast"):
    from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

    return StreamableHttpCallTemplateSerializer().validate_dict(
        {"name": name, "call_template_type": "streamable_http", "url": url}
    )


async def _stream(client, tool: str, args: dict) -> list:
    return [item async for item in client.call_tool_streaming(tool, args)]


async def _tools(client) -> dict:
    return {tool.name: tool for tool in await client.config.tool_repository.get_tools()}


async def test_every_route_becomes_a_tool_with_its_framing(client):
    tools = await _tools(client)
    formats = {name: tool.tool_call_template.stream_format for name, tool in tools.items()}
    assert formats == {
        "fast.stream_tokens": "sse",
        "fast.job_progress": "ndjson",
        "fast.status": "json",
        "fast.log": "text",
        "fast.blob": "bytes",
        "fast.place_order": "json",
        "fast.secret": "json",
    }
    assert tools["fast.stream_tokens"].outputs.model_dump(exclude_none=True)["items"]["properties"]["text"] == {
        "type": "string",
        "title": "Text",
    }


async def test_sse_route_streams_its_events(client):
    assert await _stream(client, "fast.stream_tokens", {"count": 4}) == [
        {"index": i, "text": f"t{i}"} for i in range(4)
    ]


async def test_jsonl_route_streams_its_lines_with_path_and_query(client):
    assert await _stream(client, "fast.job_progress", {"job_id": "j 1", "steps": 2}) == [
        {"job": "j 1", "step": 0},
        {"job": "j 1", "step": 1},
    ]


async def test_json_text_and_binary_routes(client):
    assert await client.call_tool("fast.status", {}) == {"ok": True, "version": "0.3.0"}
    assert await _stream(client, "fast.log", {}) == ["first line", "second line"]
    assert await client.call_tool("fast.blob", {}) == BLOB
    assert await client.call_tool("fast.blob", {"size": 5}) == BLOB[:5]


async def test_post_with_path_query_header_and_body(client):
    tool = (await _tools(client))["fast.place_order"]
    inputs = tool.inputs.model_dump(exclude_none=True)
    assert set(inputs["properties"]) == {"shop", "express", "x-trace-id", "body"}
    assert set(inputs["required"]) == {"shop", "body"}
    assert inputs["properties"]["body"]["properties"]["quantity"]["type"] == "integer"
    template = tool.tool_call_template
    assert (template.http_method, template.body_field, template.header_fields) == ("POST", "body", ["x-trace-id"])
    result = await client.call_tool(
        "fast.place_order",
        {"shop": "north", "express": True, "x-trace-id": "abc-1", "body": {"quantity": 2, "note": "hi"}},
    )
    assert result == {"shop": "north", "express": True, "trace": "abc-1", "order": {"quantity": 2, "note": "hi"}}


async def test_api_key_route_uses_the_placeholder_variable(client):
    template = (await _tools(client))["fast.secret"].tool_call_template
    assert (template.auth.var_name, template.auth.location) == ("X-API-Key", "header")
    assert await client.call_tool("fast.secret", {}) == {"key_ok": True}


async def test_api_key_route_without_the_variable_is_refused_by_the_server(fastapi_base):
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create(config={"variables": {"fast_APIKEYHEADER": "wrong"}})
    try:
        assert (await client.register_manual(_manual(fastapi_base + "/openapi.json"))).success
        assert await client.call_tool("fast.secret", {}) == {"key_ok": False}
    finally:
        await client.close()


async def test_bare_origin_finds_openapi_json(fastapi_base):
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    try:
        result = await client.register_manual(_manual(fastapi_base, name="bare"))
        assert result.success, result.errors
        assert len(result.manual.tools) == 7
        assert await client.call_tool("bare.status", {}) == {"ok": True, "version": "0.3.0"}
        assert await _stream(client, "bare.stream_tokens", {"count": 1}) == [{"index": 0, "text": "t0"}]
    finally:
        await client.close()
