"""Shared fixtures: real aiohttp servers on 127.0.0.1 and UtcpClients that are
always closed. No mocked HTTP anywhere.

The end-to-end tests and the transport's run twice: on asyncio's own event
loop and on uvloop's, the loop uvicorn picks when it is installed (an agent
served by uvicorn calls its tools on it). Everything else runs on asyncio's.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from utcp_http_stream.auth import TOKEN_CACHE

ServeFn = Callable[[web.Application], Awaitable[str]]

_TESTS = Path(__file__).parent
#: The event loops the end-to-end and transport tests run on.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
try:
    import uvloop
except ImportError:  # not on Windows: those tests run on asyncio's loop only
    pass
else:
    LOOPS["uvloop"] = uvloop.new_event_loop


def pytest_asyncio_loop_factories(config, item) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    path = Path(str(item.path))
    if path.parent == _TESTS / "e2e" or path.name.startswith("test_transport_"):
        return LOOPS
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
async def serve() -> AsyncIterator[ServeFn]:
    """``base = await serve(app)``: run ``app`` on 127.0.0.1 (a free port)."""
    servers: list[TestServer] = []

    async def start(app: web.Application, *, host: str = "127.0.0.1") -> str:
        server = TestServer(app, host=host, port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


#: Proxy variables, which a test sets itself when it needs one.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_this_machine(monkeypatch):
    """The machine's own proxy variables would change the messages (and,
    with ``trust_env``, the routes) that tests check: none are seen."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Tokens are process-wide by design; tests must not see each other's."""
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def utcp_client():
    """A UtcpClient created with no plugin-specific code (entry point discovery)."""
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    yield client
    await client.close()


# -- no ERROR records, unretrieved futures or unclosed sessions, in any test ----

_WATCHED = ("utcp_http_stream", "asyncio", "aiohttp")


class _ErrorRecords(logging.Handler):
    """Collects ERROR records of this package, asyncio and aiohttp
    ("Future exception was never retrieved", "Unclosed client session")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in _WATCHED:
            self.records.append(record)


_ERRORS = _ErrorRecords()
logging.getLogger().addHandler(_ERRORS)


@pytest.fixture(autouse=True)
def _no_error_records(request):
    """Fail the test that leaves an ERROR record behind. (Unclosed sessions
    and unretrieved futures show up when garbage is collected: a collection
    per test would double the suite's time, so the session's end collects
    once more and fails the run on what it finds.)"""
    _ERRORS.records.clear()
    yield
    found = [f"{r.name}: {r.getMessage()[:300]}" for r in _ERRORS.records]
    _ERRORS.records.clear()
    if request.node.get_closest_marker("allow_error_log") is None:
        assert not found, "ERROR log records during the test:\n" + "\n".join(found)


def pytest_sessionfinish(session, exitstatus):
    gc.collect()
    found = [f"{r.name}: {r.getMessage()[:300]}" for r in _ERRORS.records]
    if found:
        print("\nERROR log records after the last test (unclosed sessions, unretrieved futures):")
        print("\n".join(found))
        session.exitstatus = 1
