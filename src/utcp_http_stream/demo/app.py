"""The demo aiohttp application: a ``/utcp`` manual and real streaming tools.

Endpoints (all relative to the server's base URL):

- ``GET  /utcp``                      the UTCP manual; tool URLs use the server's own base URL
- ``GET  /openapi.json``              the same endpoints as an OpenAPI 3.2 document (``itemSchema`` per item)
- ``POST /chat``                      SSE, OpenAI-style ``chat.completion.chunk`` deltas, then ``[DONE]``
- ``GET  /jobs/{job_id}/progress``    NDJSON progress records of a long-running job
- ``GET  /logs/{service}/tail``       text/plain log lines as they are written
- ``GET  /files/demo.bin``            a multi-megabyte octet-stream (sha256 in ``X-Content-SHA256``)
- ``GET  /files/demo.bin.json``       that file's size and sha256
- ``GET  /stats``                     open streams and connections, so a test can see a client let go

Every streaming handler accepts ``delay_ms`` (pause between pieces) so a
caller can slow a stream down; sizes and counts are bounded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from utcp_http_stream.demo.content import (
    DOWNLOAD_NAME,
    DOWNLOAD_SIZE,
    chat_chunks,
    job_records,
    log_lines,
    payload,
    reply_tokens,
)
from utcp_http_stream.demo.openapi_doc import build_openapi

__all__ = ["DEMO_STATE", "DemoSettings", "DemoState", "build_manual", "create_app"]

_MAX_DELAY_MS = 10_000
_MAX_COUNT = 100_000


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Pacing and sizes. The defaults keep a full ``demo`` run to a few seconds."""

    token_delay: float = 0.02
    job_steps: int = 20
    job_delay: float = 0.04
    log_lines: int = 12
    log_delay: float = 0.04
    download_size: int = DOWNLOAD_SIZE
    download_chunk: int = 64 * 1024
    download_delay: float = 0.002


@dataclass(slots=True)
class DemoState:
    """Mutable server state, shared by the handlers.

    ``base_url`` is set by whoever binds the socket (the manual needs it);
    ``server`` lets ``/stats`` count open TCP connections.
    """

    settings: DemoSettings = field(default_factory=DemoSettings)
    base_url: str = ""
    server: web.Server | None = None
    open_streams: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    bytes_streamed: int = 0
    open_by_path: dict[str, int] = field(default_factory=dict)

    @contextlib.contextmanager
    def track(self, route: str) -> Iterator[None]:
        """Count a stream as open for as long as its handler runs (a client
        that disconnects ends the handler: cancellation or a failed write)."""
        self.open_streams += 1
        self.streams_started += 1
        self.open_by_path[route] = self.open_by_path.get(route, 0) + 1
        try:
            yield
        finally:
            self.open_streams -= 1
            self.open_by_path[route] -= 1
            if not self.open_by_path[route]:
                del self.open_by_path[route]

    def snapshot(self) -> dict[str, Any]:
        return {
            "open_streams": self.open_streams,
            "open_streams_by_route": dict(self.open_by_path),
            "streams_started": self.streams_started,
            "streams_completed": self.streams_completed,
            "bytes_streamed": self.bytes_streamed,
            # Includes the connection that asked for /stats.
            "open_connections": len(self.server.connections) if self.server is not None else None,
        }


DEMO_STATE = web.AppKey("demo_state", DemoState)


