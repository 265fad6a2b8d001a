"""The demo server's own OpenAPI 3.2 document, served at ``/openapi.json``.

It describes the same endpoints as the ``/utcp`` manual, the way an API that
publishes no UTCP manual would: sequential media types with an
``itemSchema`` per item, so registering ``/openapi.json`` (or the bare
origin) gives streaming tools too. It names no ``servers``: OpenAPI then
means ``/``, resolved against wherever the document was fetched from.
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.demo.content import DOWNLOAD_NAME, payload

__all__ = ["build_openapi"]

_DELAY_MS = {
    "name": "delay_ms",
    "in": "query",
    "description": "milliseconds to pause between pieces (to slow the stream down)",
    "schema": {"type": "integer", "minimum": 0, "maximum": 10_000},
}

_CHUNK = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion.chunk"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "delta": {
                        "type": "object",
                        "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                    },
                    "finish_reason": {"type": ["string", "null"]},
                },
            },
        },
    },
}

_PROGRESS = {
    "type": "object",
    "properties": {
        "job": {"type": "string"},
        "step": {"type": "integer"},
        "total": {"type": "integer"},
        "percent": {"type": "number"},
        "message": {"type": "string"},
        "done": {"type": "boolean"},
    },
}


def build_openapi(download_size: int) -> dict[str, Any]:
    """The document; ``download_size`` as the server is configured."""
    info = payload(download_size)
    return {
        "openapi": "3.2.0",
        "info": {"title": "utcp-http-stream demo", "version": "1.0.0"},
        "components": {"schemas": {"ChatCompletionChunk": _CHUNK, "JobProgress": _PROGRESS}},
        "paths": {
            "/chat": {"post": _chat()},
            "/jobs/{job_id}/progress": {"get": _job_progress()},
            "/logs/{service}/tail": {"get": _log_tail()},
            f"/files/{DOWNLOAD_NAME}": {"get": _download(info.size, info.sha256)},
            f"/files/{DOWNLOAD_NAME}.json": {"get": _download_info()},
        },
    }


def _chat() -> dict[str, Any]:
    return {
        "operationId": "chat",
        "summary": "Stream a chat completion token by token (OpenAI-style SSE chunks ending in [DONE]).",
        "tags": ["demo", "sse", "llm"],
        "parameters": [{"name": "max_tokens", "in": "query", "schema": {"type": "integer", "minimum": 0}}, _DELAY_MS],
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "description": "what to ask the demo model"}}},
        },
        "responses": {
            "200": {
                "description": "chat.completion.chunk events",
                "content": {
                    "text/event-stream": {
                        "itemSchema": {
                            "type": "object",
                            "properties": {
                                "data": {
                                    "type": "string",
                                    "contentMediaType": "application/json",
                                    "contentSchema": {"$ref": "#/components/schemas/ChatCompletionChunk"},
                                },
                                "id": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    }


def _job_progress() -> dict[str, Any]:
    return {
        "operationId": "job_progress",
        "summary": "Follow a long-running job: NDJSON records with step, total, percent and message.",
        "tags": ["demo", "ndjson", "progress"],
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "steps", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            _DELAY_MS,
        ],
        "responses": {
            "200": {
                "description": "progress records",
                "content": {"application/x-ndjson": {"itemSchema": {"$ref": "#/components/schemas/JobProgress"}}},
            }
        },
    }


def _log_tail() -> dict[str, Any]:
    return {
        "operationId": "log_tail",
        "summary": "Tail a service's log: text/plain, one line per item as it is written.",
        "tags": ["demo", "text", "logs"],
        "parameters": [
            {"name": "service", "in": "path", "required": True, "schema": {"enum": ["api", "worker", "scheduler"]}},
            {"name": "lines", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            _DELAY_MS,
        ],
        "responses": {"200": {"description": "log lines", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    }


def _download(size: int, sha256: str) -> dict[str, Any]:
    return {
        "operationId": "download",
        "summary": f"Download {DOWNLOAD_NAME}: {size} bytes of application/octet-stream; sha256 {sha256}.",
        "tags": ["demo", "bytes", "download"],
        "parameters": [_DELAY_MS],
        "responses": {"200": {"description": "the file", "content": {"application/octet-stream": {}}}},
    }


def _download_info() -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"}},
    }
    return {
        "operationId": "download_info",
        "summary": f"Size and sha256 of {DOWNLOAD_NAME}, to check a download against.",
        "tags": ["demo", "json"],
        "responses": {"200": {"description": "size and digest", "content": {"application/json": {"schema": schema}}}},
    }
