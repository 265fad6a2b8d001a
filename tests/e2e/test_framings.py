"""Every framing of ARCHITECTURE section 3 through UtcpClient against a real
server: the WHATWG SSE table served byte-split over HTTP, real-world model
stream shapes with select, and the decoder options end to end."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from tests.sse_cases import SSE_CASES, SSE_OPTION_CASES
from tests.support import manual_template
from utcp_http_stream.errors import StreamDecodeError
from utcp_http_stream.transport import StreamClient

BODIES: dict[str, tuple[bytes, str]] = {}


def split_writer(step: int):
    """A handler that sends its body in ``step``-byte writes, so chunk
    boundaries fall everywhere (inside CRLF, inside UTF-8 characters)."""

    async def handler(request: web.Request):
        body, ctype = BODIES[request.match_info["key"]]
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        for i in range(0, len(body), step):
            await resp.write(body[i : i + step])
        await resp.write_eof()
        return resp

    return handler


def put(key: str, body: bytes, ctype: str) -> str:
    BODIES[key] = (body, ctype)
    return key


@pytest.fixture
async def server(serve):
    app = web.Application()
    app.router.add_get("/b/{key}", split_writer(3))
    app.router.add_post("/b/{key}", split_writer(7))
    return await serve(app)


async def register_tools(utcp_client, base, tools: dict[str, dict]):
    async def manual(request):
        return web.json_response({"tools": [
            {"name": name, "tool_call_template": {"call_template_type": "streamable_http", **tmpl}}
            for name, tmpl in tools.items()
        ]})

    app = web.Application()
    app.router.add_get("/utcp", manual)
    return app


@pytest.fixture
async def tool_client(serve, server, utcp_client):
    """``await add({name: template})`` registers a manual whose tools point at the split server."""
    count = 0

    async def add(tools: dict[str, dict]):
        nonlocal count
        count += 1
        app = await register_tools(utcp_client, server, tools)
        mbase = await serve(app)
        result = await utcp_client.register_manual(manual_template(mbase, name=f"m{count}"))
        assert result.success, result.errors
        return f"m{count}"

    return server, add, utcp_client


@pytest.mark.parametrize("name,raw,expected", SSE_CASES, ids=[c[0] for c in SSE_CASES])
async def test_sse_table_through_utcp_client(tool_client, name, raw, expected):
    base, add, client = tool_client
    key = put("sse-" + name, raw, "text/event-stream")
    manual = await add({"t": {"url": f"{base}/b/{key}"}})
    items = [x async for x in client.call_tool_streaming(f"{manual}.t", {})]
    assert items == expected
    assert await client.call_tool(f"{manual}.t", {}) == expected


@pytest.mark.parametrize(
    "name,raw,options,expected",
    [c for c in SSE_OPTION_CASES if not c[2].get("events")],
    ids=[c[0] for c in SSE_OPTION_CASES if not c[2].get("events")],
)
async def test_sse_options_through_utcp_client(tool_client, name, raw, options, expected):
    base, add, client = tool_client
    key = put("sse-opt-" + name, raw, "text/event-stream")
    manual = await add({"t": {"url": f"{base}/b/{key}", **options}})
    assert [x async for x in client.call_tool_streaming(f"{manual}.t", {})] == expected


@pytest.mark.parametrize(
    "name,raw,options,expected",
    [c for c in SSE_OPTION_CASES if c[2].get("events")],
    ids=[c[0] for c in SSE_OPTION_CASES if c[2].get("events")],
)
async def test_sse_envelopes_on_the_python_api(server, name, raw, options, expected):
    key = put("sse-env-" + name, raw, "text/event-stream")
    template = {"url": f"{server}/b/{key}", **{k: v for k, v in options.items() if k != "events"}}
    async with StreamClient() as client, client.stream(template) as resp:
        assert resp.framing == "sse"
        assert [e async for e in resp.iter_events()] == expected


def openai_stream() -> bytes:
    words = ["Hel", "lo", ", ", "wor", "ld", "!"]
    events = [{"id": "c1", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    events += [{"id": "c1", "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    events += [{"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def anthropic_stream() -> bytes:
    def ev(kind, data):
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

    out = ev("message_start", {"type": "message_start", "message": {"id": "m1", "content": []}})
    out += ev("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})
    out += ev("ping", {"type": "ping"})
    for piece in ["Bonjour", " le", " monde"]:
        out += ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": piece}})
        out += b": keep-alive\r\n\r\n"
    out += ev("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
    out += ev("message_stop", {"type": "message_stop"})
    return out


def ollama_stream() -> bytes:
    parts = ["The", " sky", " is", " blue", "."]
    lines = [{"model": "llama3", "response": p, "done": False} for p in parts]
    lines.append({"model": "llama3", "response": "", "done": True, "total_duration": 123})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


async def test_openai_style_chat_stream(tool_client):
    base, add, client = tool_client
    key = put("openai", openai_stream(), "text/event-stream; charset=utf-8")
    manual = await add({"chat": {"url": f"{base}/b/{key}", "http_method": "POST", "body_field": "body",
                                 "select": "/choices/0/delta/content", "aggregate": "concat"}})
    tokens = [x async for x in client.call_tool_streaming(f"{manual}.chat", {"body": {"stream": True}})]
    assert tokens == ["Hel", "lo", ", ", "wor", "ld", "!"]
    assert await client.call_tool(f"{manual}.chat", {"body": {"stream": True}}) == "Hello, world!"


async def test_anthropic_style_messages_stream(tool_client):
    base, add, client = tool_client
    key = put("anthropic", anthropic_stream(), "text/event-stream")
    manual = await add({"messages": {"url": f"{base}/b/{key}", "http_method": "POST", "body_field": "body",
                                     "sse_event_types": ["content_block_delta"], "select": "/delta/text"}})
    assert [x async for x in client.call_tool_streaming(f"{manual}.messages", {"body": {}})] == [
        "Bonjour", " le", " monde"]


async def test_ollama_style_ndjson_stream(tool_client):
    base, add, client = tool_client
    key = put("ollama", ollama_stream(), "application/x-ndjson")
    manual = await add({"gen": {"url": f"{base}/b/{key}", "http_method": "POST", "body_field": "body",
                                "select": "/response", "aggregate": "concat"}})
    assert [x async for x in client.call_tool_streaming(f"{manual}.gen", {"body": {}})] == [
        "The", " sky", " is", " blue", ".", ""]
    assert await client.call_tool(f"{manual}.gen", {"body": {}}) == "The sky is blue."


@pytest.mark.parametrize(
    "ctype",
    ["application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines"],
)
async def test_ndjson_content_types_and_line_endings(tool_client, ctype):
    base, add, client = tool_client
    key = put("nd-" + ctype.replace("/", "_"), b'\xef\xbb\xbf{"a":1}\r\n\r\n  \n[2]\n"three"', ctype)
    manual = await add({"t": {"url": f"{base}/b/{key}"}})
    assert [x async for x in client.call_tool_streaming(f"{manual}.t", {})] == [{"a": 1}, [2], "three"]


async def test_vendor_json_and_format_override(tool_client):
    base, add, client = tool_client
    key = put("vnd", b'{"x": [1, 2]}', "application/vnd.api+json")
    key2 = put("mislabelled", b'{"a":1}\n{"a":2}\n', "text/plain")
    manual = await add({"doc": {"url": f"{base}/b/{key}", "select": "/x/1"},
                        "nd": {"url": f"{base}/b/{key2}", "stream_format": "ndjson"},
                        "raw": {"url": f"{base}/b/{key}", "stream_format": "bytes"}})
    assert await client.call_tool(f"{manual}.doc", {}) == 2
    assert await client.call_tool(f"{manual}.nd", {}) == [{"a": 1}, {"a": 2}]
    assert await client.call_tool(f"{manual}.raw", {}) == b'{"x": [1, 2]}'


async def test_text_charset_and_concat(tool_client):
    base, add, client = tool_client
    key = put("latin", "héllo\nwörld\n".encode("latin-1"), "text/plain; charset=ISO-8859-1")
    manual = await add({"t": {"url": f"{base}/b/{key}"}, "c": {"url": f"{base}/b/{key}", "aggregate": "concat"}})
    assert [x async for x in client.call_tool_streaming(f"{manual}.t", {})] == ["héllo", "wörld"]
    # concat changes only the list framings: text is already one value
    assert await client.call_tool(f"{manual}.c", {}) == "héllo\nwörld"


async def test_malformed_ndjson_modes_end_to_end(tool_client):
    base, add, client = tool_client
    key = put("bad-nd", b'{"a":1}\n{"a":2}\nnot json\n{"a":3}\n', "application/x-ndjson")
    manual = await add({"err": {"url": f"{base}/b/{key}"},
                        "skip": {"url": f"{base}/b/{key}", "on_malformed": "skip"},
                        "raw": {"url": f"{base}/b/{key}", "on_malformed": "raw"}})
    got = []
    with pytest.raises(StreamDecodeError, match="line 3") as info:
        async for item in client.call_tool_streaming(f"{manual}.err", {}):
            got.append(item)
    assert got == [{"a": 1}, {"a": 2}]  # every earlier item was delivered first
    assert "not json" in str(info.value)
    assert await client.call_tool(f"{manual}.skip", {}) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert await client.call_tool(f"{manual}.raw", {}) == [{"a": 1}, {"a": 2}, "not json", {"a": 3}]


async def test_a_bad_last_line_fails_the_aggregate_as_it_fails_the_stream(tool_client):
    # The whole body arrives with the headers: call_tool decodes its last
    # piece and its end in one step (StreamState.feed_last).
    base, add, client = tool_client
    key = put("bad-end", b'{"a":1}\n{"a":2}\n{"a": ', "application/x-ndjson")
    manual = await add({"t": {"url": f"{base}/b/{key}"}})
    with pytest.raises(StreamDecodeError, match="line 3"):
        await client.call_tool(f"{manual}.t", {})
    got = []
    with pytest.raises(StreamDecodeError, match="line 3"):
        async for item in client.call_tool_streaming(f"{manual}.t", {}):
            got.append(item)
    assert got == [{"a": 1}, {"a": 2}]


async def test_oversized_item_is_refused_not_truncated(tool_client):
    base, add, client = tool_client
    key = put("big-line", b'{"a":1}\n' + b'"' + b"x" * 5000 + b'"\n', "application/x-ndjson")
    manual = await add({"t": {"url": f"{base}/b/{key}", "max_item_bytes": 1024}})
    got = []
    with pytest.raises(StreamDecodeError, match="max_item_bytes"):
        async for item in client.call_tool_streaming(f"{manual}.t", {}):
            got.append(item)
    assert got == [{"a": 1}]


async def test_bytes_chunks_never_exceed_chunk_size(tool_client):
    base, add, client = tool_client
    body = bytes(range(256)) * 40
    key = put("blob", body, "application/octet-stream")
    manual = await add({"t": {"url": f"{base}/b/{key}", "chunk_size": 2}})
    chunks = [x async for x in client.call_tool_streaming(f"{manual}.t", {})]
    assert max(map(len, chunks)) <= 2 and b"".join(chunks) == body