def build_manual(base_url: str, settings: DemoSettings | None = None) -> dict[str, Any]:
    """The demo's UTCP manual, every tool URL built from ``base_url``."""
    settings = settings or DemoSettings()
    info = payload(settings.download_size)
    base = base_url.rstrip("/")
    delay_ms = {
        "type": "integer",
        "minimum": 0,
        "maximum": _MAX_DELAY_MS,
        "description": "milliseconds to pause between pieces (to slow the stream down)",
    }
    return {
        "manual_version": "1.0.0",
        "utcp_version": "1.0.0",
        "tools": [
            {
                "name": "chat",
                "description": ("Stream a chat completion token by token (OpenAI-style SSE deltas ending in [DONE])."),
                "inputs": {
                    "type": "object",
                    "properties": {
                        "prompt": {"type": "string", "description": "what to ask the demo model"},
                        "max_tokens": {"type": "integer", "minimum": 0},
                        "delay_ms": delay_ms,
                    },
                    "required": ["prompt"],
                },
                "outputs": {"type": "string", "description": "one text delta per item"},
                "tags": ["demo", "sse", "llm"],
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": f"{base}/chat",
                    "http_method": "POST",
                    "content_type": "text/plain; charset=utf-8",
                    "body_field": "prompt",
                    "stream_format": "sse",
                    "select": "/choices/0/delta/content",
                    "aggregate": "concat",
                    "timeout": 30_000,
                },
            },
            {
                "name": "job_progress",
                "description": ("Follow a long-running job: NDJSON records with step, total, percent and message."),
                "inputs": {
                    "type": "object",
                    "properties": {
                        "job_id": {"type": "string"},
                        "steps": {"type": "integer", "minimum": 1, "maximum": _MAX_COUNT},
                        "delay_ms": delay_ms,
                    },
                    "required": ["job_id"],
                },
                "outputs": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "integer"},
                        "total": {"type": "integer"},
                        "percent": {"type": "number"},
                        "message": {"type": "string"},
                        "done": {"type": "boolean"},
                    },
                },
                "tags": ["demo", "ndjson", "progress"],
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": f"{base}/jobs/{{job_id}}/progress",
                    "http_method": "GET",
                    "stream_format": "ndjson",
                    "timeout": 0,
                    "idle_timeout": 15_000,
                },
            },
            {
                "name": "log_tail",
                "description": "Tail a service's log: text/plain, one line per item as it is written.",
                "inputs": {
                    "type": "object",
                    "properties": {
                        "service": {"type": "string", "enum": ["api", "worker", "scheduler"]},
                        "lines": {"type": "integer", "minimum": 0, "maximum": _MAX_COUNT},
                        "delay_ms": delay_ms,
                    },
                    "required": ["service"],
                },
                "outputs": {"type": "string", "description": "one log line per item"},
                "tags": ["demo", "text", "logs"],
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": f"{base}/logs/{{service}}/tail",
                    "http_method": "GET",
                    "stream_format": "text",
                    "timeout": 0,
                    "idle_timeout": 15_000,
                },
            },
            {
                "name": "download",
                "description": (
                    f"Download {DOWNLOAD_NAME}: {info.size} bytes of application/octet-stream in 64 KiB "
                    f"chunks; sha256 {info.sha256}."
                ),
                "inputs": {"type": "object", "properties": {"delay_ms": delay_ms}},
                "outputs": {"type": "string", "format": "binary", "description": "bytes chunks"},
                "tags": ["demo", "bytes", "download"],
                "average_response_size": info.size,
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": f"{base}/files/{DOWNLOAD_NAME}",
                    "http_method": "GET",
                    "stream_format": "bytes",
                    "chunk_size": 65_536,
                    "timeout": 0,
                    "idle_timeout": 15_000,
                },
            },
            {
                "name": "download_info",
                "description": f"Size and sha256 of {DOWNLOAD_NAME}, to check a download against.",
                "inputs": {"type": "object", "properties": {}},
                "outputs": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "sha256": {"type": "string"},
                    },
                },
                "tags": ["demo", "json"],
                "tool_call_template": {
                    "call_template_type": "streamable_http",
                    "url": f"{base}/files/{DOWNLOAD_NAME}.json",
                    "http_method": "GET",
                    "stream_format": "json",
                },
            },
        ],
    }


def create_app(settings: DemoSettings | None = None, *, base_url: str = "") -> web.Application:
    """The demo application. Set ``app[DEMO_STATE].base_url`` once the socket
    is bound if it was not known here (``DemoServer`` does)."""
    app = web.Application(middlewares=[_client_gone])
    app[DEMO_STATE] = DemoState(settings=settings or DemoSettings(), base_url=base_url)
    app.add_routes(
        [
            web.get("/", _index, allow_head=False),
            web.get("/utcp", _manual, allow_head=False),
            web.get("/openapi.json", _openapi, allow_head=False),
            web.get("/stats", _stats, allow_head=False),
            web.post("/chat", _chat),
            web.get("/jobs/{job_id}/progress", _job_progress, allow_head=False),
            web.get("/logs/{service}/tail", _log_tail, allow_head=False),
            web.get(f"/files/{DOWNLOAD_NAME}", _download, allow_head=False),
            web.get(f"/files/{DOWNLOAD_NAME}.json", _download_info, allow_head=False),
        ]
    )
    return app


# -- helpers -------------------------------------------------------------------


def _state(request: web.Request) -> DemoState:
    return request.app[DEMO_STATE]


def _base_url(request: web.Request) -> str:
    state = _state(request)
    if state.base_url:
        return state.base_url
    return f"{request.scheme}://{request.host}"


