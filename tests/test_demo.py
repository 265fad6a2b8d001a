"""The embedded demo server (``utcp_http_stream.demo``): its manual, every tool
streamed through UtcpClient (plugin loaded from its entry point), the
deterministic content, and the ``/stats`` counters the CLI tests rely on."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket

import aiohttp
import pytest
from utcp.data.call_template import CallTemplateSerializer
from utcp.data.utcp_manual import UtcpManualSerializer

from utcp_http_stream.demo import (
    DOWNLOAD_SIZE,
    DemoServer,
    DemoServerThread,
    DemoSettings,
    base_url_for,
    build_manual,
    payload,
)
from utcp_http_stream.demo.content import job_records, log_lines, reply_tokens
from utcp_http_stream.manual import parse_manual
from utcp_http_stream.template import StreamableHttpCallTemplate

FAST = DemoSettings(token_delay=0, job_delay=0, log_delay=0, download_delay=0, download_size=1024 * 1024)


@pytest.fixture
async def server():
    async with DemoServer(settings=FAST) as running:
        yield running


@pytest.fixture
async def demo_client(server, utcp_client):
    template = CallTemplateSerializer().validate_dict(
        {"name": "demo", "call_template_type": "streamable_http", "url": server.manual_url}
    )
    result = await utcp_client.register_manual(template)
    assert result.success, result.errors
    return utcp_client


async def _get_json(url: str):
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


# -- content -------------------------------------------------------------------------------


def test_payload_is_deterministic_and_its_digest_matches():
    first, second = payload(4096), payload(4096)
    assert first.data == second.data and len(first.data) == 4096
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert payload(4096).data == payload(8192).data[:4096]  # SHAKE output is a prefix stream


def test_reply_tokens_join_to_the_reply_and_respect_max_tokens():
    tokens, finish = reply_tokens("hello   world")
    assert finish == "stop"
    assert "".join(tokens).startswith('You asked: "hello world".')
    short, finish = reply_tokens("hello", max_tokens=3)
    assert short == reply_tokens("hello")[0][:3] and finish == "length"


def test_job_records_and_log_lines_shapes():
    records = list(job_records("j", 4))
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["percent"] == 100.0 and records[-1]["done"] is True
    assert {"step", "total", "percent", "message"} <= records[0].keys()
    lines = list(log_lines("api", 3))
    assert len(lines) == 3 and all(" api: " in line for line in lines)


def test_base_url_for_wildcards_and_ipv6():
    assert base_url_for("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert base_url_for("::", 81) == "http://[::1]:81"
    assert base_url_for("::1", 82) == "http://[::1]:82"
    assert base_url_for("localhost", 83) == "http://localhost:83"


# -- the manual ------------------------------------------------------------------------------


def test_manual_validates_through_utcp_serializers():
    document = build_manual("http://127.0.0.1:9999")
    manual = UtcpManualSerializer().validate_dict(document)
    names = [tool.name for tool in manual.tools]
    assert names == ["chat", "job_progress", "log_tail", "download", "download_info"]
    for tool in manual.tools:
        assert isinstance(tool.tool_call_template, StreamableHttpCallTemplate)
        assert tool.tool_call_template.url.startswith("http://127.0.0.1:9999/")
    chat = manual.tools[0].tool_call_template
    assert chat.select == "/choices/0/delta/content" and chat.stream_format == "sse"
    assert parse_manual(document).errors == []


def test_manual_publishes_the_download_digest():
    document = build_manual("http://127.0.0.1:1")
    download = next(tool for tool in document["tools"] if tool["name"] == "download")
    assert payload(DOWNLOAD_SIZE).sha256 in download["description"]


async def test_served_manual_names_the_servers_own_base_url(server):
    status, document = await _get_json(server.manual_url)
    assert status == 200
    urls = [tool["tool_call_template"]["url"] for tool in document["tools"]]
    assert all(url.startswith(server.base_url + "/") for url in urls)


# -- every tool through UtcpClient --------------------------------------------------------------


async def test_chat_streams_tokens_through_utcp_client(demo_client):
    stream = demo_client.call_tool_streaming("demo.chat", {"prompt": "hi", "max_tokens": 6})
    tokens = [token async for token in stream]
    assert tokens == reply_tokens("hi", 6)[0]
    whole = await demo_client.call_tool("demo.chat", {"prompt": "hi"})
    assert whole == "".join(reply_tokens("hi")[0])  # aggregate: concat


async def test_job_progress_streams_ndjson_records(demo_client):
    stream = demo_client.call_tool_streaming("demo.job_progress", {"job_id": "x", "steps": 5})
    records = [record async for record in stream]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert records == list(job_records("x", 5))


async def test_log_tail_streams_text_lines(demo_client):
    stream = demo_client.call_tool_streaming("demo.log_tail", {"service": "worker", "lines": 4})
    lines = [line async for line in stream]
    assert lines == list(log_lines("worker", 4))


async def test_download_streams_bytes_matching_the_published_digest(demo_client):
    info = await demo_client.call_tool("demo.download_info", {})
    digest, size, chunks = hashlib.sha256(), 0, 0
    async for chunk in demo_client.call_tool_streaming("demo.download", {}):
        assert isinstance(chunk, bytes) and len(chunk) <= 65536
        digest.update(chunk)
        size += len(chunk)
        chunks += 1
    assert size == info["size"] == FAST.download_size
    assert digest.hexdigest() == info["sha256"] == payload(FAST.download_size).sha256
    assert chunks > 1


async def test_download_headers_carry_the_digest(server):
    url = server.base_url + "/files/demo.bin"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.read()
        assert response.headers["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
        assert response.headers["Repr-Digest"].startswith("sha-256=:")
        assert int(response.headers["Content-Length"]) == len(body)


async def test_bad_parameters_are_a_400_with_a_json_error(server):
    status, body = await _get_json(server.base_url + "/jobs/x/progress?steps=zero")
    assert status == 400 and "steps" in body["error"]
    status, body = await _get_json(server.base_url + "/logs/api/tail?delay_ms=999999")
    assert status == 400 and "delay_ms" in body["error"]


async def test_chat_accepts_openai_style_json_messages(server):
    body = {"messages": [{"role": "user", "content": "from json"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.base_url + "/chat?max_tokens=4", json=body) as response:
            text = await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert '"content":"You"' in text and text.rstrip().endswith("data: [DONE]")


# -- /stats -------------------------------------------------------------------------------------


async def test_stats_count_open_streams_and_see_a_client_leave(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/logs/api/tail?lines=1000&delay_ms=50") as response:
            await response.content.readline()
            assert server.stats()["open_streams"] == 1
            assert server.stats()["open_streams_by_route"] == {"log_tail": 1}
            response.close()  # drop the connection mid-stream
        for _ in range(100):
            if server.stats()["open_streams"] == 0:
                break
            await asyncio.sleep(0.02)
    stats = server.stats()
    assert stats["open_streams"] == 0 and stats["streams_started"] == 1 and stats["streams_completed"] == 0
    status, snapshot = await _get_json(server.base_url + "/stats")
    assert status == 200 and snapshot["open_streams"] == 0 and snapshot["open_connections"] >= 1
    json.dumps(snapshot)


def test_server_thread_serves_and_stops():
    with DemoServerThread(settings=FAST) as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert running.stats()["open_streams"] == 0


def test_server_thread_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            DemoServerThread(port=taken.getsockname()[1]).start(timeout=10)
