"""The demo server's /openapi.json (OpenAPI 3.2 with itemSchema): registered
through UtcpClient, it gives the same streaming tools as its /utcp manual."""

from __future__ import annotations

import hashlib

import pytest
from utcp.data.call_template import CallTemplateSerializer

from utcp_http_stream.demo import DemoServer, DemoSettings, payload
from utcp_http_stream.demo.content import job_records, log_lines, reply_tokens

FAST = DemoSettings(token_delay=0, job_delay=0, log_delay=0, download_delay=0, download_size=256 * 1024)


@pytest.fixture
async def client(utcp_client):
    async with DemoServer(settings=FAST) as server:
        template = CallTemplateSerializer().validate_dict(
            {"name": "demo", "call_template_type": "streamable_http", "url": server.base_url + "/openapi.json"}
        )
        result = await utcp_client.register_manual(template)
        assert result.success and result.errors == [], result.errors
        yield utcp_client


async def test_tools_and_framings(client):
    tools = {t.name: t for t in await client.config.tool_repository.get_tools()}
    formats = {name: tool.tool_call_template.stream_format for name, tool in tools.items()}
    assert formats == {
        "demo.chat": "sse", "demo.job_progress": "ndjson", "demo.log_tail": "text",
        "demo.download": "bytes", "demo.download_info": "json",
    }  # fmt: skip
    chunk = tools["demo.chat"].outputs.model_dump(exclude_none=True)["items"]
    assert chunk["properties"]["object"] == {"const": "chat.completion.chunk"}


async def test_every_tool_streams(client):
    chunks = [c async for c in client.call_tool_streaming("demo.chat", {"body": "hi", "max_tokens": 3})]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "".join(reply_tokens("hi", 3)[0])
    progress = [r async for r in client.call_tool_streaming("demo.job_progress", {"job_id": "j", "steps": 3})]
    assert progress == list(job_records("j", 3))
    assert await client.call_tool("demo.log_tail", {"service": "api", "lines": 2}) == "\n".join(log_lines("api", 2))
    body = await client.call_tool("demo.download", {})
    assert hashlib.sha256(body).hexdigest() == payload(FAST.download_size).sha256
    info = await client.call_tool("demo.download_info", {})
    assert info["size"] == FAST.download_size
