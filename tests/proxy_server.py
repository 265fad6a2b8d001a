"""A real forward HTTP proxy on 127.0.0.1, the kind ``HTTPS_PROXY`` names.

It speaks what corporate and developer proxies speak for HTTPS: ``CONNECT
host:port`` opens a tunnel. (Plain HTTP, which would go as an absolute-form
request, is only ever sent to loopback, which the plugin never proxies.)
Anything else is answered 405. It can demand Basic proxy credentials (407 without them), refuse
hosts (403), and cut every open tunnel at once, as a proxy's idle limit or
restart does to a long stream.

The proxy resolves names from its own table, never through DNS, so a test
also sees which names the client itself looked up. It records every request
head it receives and counts the tunnels it opened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass, field

__all__ = ["ForwardProxy"]

@dataclass
class ForwardProxy:
    #: name -> address the proxy connects to (anything else: 502)
    hosts: dict[str, str] = field(default_factory=lambda: {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"})
    #: ``(user, password)`` the proxy demands, or None
    credentials: tuple[str, str] | None = None
    #: hosts the proxy refuses with 403
    refused: frozenset[str] = frozenset()
    #: request lines received, in order (``"CONNECT evil.example:443"``)
    requests: list[str] = field(default_factory=list)
    #: Proxy-Authorization values received (None when absent)
    authorizations: list[str | None] = field(default_factory=list)
    tunnels: int = 0
    port: int = 0
    scheme: str = "http"
    _server: asyncio.base_events.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"{self.scheme}://{user}:{password}@127.0.0.1:{self.port}"

    async def start(self, tls: ssl.SSLContext | None = None) -> ForwardProxy:
        """Listen on 127.0.0.1; with ``tls``, clients reach the proxy over TLS
        (``HTTPS_PROXY=https://...``), and a tunnel then carries TLS in TLS."""
        self.scheme = "https" if tls is not None else "http"
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """Close every open connection now, clients' and origins' alike."""
        for writer in list(self._writers):
            writer.close()

    async def stop(self) -> None:
        """Close the listener and every open connection, and wait for the
        handlers to end (closing, not cancelling: asyncio 3.11's
        ``start_server`` logs an ERROR for a cancelled handler)."""
        if self._server is not None:
            self._server.close()
        self.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._one_client(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")  # past the stream's 64 KiB limit: LimitOverrunError
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        self.requests.append(f"{method} {target}")
        self.authorizations.append(headers.get("proxy-authorization"))
        if not self._authorized(headers.get("proxy-authorization")):
            await _answer(writer, 407, 'Proxy-Authenticate: Basic realm="test proxy"\r\n')
            return
        if method != "CONNECT":
            await _answer(writer, 405)
            return
        host, _, port = target.rpartition(":")
        upstream = await self._open(writer, host.strip("[]"), int(port))
        if upstream is None:
            return
        self.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe(reader, writer, *upstream)

    def _authorized(self, value: str | None) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return value == f"Basic {expected}"

    async def _open(
        self, writer: asyncio.StreamWriter, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        if host in self.refused:
            await _answer(writer, 403)
            return None
        address = self.hosts.get(host)
        if address is None:
            await _answer(writer, 502)
            return None
        try:
            upstream = await asyncio.open_connection(address, port)
        except OSError:
            await _answer(writer, 502)
            return None
        self._writers.add(upstream[1])
        return upstream

    async def _pipe(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        origin_reader: asyncio.StreamReader,
        origin_writer: asyncio.StreamWriter,
    ) -> None:
        up = asyncio.ensure_future(_copy(client_reader, origin_writer))
        try:
            await _copy(origin_reader, client_writer)
        finally:
            self._writers.discard(origin_writer)
            origin_writer.close()
            client_writer.close()
            await asyncio.gather(up, return_exceptions=True)
            with contextlib.suppress(Exception):
                await origin_writer.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _answer(writer: asyncio.StreamWriter, status: int, extra: str = "") -> None:
    reason = {403: "Forbidden", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
              502: "Bad Gateway"}[status]
    writer.write(f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