def _int_param(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad_request(f"{name} must be between {low} and {high}, got {value}")
    return value


def _delay(request: web.Request, default: float) -> float:
    value = _int_param(request, "delay_ms", None, 0, _MAX_DELAY_MS)
    return default if value is None else value / 1000


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def _client_gone(request: web.Request, handler: Any) -> web.StreamResponse:
    """A client that leaves mid-stream (Ctrl-C, a consumer that stops) is
    normal for a streaming server: end the handler quietly, as a cancelled
    request, instead of logging an error."""
    try:
        return await handler(request)
    except ConnectionResetError:
        raise asyncio.CancelledError from None


async def _open_stream(request: web.Request, content_type: str, **headers: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", **headers})
    response.content_type = content_type
    await response.prepare(request)
    return response


async def _send(state: DemoState, response: web.StreamResponse, data: bytes) -> None:
    await response.write(data)
    state.bytes_streamed += len(data)


# -- handlers ------------------------------------------------------------------


async def _index(request: web.Request) -> web.Response:
    base = _base_url(request)
    return web.json_response({"name": "utcp-http-stream demo", "manual": f"{base}/utcp", "stats": f"{base}/stats"})


async def _manual(request: web.Request) -> web.Response:
    return web.json_response(build_manual(_base_url(request), _state(request).settings))


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(_state(request).settings.download_size))


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(_state(request).snapshot())


async def _chat(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    max_tokens = _int_param(request, "max_tokens", None, 0, _MAX_COUNT)
    delay = _delay(request, state.settings.token_delay)
    prompt = await _prompt_of(request)
    tokens, finish = reply_tokens(prompt, max_tokens)
    with state.track("chat"):
        response = await _open_stream(request, "text/event-stream", **{"X-Accel-Buffering": "no"})
        await _send(state, response, b": demo model stream\n\n")
        for index, chunk in enumerate(chat_chunks(tokens, finish, "chatcmpl-demo")):
            event = f"id: {index}\ndata: {json.dumps(chunk, separators=(',', ':'))}\n\n"
            await _send(state, response, event.encode("utf-8"))
            if delay:
                await asyncio.sleep(delay)
        await _send(state, response, b"data: [DONE]\n\n")
        state.streams_completed += 1
        await response.write_eof()
    return response


async def _prompt_of(request: web.Request) -> str:
    """The prompt: a text body, or JSON with ``prompt`` or OpenAI-style ``messages``."""
    text = await request.text() if request.can_read_body else ""
    if request.content_type == "application/json" and text:
        return _prompt_of_json(text)
    return text


def _prompt_of_json(text: str) -> str:
    """The prompt of a JSON body; a body without one is a bad request."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise _bad_request("the body is not valid JSON") from None
    prompt = _json_prompt(body)
    if prompt is None:
        raise _bad_request('send the prompt as text, or JSON {"prompt": ...} or {"messages": [...]}')
    return prompt


def _json_prompt(body: Any) -> str | None:
    """``prompt``, else the content of the last message that has text."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    return _last_message_text(body.get("messages"))


def _last_message_text(messages: Any) -> str | None:
    """The ``content`` of the last of OpenAI-style ``messages`` that has text."""
    if not isinstance(messages, list):
        return None
    return next((m["content"] for m in reversed(messages) if _has_text(m)), None)


def _has_text(message: Any) -> bool:
    """Whether a chat message is an object with a text ``content``."""
    return isinstance(message, dict) and isinstance(message.get("content"), str)


async def _job_progress(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    steps = _int_param(request, "steps", state.settings.job_steps, 1, _MAX_COUNT)
    delay = _delay(request, state.settings.job_delay)
    job_id = request.match_info["job_id"]
    with state.track("job_progress"):
        response = await _open_stream(request, "application/x-ndjson")
        for record in job_records(job_id, steps or 1):
            if delay:
                await asyncio.sleep(delay)
            await _send(state, response, json.dumps(record, separators=(",", ":")).encode() + b"\n")
        state.streams_completed += 1
        await response.write_eof()
    return response


async def _log_tail(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    count = _int_param(request, "lines", state.settings.log_lines, 0, _MAX_COUNT)
    delay = _delay(request, state.settings.log_delay)
    service = request.match_info["service"]
    with state.track("log_tail"):
        response = await _open_stream(request, "text/plain; charset=utf-8")
        for line in log_lines(service, count or 0):
            await _send(state, response, line.encode("utf-8") + b"\n")
            if delay:
                await asyncio.sleep(delay)
        state.streams_completed += 1
        await response.write_eof()
    return response


async def _download(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    settings = state.settings
    delay = _delay(request, settings.download_delay)
    info = payload(settings.download_size)
    digest = base64.b64encode(binascii.unhexlify(info.sha256)).decode("ascii")
    with state.track("download"):
        response = web.StreamResponse(
            headers={
                "X-Content-SHA256": info.sha256,
                "Repr-Digest": f"sha-256=:{digest}:",
                "Content-Disposition": f'attachment; filename="{DOWNLOAD_NAME}"',
            }
        )
        response.content_type = "application/octet-stream"
        response.content_length = info.size
        await response.prepare(request)
        view = memoryview(info.data)
        for offset in range(0, info.size, settings.download_chunk):
            await _send(state, response, view[offset : offset + settings.download_chunk])
            if delay:
                await asyncio.sleep(delay)
        state.streams_completed += 1
        await response.write_eof()
    return response


async def _download_info(request: web.Request) -> web.Response:
    info = payload(_state(request).settings.download_size)
    url = f"{_base_url(request)}/files/{DOWNLOAD_NAME}"
    return web.json_response({"name": DOWNLOAD_NAME, "size": info.size, "sha256": info.sha256, "url": url})
