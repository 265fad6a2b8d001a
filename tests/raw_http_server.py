"""A hand-written HTTP/1.1 server (``asyncio.start_server``) for the
keep-alive races, where a framework would hide the exact moment a connection
closes.

Each request is recorded with the number of the TCP connection it came on.
``drop_reused``: the first request on a connection is answered with
keep-alive; the next one on the same connection is read whole and the
connection closed without a byte of answer (a server whose keep-alive timer
fired just as the request arrived). ``drop_paths``: every request on these
paths is dropped that way, whatever the connection. ``keep_alive`` sets the ``Keep-Alive``
header of every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["RawServer", "Seen", "running_raw_server"]


@dataclass(frozen=True)
class Seen:
    connection: int
    method: str
    path: str
    idempotency_key: str | None


@dataclass
class RawServer:
    base: str = ""
    drop_reused: bool = False
    keep_alive: str | None = None
    #: requests on these paths are read whole and their connection closed unanswered
    drop_paths: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    #: connections the client closed (EOF seen while waiting for a request)
    closed_by_client: int = 0
    _handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    async def wait_for_handlers(self, seconds: float) -> None:
        """Let each connection's handler see its client go (a client may close
        its idle connections a loop turn or two after its own ``close()``), then
        close the connections still open, so that every handler ends by itself:
        a handler task the loop's shutdown cancels makes asyncio log an error
        on Python 3.11."""
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=seconds)
        for writer in list(self._handlers.values()):
            writer.close()
        if self._handlers:
            await asyncio.wait(set(self._handlers))

    def seen_path(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        task.add_done_callback(self._handlers.pop)
        self.connections += 1
        number = self.connections
        try:
            answered = 0
            while True:
                request = await _read_request(reader)
                if request is None:
                    self.closed_by_client += 1
                    return
                method, path, headers = request
                self.seen.append(Seen(number, method, path, headers.get("idempotency-key")))
                if (self.drop_reused and answered) or path in self.drop_paths:
                    return  # read whole, never answered
                body = json.dumps({"connection": number, "method": method}).encode()
                head = [
                    "HTTP/1.1 200 OK",
                    "Content-Type: application/json",
                    f"Content-Length: {len(body)}",
                    "Connection: keep-alive",
                ]
                if self.keep_alive:
                    head.append(f"Keep-Alive: {self.keep_alive}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
                answered += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return method, path, headers


@contextlib.asynccontextmanager
async def running_raw_server(**options: object) -> AsyncIterator[RawServer]:
    server = RawServer(**options)  # type: ignore[arg-type]
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.base = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        await server.wait_for_handlers(1.0)
        await listener.wait_closed()
