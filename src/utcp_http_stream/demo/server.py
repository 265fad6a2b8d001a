"""Running the demo app: in the current event loop, or in a thread of its own.

``DemoServer`` binds (port 0 picks a free port), then tells the app its own
base URL so the ``/utcp`` manual names reachable tool URLs.
``DemoServerThread`` runs one in a background thread with its own loop, for
synchronous callers (tests, scripts that use a blocking client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from utcp_http_stream.demo.app import DEMO_STATE, DemoSettings, create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DemoServer", "DemoServerThread", "base_url_for"]

DEFAULT_HOST = "127.0.0.1"
#: The port ``manuals/demo.json`` and ``serve-demo`` agree on.
DEFAULT_PORT = 8765


def base_url_for(host: str, port: int) -> str:
    """``http://host:port`` for a bound address; a wildcard bind is reached
    through loopback, IPv6 literals get their brackets."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}"


class DemoServer:
    """The demo app served on ``host:port`` in the running event loop.

    ``async with DemoServer() as server:`` starts it; ``server.base_url`` and
    ``server.manual_url`` are then known, ``server.stats()`` reports open
    streams and connections.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, settings: DemoSettings | None = None) -> None:
        self.host = host
        self.port = port
        self.settings = settings or DemoSettings()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None

    @property
    def manual_url(self) -> str:
        return f"{self.base_url}/utcp"

    async def start(self) -> str:
        """Bind and start serving; returns the base URL. Raises ``OSError``
        when the address is taken."""
        app = create_app(self.settings)
        # handler_cancellation: a client that goes away ends its handler at
        # once, so /stats reflects the disconnect without waiting for a write.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        address = runner.addresses[0]
        self.port = int(address[1])
        self.base_url = base_url_for(self.host, self.port)
        state = app[DEMO_STATE]
        state.base_url = self.base_url
        state.server = runner.server
        self._runner, self._app = runner, app
        return self.base_url

    def stats(self) -> dict[str, Any]:
        if self._app is None:
            return {}
        return self._app[DEMO_STATE].snapshot()

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class DemoServerThread:
    """A ``DemoServer`` in a daemon thread with its own event loop.

    ``with DemoServerThread() as server: ... server.base_url ...``
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, settings: DemoSettings | None = None) -> None:
        self.server = DemoServer(host, port, settings)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def manual_url(self) -> str:
        return self.server.manual_url

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """A snapshot taken on the server's own loop (thread-safe)."""
        if self._loop is None:
            return {}

        async def snapshot() -> dict[str, Any]:
            return self.server.stats()

        return asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result(timeout)

    def start(self, timeout: float = 10.0) -> str:
        self._thread = threading.Thread(target=self._run, name="utcp-http-stream-demo", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the demo server did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> DemoServerThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()
