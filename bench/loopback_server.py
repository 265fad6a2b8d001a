"""The benchmark's loopback HTTP server, run in its own process.

``python bench/loopback_server.py [--port 0]`` prints ``PORT <n>`` on its
first line of stdout once it accepts connections, then serves until killed.
The client under test runs in another process, so its CPU time
(``time.process_time``) is the client's alone and the server never competes
with it for the GIL.

Endpoints (GET unless said):

- ``/bytes?n=N`` — N bytes of ``application/octet-stream``, chunked, written
  in 64 KiB pieces.
- ``/ndjson?n=N`` — N lines of ``application/x-ndjson`` (~110 bytes each).
- ``/sse?n=N`` — N ``text/event-stream`` events shaped like OpenAI chat
  completion deltas, then ``data: [DONE]``.
- ``/json`` — a small ``application/json`` answer (the per-call overhead case).
- ``POST /items/{id}`` — the same answer, after reading the request body (a
  call with arguments: path, query, header and JSON body).
- ``/pause?ms=50`` — headers at once, then a pause, then one NDJSON item.
- ``/utcp`` — a UTCP manual naming the endpoints above as tools.
- ``/stats`` — ``{"connections": n}``: TCP connections accepted so far,
  counted by wrapping the protocol factory (one call per accepted socket).

Only aiohttp is needed: the server never imports the code it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from aiohttp import web

PIECE = 64 * 1024
_BYTES_PIECE = bytes(range(256)) * (PIECE // 256)


def ndjson_line(i: int) -> bytes:
    return (
        json.dumps(
            {
                "seq": i,
                "type": "progress",
                "stage": "indexing",
                "done": i % 1000,
                "total": 1000,
                "note": "item processed",
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def sse_event(i: int) -> bytes:
    delta = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": f" tok{i % 1000}"}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(delta, separators=(",", ":")).encode() + b"\n\n"


def _block(make, count: int) -> tuple[list[bytes], bytes]:
    items = [make(i) for i in range(count)]
    return items, b"".join(items)


# A block of 500 items is 50-100 KiB: written whole, with the remainder sliced
# from the same item list, so any N costs the server almost nothing per item.
_NDJSON_ITEMS, _NDJSON_BLOCK = _block(ndjson_line, 500)
_SSE_ITEMS, _SSE_BLOCK = _block(sse_event, 500)
SMALL_JSON = json.dumps({"ok": True, "result": {"answer": 42, "unit": "widgets"}}).encode()


def _n(request: web.Request, default: int) -> int:
    return int(request.query.get("n", default))


async def _stream(request: web.Request, content_type: str, pieces) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    await resp.prepare(request)
    for piece in pieces:
        await resp.write(piece)
    await resp.write_eof()
    return resp


def _repeat(items: list[bytes], block: bytes, n: int, tail: bytes = b""):
    full, rest = divmod(n, len(items))
    for _ in range(full):
        yield block
    last = b"".join(items[:rest]) + tail
    if last:
        yield last


async def bytes_handler(request: web.Request) -> web.StreamResponse:
    n = _n(request, 1 << 20)

    def pieces():
        full, rest = divmod(n, PIECE)
        for _ in range(full):
            yield _BYTES_PIECE
        if rest:
            yield _BYTES_PIECE[:rest]

    return await _stream(request, "application/octet-stream", pieces())


async def ndjson_handler(request: web.Request) -> web.StreamResponse:
    return await _stream(request, "application/x-ndjson", _repeat(_NDJSON_ITEMS, _NDJSON_BLOCK, _n(request, 1000)))


async def sse_handler(request: web.Request) -> web.StreamResponse:
    return await _stream(
        request, "text/event-stream", _repeat(_SSE_ITEMS, _SSE_BLOCK, _n(request, 1000), b"data: [DONE]\n\n")
    )


async def json_handler(request: web.Request) -> web.Response:
    return web.Response(body=SMALL_JSON, content_type="application/json")


async def items_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=SMALL_JSON, content_type="application/json")


async def pause_handler(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)  # StreamResponse sends its headers at once
    await asyncio.sleep(int(request.query.get("ms", 50)) / 1000)
    await resp.write(b'{"ready":true}\n')
    await resp.write_eof()
    return resp


async def manual_handler(request: web.Request) -> web.Response:
    base = f"http://{request.host}"

    def tool(name: str, path: str) -> dict:
        return {
            "name": name,
            "description": f"benchmark endpoint {path}",
            "inputs": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "tool_call_template": {"call_template_type": "streamable_http", "url": base + path},
        }

    return web.json_response(
        {
            "utcp_version": "1.0.1",
            "manual_version": "1.0.0",
            "tools": [tool("small", "/json"), tool("ndjson", "/ndjson"), tool("sse", "/sse"), tool("bytes", "/bytes")],
        }
    )


def build_app(counter: dict[str, int]) -> web.Application:
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(dict(counter))

    app = web.Application()
    app.router.add_get("/bytes", bytes_handler)
    app.router.add_get("/ndjson", ndjson_handler)
    app.router.add_get("/sse", sse_handler)
    app.router.add_get("/json", json_handler)
    app.router.add_post("/items/{id}", items_handler)
    app.router.add_get("/pause", pause_handler)
    app.router.add_get("/utcp", manual_handler)
    app.router.add_get("/stats", stats)
    return app


async def serve(host: str, port: int) -> None:
    counter = {"connections": 0}
    runner = web.AppRunner(build_app(counter), handle_signals=False, access_log=None)
    await runner.setup()
    handler_factory = runner.server
    assert handler_factory is not None

    def counting_factory():
        # asyncio calls the protocol factory once per accepted TCP connection:
        # this is the "on_connection" hook the calls-per-connection case reads.
        counter["connections"] += 1
        return handler_factory()

    server = await asyncio.get_running_loop().create_server(counting_factory, host, port, backlog=2048)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # A client that leaves a stream early (the point of some cases) makes the
    # handler's write fail; that is expected here, not worth a traceback.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
