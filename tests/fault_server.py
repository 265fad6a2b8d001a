"""A fault-injection HTTP server for the resilience tests.

A real aiohttp application on 127.0.0.1 (an ``AppRunner`` on port 0) whose
routes misbehave on purpose: they stall, drip, cut a chunked body mid-chunk,
stop short of their Content-Length, reset the connection, send garbage,
send a line that never ends, gzip a stream incrementally, drop an SSE stream
and resume it from ``Last-Event-ID``, answer 429/503 with ``Retry-After``,
or refuse the first connections. ``/utcp`` serves a manual that lists every
route as a ``streamable_http`` tool, so the tests can drive it all through
``UtcpClient``.

The server keeps per-stream statistics (requests seen, handlers running,
bytes sent, when the client went away) under a ``key`` query parameter
(default: the route name), and counts the TCP connections it holds open.

Route parameters are query parameters; a tool call's arguments that are not
path, body or header fields become query parameters, so a test passes them as
tool arguments: ``call_tool_streaming("fault.stall", {"items": 3})``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FaultServer", "StreamStats", "running_fault_server"]

MANUAL_NAME = "fault"
JSON_LINES = "application/x-ndjson"


@dataclass
class StreamStats:
    """What the server saw for one stream key."""

    requests: int = 0
    #: handlers currently running (a stream being served)
    active: int = 0
    #: body bytes handed to the transport (and drained) across all requests
    bytes_sent: int = 0
    #: monotonic time of each request's arrival
    started: list[float] = field(default_factory=list)
    #: the Last-Event-ID header of each request (None when absent)
    last_event_ids: list[str | None] = field(default_factory=list)
    #: monotonic time the client was seen to go away mid-stream (None: not yet)
    disconnected_at: float | None = None
    #: the server wrote the whole body
    finished: bool = False
    methods: list[str] = field(default_factory=list)


def _request_key(name: str, kind: type) -> Any:
    """A typed request key where aiohttp has them (3.14 and later), else the
    plain name: the suite also runs on the oldest aiohttp the package admits."""
    key = getattr(web, "RequestKey", None)
    return name if key is None else key(name, kind)


STATS = _request_key("stats", StreamStats)
RESPONSE = _request_key("response", web.StreamResponse)


class _Gone(ConnectionResetError):
    """The client went away while the server was writing."""


class FaultServer:
    """The app, its runner, and what it observed."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.stats: dict[str, StreamStats] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._extra_sites: list[web.TCPSite] = []
        self.tools: dict[str, dict[str, Any]] = {}
        routes: dict[str, Callable[[web.Request], Any]] = {
            "ndjson": self._ndjson,
            "endless": self._endless,
            "stall": self._stall,
            "slow_headers": self._slow_headers,
            "drip": self._drip,
            "cut_chunk": self._cut_chunk,
            "short_length": self._short_length,
            "reset": self._reset,
            "garbage": self._garbage,
            "big_line": self._big_line,
            "gzip": self._gzip,
            "sse": self._sse,
            "status": self._status,
            "refuse": self._refuse,
            "big": self._big,
        }
        for name, handler in routes.items():
            self.app.router.add_route("*", f"/{name}", self._tracked(name, handler))
            self.add_tool(name, f"/{name}")
        self.app.router.add_get("/utcp", self._manual)
        self.app.router.add_get("/stats", self._stats)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        # handler_cancellation: a handler that is sleeping (a stall, a drip)
        # is cancelled the moment its client disconnects, which is how the
        # server measures when a consumer's disconnect reached it.
        self.runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        for gate in self._gates.values():
            gate.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def listen_late(self, port: int, delay: float) -> None:
        """Start accepting on ``port`` only after ``delay`` seconds: until then
        a client gets "connection refused" there."""
        await asyncio.sleep(delay)
        assert self.runner is not None
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self._extra_sites.append(site)

    # -- what tests look at ----------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def stream(self, key: str) -> StreamStats:
        return self.stats.setdefault(key, StreamStats())

    @property
    def open_connections(self) -> int:
        """TCP connections the server holds open right now (idle keep-alive
        ones included)."""
        assert self.runner is not None and self.runner.server is not None
        return len(self.runner.server.connections)

    def gate(self, key: str) -> asyncio.Event:
        """An event a route waits on mid-stream (``/gzip``), set by the test."""
        return self._gates.setdefault(key, asyncio.Event())

    async def wait_for(self, predicate: Callable[[], bool], within: float = 2.0) -> float:
        """Poll ``predicate`` every 5 ms until true; returns how long it took.
        Fails the test (TimeoutError) rather than hanging."""
        start = time.monotonic()
        async with asyncio.timeout(within):
            # Polled: some of what tests wait for (aiohttp's list of open
            # connections) changes inside aiohttp, with no event to wait on.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        return time.monotonic() - start

    # -- the manual --------------------------------------------------------------

    def add_tool(self, name: str, path: str, **template: Any) -> None:
        """Declare (or redeclare) a tool: ``template`` holds call template
        fields (timeouts, reconnect, stream_format, ...) for its tool call;
        a ``url`` there replaces this server's URL for ``path``."""
        self.tools[name] = {"path": path, **template}

    def manual_template(self, **fields: Any) -> dict[str, Any]:
        """The manual call template a client registers to discover the tools."""
        return {
            "name": MANUAL_NAME,
            "call_template_type": "streamable_http",
            "url": self.url("/utcp"),
            "http_method": "GET",
            **fields,
        }

    def tool_template(self, name: str, **overrides: Any) -> dict[str, Any]:
        """The call template of tool ``name`` (for direct ``StreamClient`` use)."""
        spec = dict(self.tools[name])
        path = spec.pop("path")
        return {
            "name": MANUAL_NAME,
            "call_template_type": "streamable_http",
            "url": spec.pop("url", None) or self.url(path),
            "http_method": "GET",
            **spec,
            **overrides,
        }

    async def _manual(self, request: web.Request) -> web.Response:
        tools = [
            {
                "name": name,
                "description": f"fault-injection route /{name}",
                "inputs": {"type": "object", "properties": {}},
                "outputs": {"type": "object"},
                "tags": ["fault"],
                "tool_call_template": self.tool_template(name),
            }
            for name in self.tools
        ]
        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": tools})

    async def _stats(self, request: web.Request) -> web.Response:
        stats = self.stream(request.query.get("key", ""))
        return web.json_response(
            {"requests": stats.requests, "bytes_sent": stats.bytes_sent, "finished": stats.finished}
        )

    # -- plumbing ----------------------------------------------------------------

    def _tracked(self, name: str, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.StreamResponse:
            stats = self.stream(request.query.get("key", name))
            stats.requests += 1
            stats.started.append(time.monotonic())
            stats.last_event_ids.append(request.headers.get("Last-Event-ID"))
            stats.methods.append(request.method)
            stats.active += 1
            request[STATS] = stats
            try:
                return await handler(request)
            except asyncio.CancelledError:
                stats.disconnected_at = stats.disconnected_at or time.monotonic()
                raise
            except ConnectionResetError:
                stats.disconnected_at = stats.disconnected_at or time.monotonic()
                # The prepared response, so that aiohttp ends it quietly.
                return request.get(RESPONSE) or web.Response()
            finally:
                stats.active -= 1

        return run

    @staticmethod
    async def _write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
        try:
            await response.write(data)
        except (ConnectionError, RuntimeError) as exc:  # closed transport
            raise _Gone from exc
        request[STATS].bytes_sent += len(data)

    @staticmethod
    async def _open(
        request: web.Request, content_type: str = JSON_LINES, *, length: int | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = content_type
        if length is None:
            response.enable_chunked_encoding()
        else:
            response.content_length = length
        await response.prepare(request)
        request[RESPONSE] = response
        return response

    @staticmethod
    def _finish(request: web.Request) -> None:
        request[STATS].finished = True

    @staticmethod
    def _raw(request: web.Request, data: bytes) -> None:
        """Bytes straight onto the socket, below aiohttp's framing."""
        assert request.transport is not None
        request.transport.write(data)
        request[STATS].bytes_sent += len(data)

    @staticmethod
    def _hang_up(request: web.Request, *, reset: bool = False) -> None:
        """Close the connection now; ``reset`` makes it a TCP RST."""
        transport = request.transport
        assert transport is not None
        if reset:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()

    @staticmethod
    def _int(request: web.Request, name: str, default: int) -> int:
        return int(request.query.get(name, default))

    @staticmethod
    def _float(request: web.Request, name: str, default: float) -> float:
        return float(request.query.get(name, default))

    @staticmethod
    def _line(i: int, pad: int = 0) -> bytes:
        item: dict[str, Any] = {"i": i}
        if pad:
            item["pad"] = "x" * pad
        return json.dumps(item).encode() + b"\n"

    # -- routes --------------------------------------------------------------------

    async def _ndjson(self, request: web.Request) -> web.StreamResponse:
        """``count`` NDJSON items ``{"i": n}``, ``delay`` s apart; ends cleanly."""
        count, delay = self._int(request, "count", 5), self._float(request, "delay", 0)
        response = await self._open(request)
        for i in range(count):
            await self._write(request, response, self._line(i))
            if delay:
                await asyncio.sleep(delay)
        await response.write_eof()
        self._finish(request)
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        """An NDJSON item every ``interval`` s until the client leaves."""
        interval = self._float(request, "interval", 0.02)
        response = await self._open(request)
        i = 0
        while True:
            await self._write(request, response, self._line(i))
            i += 1
            await asyncio.sleep(interval)

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        """``items`` NDJSON items, then silence for ``stall`` s, then the end."""
        response = await self._open(request)
        for i in range(self._int(request, "items", 3)):
            await self._write(request, response, self._line(i))
        await asyncio.sleep(self._float(request, "stall", 30))
        await response.write_eof()
        self._finish(request)
        return response

    async def _slow_headers(self, request: web.Request) -> web.StreamResponse:
        """No response headers for ``delay`` s, then ``count`` items."""
        await asyncio.sleep(self._float(request, "delay", 30))
        response = await self._open(request)
        for i in range(self._int(request, "count", 2)):
            await self._write(request, response, self._line(i))
        await response.write_eof()
        self._finish(request)
        return response

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        """One byte every ``interval`` s (50 ms by default), ``count`` bytes."""
        interval, count = self._float(request, "interval", 0.05), self._int(request, "count", 20)
        response = await self._open(request, "application/octet-stream")
        for i in range(count):
            await self._write(request, response, bytes([97 + i % 26]))
            await asyncio.sleep(interval)
        await response.write_eof()
        self._finish(request)
        return response

    async def _sent_items(self, request: web.Request, response: web.StreamResponse) -> None:
        """The complete items of the cut routes, ``delay`` s apart."""
        delay = self._float(request, "delay", 0)
        for i in range(self._int(request, "items", 3)):
            await self._write(request, response, self._line(i))
            if delay:
                await asyncio.sleep(delay)

    async def _cut_chunk(self, request: web.Request) -> web.StreamResponse:
        """Chunked NDJSON: ``items`` whole items, then a chunk whose header
        announces 64 bytes but which carries only ``{"i": -1}`` (valid JSON, no
        newline) before the server closes the connection."""
        response = await self._open(request)
        await self._sent_items(request, response)
        self._raw(request, b"40\r\n" + b'{"i": -1}')
        await asyncio.sleep(self._float(request, "linger", 0))
        self._hang_up(request)
        return response

    async def _short_length(self, request: web.Request) -> web.StreamResponse:
        """Content-Length promises 4096 bytes; ``items`` items and a partial
        one arrive, then the connection closes."""
        response = await self._open(request, length=4096)
        await self._sent_items(request, response)
        await self._write(request, response, b'{"i": -1}')
        self._hang_up(request)
        return response

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        """``items`` items, a pause of ``pause`` s, then a TCP reset."""
        response = await self._open(request)
        await self._sent_items(request, response)
        await asyncio.sleep(self._float(request, "pause", 0.1))
        self._hang_up(request, reset=True)
        return response

    async def _garbage(self, request: web.Request) -> web.StreamResponse:
        """``kind=json``: NDJSON with a line that is not JSON between good
        ones. ``kind=chunked``: a chunk-size line that is not hex. The bad
        part follows the first item after ``pause`` s."""
        kind = request.query.get("kind", "json")
        response = await self._open(request)
        await self._write(request, response, self._line(0))
        # Let the headers and the good item travel alone: garbage in the
        # same packet as the headers fails the response before it starts.
        await asyncio.sleep(self._float(request, "pause", 0.05))
        if kind == "json":
            await self._write(request, response, b"<html>\x00\xff not json\n")
            await self._write(request, response, self._line(1))
            await response.write_eof()
            self._finish(request)
        else:
            self._raw(request, b"zz;garbage\r\nnot a chunk\r\n")
            await asyncio.sleep(self._float(request, "linger", 30))
        return response

    async def _big_line(self, request: web.Request) -> web.StreamResponse:
        """One small item, then a line of ``x`` that never ends (64 KiB
        writes until the client leaves or ``limit`` bytes were sent)."""
        limit = self._int(request, "limit", 64 * 1024 * 1024)
        response = await self._open(request)
        await self._write(request, response, self._line(0))
        block = b"x" * 65536
        while request[STATS].bytes_sent < limit:
            await self._write(request, response, block)
        await response.write_eof()
        self._finish(request)
        return response

    async def _gzip(self, request: web.Request) -> web.StreamResponse:
        """``count`` NDJSON items gzip-encoded on the fly (one sync flush per
        item). After ``hold`` items it waits for the test to open its gate:
        a client that buffered the whole body before decoding would never
        see those first items."""
        key = request.query.get("key", "gzip")
        count, hold = self._int(request, "count", 6), self._int(request, "hold", 3)
        response = web.StreamResponse()
        response.content_type = JSON_LINES
        response.headers["Content-Encoding"] = "gzip"
        response.enable_chunked_encoding()
        await response.prepare(request)
        request[RESPONSE] = response
        compressor = zlib.compressobj(wbits=31)
        for i in range(count):
            if i == hold:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await self.gate(key).wait()
            data = compressor.compress(self._line(i, pad=200)) + compressor.flush(zlib.Z_SYNC_FLUSH)
            await self._write(request, response, data)
        await self._write(request, response, compressor.flush(zlib.Z_FINISH))
        await response.write_eof()
        self._finish(request)
        return response

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        """Events ``id: 1..total`` (data ``{"n": id}``), resumed after
        ``Last-Event-ID``. Each connection sends at most ``per_connection``
        events, then half of the next one, then cuts the connection. ``retry``
        (ms) is announced first when given; ``then`` is what every reconnection
        gets instead of events: a status code, or ``reset`` (a TCP reset).
        ``content_type`` replaces ``text/event-stream`` (a mislabelled stream)."""
        stats: StreamStats = request[STATS]
        total = self._int(request, "total", 6)
        per_connection = self._int(request, "per_connection", 1_000_000)
        then = request.query.get("then")
        if then and stats.requests > 1:
            if then == "reset":
                self._hang_up(request, reset=True)
                return web.Response()  # never sent: the connection is gone
            return web.Response(status=int(then), text="no resume here")
        last = request.headers.get("Last-Event-ID")
        first = int(last) + 1 if last else 1
        response = await self._open(request, request.query.get("content_type", "text/event-stream"))
        if "retry" in request.query:
            await self._write(request, response, f"retry: {request.query['retry']}\n\n".encode())
        sent = 0
        for n in range(first, total + 1):
            if sent == per_connection:
                await self._write(request, response, f'id: {n}\ndata: {{"n": {n},'.encode())
                await asyncio.sleep(0.02)
                self._hang_up(request)
                return response
            await self._write(request, response, f"id: {n}\ndata: {json.dumps({'n': n})}\n\n".encode())
            sent += 1
        await response.write_eof()
        self._finish(request)
        return response

    async def _status(self, request: web.Request) -> web.StreamResponse:
        """The first ``times`` requests (-1: all) get ``code`` with an optional
        ``Retry-After: retry_after``; later ones get ``count`` NDJSON items."""
        stats: StreamStats = request[STATS]
        times = self._int(request, "times", 1)
        if times < 0 or stats.requests <= times:
            headers = {}
            if "retry_after" in request.query:
                headers["Retry-After"] = request.query["retry_after"]
            return web.Response(status=self._int(request, "code", 503), text="try later", headers=headers)
        return await self._ndjson(request)

    async def _refuse(self, request: web.Request) -> web.StreamResponse:
        """The first ``times`` requests (-1: all) are reset before any response
        header; later ones get ``count`` NDJSON items."""
        stats: StreamStats = request[STATS]
        times = self._int(request, "times", 1)
        if times < 0 or stats.requests <= times:
            self._hang_up(request, reset=True)
            return web.Response()  # never sent: the connection is gone
        return await self._ndjson(request)

    async def _big(self, request: web.Request) -> web.StreamResponse:
        """``size`` bytes of application/octet-stream in ``chunk``-byte writes,
        each awaited (so ``bytes_sent`` is what the transport accepted)."""
        size, chunk = self._int(request, "size", 1 << 20), self._int(request, "chunk", 65536)
        response = await self._open(request, "application/octet-stream", length=size)
        block = b"\x5a" * chunk
        sent = 0
        while sent < size:
            piece = block if size - sent >= chunk else block[: size - sent]
            await self._write(request, response, piece)
            sent += len(piece)
        await response.write_eof()
        self._finish(request)
        return response


@contextlib.asynccontextmanager
async def running_fault_server() -> AsyncIterator[FaultServer]:
    """Start a :class:`FaultServer` on 127.0.0.1 (port 0); stop it after."""
    server = FaultServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
