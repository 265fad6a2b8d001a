"""A framework's first calls through UtcpClient, as agent frameworks make them
(langchain-utcp-adapters, pydantic-ai, utcp-agent...): register a manual
from a dict or from the client config, list the tools, call them with the
arguments a model produced. Real aiohttp servers on 127.0.0.1, the plugin
loaded from its entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import threading

import pytest
from aiohttp import web
from utcp.data.call_template import CallTemplateSerializer
from utcp.utcp_client import UtcpClient

from utcp_http_stream import StreamableHttpCommunicationProtocol
from utcp_http_stream import protocol as protocol_module
from utcp_http_stream.errors import HttpStreamError, StreamDecodeError, TemplateError

CHAT_INPUTS = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}, "max_tokens": {"type": "integer"}, "seed": {"type": "integer",
                   "nullable": True}},
    "required": ["prompt"],
}  # fmt: skip


def _tool(name: str, base: str, path: str, inputs: dict | None = None, **template) -> dict:
    return {
        "name": name,
        "description": f"the {name} tool",
        "inputs": inputs or {"type": "object", "properties": {}},
        "tool_call_template": {"call_template_type": "streamable_http", "url": base + path, **template},
    }


def _app(seen: list[str], *, tool_type: str = "streamable_http", extra_fields: dict | None = None) -> web.Application:
    """A service whose manual names its tools ``tool_type``; every request
    that reaches a tool is recorded in ``seen``."""

    async def manual(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        tools = [
            _tool("chat", base, "/chat", CHAT_INPUTS, http_method="POST", body_field="prompt",
                  content_type="text/plain", stream_format="ndjson", **(extra_fields or {})),
            _tool("forced_sse", base, "/ndjson", stream_format="sse"),
            _tool("forced_sse_small", base, "/endless", stream_format="sse", max_item_bytes=1024),
        ]  # fmt: skip
        for tool in tools:
            tool["tool_call_template"]["call_template_type"] = tool_type
        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": tools})

    async def chat(request: web.Request) -> web.StreamResponse:
        seen.append(f"{request.path}?{request.query_string}")
        prompt = await request.text()
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for word in prompt.split():
            await response.write(json.dumps({"token": word}).encode() + b"\n")
        await response.write_eof()
        return response

    def ndjson(count: int):
        async def handler(request: web.Request) -> web.StreamResponse:
            seen.append(request.path)
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # /endless ends when the client stops reading
                for step in range(count):
                    await response.write(json.dumps({"step": step}).encode() + b"\n")
                    await asyncio.sleep(0)
                await response.write_eof()
            return response

        return handler

    app = web.Application()
    app.router.add_get("/utcp", manual)
    app.router.add_post("/chat", chat)
    app.router.add_get("/ndjson", ndjson(3))
    app.router.add_get("/endless", ndjson(100_000))
    return app


def _manual(base: str, call_template_type: str, **extra) -> object:
    return CallTemplateSerializer().validate_dict(
        {"name": "svc", "call_template_type": call_template_type, "url": base + "/utcp"} | extra
    )


# -- 1: both type names are one protocol ----------------------------------------------------------------


@pytest.mark.parametrize("manual_type", ["http_stream", "streamable_http"])
@pytest.mark.parametrize("tool_type", ["http_stream", "streamable_http"])
async def test_a_manual_of_either_name_gets_the_tools_of_both(serve, utcp_client, manual_type, tool_type):
    seen: list[str] = []
    base = await serve(_app(seen, tool_type=tool_type))
    result = await utcp_client.register_manual(_manual(base, manual_type))
    assert result.success and result.errors == []
    assert [tool.name for tool in result.manual.tools] == ["svc.chat", "svc.forced_sse", "svc.forced_sse_small"]
    assert await utcp_client.call_tool("svc.chat", {"prompt": "hi there"}) == [{"token": "hi"}, {"token": "there"}]


async def test_allowed_protocols_the_user_set_are_respected(serve, utcp_client):
    base = await serve(_app([], tool_type="streamable_http"))
    result = await utcp_client.register_manual(_manual(base, "http_stream", allowed_communication_protocols=["http"]))
    assert result.success and result.manual.tools == []  # what the user asked for


async def test_the_alias_works_from_the_client_config(serve):
    base = await serve(_app([], tool_type="streamable_http"))
    config = {"manual_call_templates": [{"name": "svc", "call_template_type": "http_stream", "url": base + "/utcp"}]}
    client = await UtcpClient.create(config=config)
    try:
        names = [tool.name for tool in await client.config.tool_repository.get_tools()]
        assert names == ["svc.chat", "svc.forced_sse", "svc.forced_sse_small"]
        assert await client.search_tools("chat") != []
    finally:
        await client.close()


# -- 2: the declared utcp floor ---------------------------------------------------------------------------------


def test_the_declared_utcp_floor_has_the_factory_registry_register_needs():
    from packaging.requirements import Requirement
    from utcp.plugins import discovery

    requirements = [Requirement(text) for text in importlib.metadata.requires("utcp-http-stream") or []]
    utcp = next(req for req in requirements if req.name == "utcp" and req.marker is None)
    assert not utcp.specifier.contains("1.1.4")  # pip must not accept a utcp without the factory registry
    assert utcp.specifier.contains("1.2.0")
    assert hasattr(discovery, "register_communication_protocol_factory")


# -- 3: arguments checked against the tool's inputs ---------------------------------------------------------------


async def test_a_models_bad_arguments_are_refused_before_anything_is_sent(serve, utcp_client):
    seen: list[str] = []
    base = await serve(_app(seen))
    assert (await utcp_client.register_manual(_manual(base, "streamable_http"))).success

    with pytest.raises(TemplateError) as missing:
        await utcp_client.call_tool("svc.chat", {})
    assert str(missing.value) == (
        "invalid arguments for tool 'svc.chat': missing required argument 'prompt' (string). The tool takes: "
        "prompt (string, required), max_tokens (integer), seed (integer or null). Nothing was sent; call the tool "
        "again with corrected arguments."
    )
    with pytest.raises(ValueError, match=r"argument 'max_tokens' must be integer, got string \"20\""):
        await utcp_client.call_tool("svc.chat", {"prompt": "x", "max_tokens": "20"})
    with pytest.raises(TemplateError, match="argument 'prompt' must be string, got integer 7"):
        async for _ in utcp_client.call_tool_streaming("svc.chat", {"prompt": 7}):
            pass
    assert seen == []

    # nullable and integer-for-integer pass; the call goes out
    assert await utcp_client.call_tool("svc.chat", {"prompt": "ok", "max_tokens": 2, "seed": None}) == [
        {"token": "ok"}
    ]
    assert seen == ["/chat?max_tokens=2"]


async def test_validate_arguments_off_sends_the_call_as_given(serve, monkeypatch):
    monkeypatch.setenv("UTCP_HTTP_STREAM_VALIDATE_ARGUMENTS", "0")
    seen: list[str] = []
    base = await serve(_app(seen))
    client = await UtcpClient.create()
    try:
        assert (await client.register_manual(_manual(base, "streamable_http"))).success
        assert await client.call_tool("svc.chat", {"prompt": "a", "max_tokens": "20"}) == [{"token": "a"}]
    finally:
        await client.close()
    assert seen == ["/chat?max_tokens=20"]


async def test_without_a_caller_or_a_known_tool_the_check_is_skipped(serve):
    seen: list[str] = []
    base = await serve(_app(seen))
    protocol = StreamableHttpCommunicationProtocol()
    template = {"call_template_type": "streamable_http", "url": base + "/ndjson"}
    try:
        assert await protocol.call_tool(None, "svc.anything", {"x": 1}, template) == [{"step": i} for i in range(3)]
        # a framework's own caller object without UtcpClient's config: skipped too
        assert await protocol.call_tool(object(), "svc.anything", {}, template) == [{"step": i} for i in range(3)]
    finally:
        await protocol.close()
    assert seen == ["/ndjson", "/ndjson"]


async def test_a_schema_changed_behind_the_protocols_back_is_the_one_that_judges(serve, utcp_client):
    # The protocol keeps each tool it called (the repository answers with a deep
    # copy every time); a tool replaced without a manual (de)registration, under
    # the very same template, must still be judged by its new inputs.
    seen: list[str] = []
    base = await serve(_app(seen))
    assert (await utcp_client.register_manual(_manual(base, "streamable_http"))).success
    assert await utcp_client.call_tool("svc.chat", {"prompt": "a"}) == [{"token": "a"}]

    repository = utcp_client.config.tool_repository
    manual = await repository.get_manual("svc")
    chat = next(tool for tool in manual.tools if tool.name == "svc.chat")
    chat.inputs = type(chat.inputs).model_validate(
        {"type": "object", "properties": {"prompt": {"type": "string"}, "max_tokens": {"type": "string"}},
         "required": ["prompt", "max_tokens"]}
    )  # fmt: skip
    await repository.save_manual(await repository.get_manual_call_template("svc"), manual)

    # refused by the kept schema (integer), accepted by the new one (string)
    assert await utcp_client.call_tool("svc.chat", {"prompt": "b", "max_tokens": "20"}) == [{"token": "b"}]
    # from then on the new schema is the one kept (max_tokens is required now)
    with pytest.raises(TemplateError, match="missing required argument 'max_tokens'"):
        await utcp_client.call_tool("svc.chat", {"prompt": "c"})
    assert seen == ["/chat?", "/chat?max_tokens=20"]


async def test_a_variables_new_value_is_a_secret_too(serve, monkeypatch):
    # Calls of one tool reuse its registered template while its variables keep
    # their values; a new value is a new template, and still scrubbed.
    async def manual(request: web.Request) -> web.Response:
        tool = _tool("echo", f"http://{request.host}", "/echo", headers={"X-Api-Key": "${API_KEY}"})
        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": [tool]})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"bad key {request.headers['X-Api-Key']}")

    app = web.Application()
    app.router.add_get("/utcp", manual)
    app.router.add_get("/echo", echo)
    base = await serve(app)
    monkeypatch.setenv("svc_API_KEY", "first-secret-1")
    client = await UtcpClient.create()
    try:
        assert (await client.register_manual(_manual(base, "streamable_http"))).success
        for value in ("first-secret-1", "first-secret-1", "second-secret-2"):
            monkeypatch.setenv("svc_API_KEY", value)
            with pytest.raises(HttpStreamError) as failed:
                await client.call_tool("svc.echo", {})
            assert "bad key" in str(failed.value) and value not in str(failed.value)
    finally:
        await client.close()


# -- 4: a forced framing that decodes nothing ----------------------------------------------------------------------


async def test_a_forced_framing_that_decodes_nothing_raises_naming_both(serve, utcp_client):
    base = await serve(_app([]))
    assert (await utcp_client.register_manual(_manual(base, "streamable_http"))).success
    with pytest.raises(StreamDecodeError, match="stream_format 'sse' decoded nothing in the whole 36-byte body"):
        await utcp_client.call_tool("svc.forced_sse", {})
    with pytest.raises(StreamDecodeError, match="application/x-ndjson names the ndjson framing"):
        async for _ in utcp_client.call_tool_streaming("svc.forced_sse", {}):
            pass
    # an endless stream: after max_item_bytes of it, not never
    with pytest.raises(StreamDecodeError, match="decoded nothing in the first"):
        await asyncio.wait_for(utcp_client.call_tool("svc.forced_sse_small", {}), 10)


# -- 5: unknown template fields ----------------------------------------------------------------------------


async def test_registration_warns_once_per_unknown_field(serve, utcp_client, caplog):
    caplog.set_level(logging.WARNING)
    base = await serve(_app([], extra_fields={"stream_fromat": "sse", "idle_timout": 500}))
    result = await utcp_client.register_manual(_manual(base, "streamable_http"))
    assert result.success
    ours = [r for r in caplog.records if r.name.startswith("utcp_http_stream")]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.WARNING]
    assert "unknown field 'stream_fromat' (did you mean 'stream_format'?)" in ours[0].getMessage()
    assert "unknown field 'idle_timout' (did you mean 'idle_timeout'?)" in ours[1].getMessage()
    caplog.clear()
    assert await utcp_client.call_tool("svc.chat", {"prompt": "a b"}) == [{"token": "a"}, {"token": "b"}]
    assert [r for r in caplog.records if r.name.startswith("utcp_http_stream")] == []  # not on every call


# -- 9: library manners ----------------------------------------------------------------------------------------


async def test_a_failed_registration_is_returned_and_logged_once_as_a_warning(utcp_client, caplog):
    caplog.set_level(logging.DEBUG)
    result = await utcp_client.register_manual(_manual("http://127.0.0.1:1", "streamable_http"))
    assert not result.success
    assert len(result.errors) == 1 and "could not connect" in result.errors[0]
    ours = [r for r in caplog.records if r.name.startswith("utcp_http_stream")]
    assert [(r.levelno, r.name) for r in ours] == [(logging.WARNING, "utcp_http_stream.protocol")]
    assert "could not connect" in ours[0].getMessage()


# -- 10: a large document does not hold up the loop -------------------------------------------------------------


def _sized_manual_app() -> web.Application:
    """``/small/utcp``: two tools; ``/large/utcp``: 400 tools with long
    descriptions, several times PARSE_INLINE_MAX."""

    def manual(count: int, words: int):
        async def handler(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            tools = [_tool(f"t{i}", base, "/ndjson") for i in range(count)]
            for tool in tools:
                tool["description"] = "streams progress " * words
            return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": tools})

        return handler

    async def steps(request: web.Request) -> web.Response:
        return web.Response(text="".join(json.dumps({"step": i}) + "\n" for i in range(3)),
                            content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/small/utcp", manual(2, 5))
    app.router.add_get("/large/utcp", manual(400, 60))
    app.router.add_get("/ndjson", steps)
    return app


async def test_a_large_document_is_parsed_off_the_event_loop(serve, utcp_client, monkeypatch):
    # OpenAI's 2.9 MB OpenAPI document held the loop for 2 s: every other call stood still.
    parsed_on: dict[int, int] = {}
    parse = protocol_module._parse_manual

    def spy(body: bytes, content_type: str | None, url: str):  # calls through; records the thread
        parsed_on[len(body)] = threading.get_ident()
        return parse(body, content_type, url)

    monkeypatch.setattr(protocol_module, "_parse_manual", spy)
    base = await serve(_sized_manual_app())
    loop_thread = threading.get_ident()
    small = await utcp_client.register_manual(_manual(base + "/small", "streamable_http", name="small"))
    large = await utcp_client.register_manual(_manual(base + "/large", "streamable_http", name="large"))
    assert small.success and large.success and len(large.manual.tools) == 400
    (small_size, small_thread), (large_size, large_thread) = parsed_on.items()
    assert small_size <= protocol_module.PARSE_INLINE_MAX < large_size
    assert small_thread == loop_thread and large_thread != loop_thread
    assert await utcp_client.call_tool("large.t399", {}) == [{"step": 0}, {"step": 1}, {"step": 2}]
