"""Shared fixtures: real aiohttp servers on 127.0.0.1 and UtcpClients that are
always closed. No mocked HTTP anywhere."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from utcp_http_stream.auth import TOKEN_CACHE

ServeFn = Callable[[web.Application], Awaitable[str]]


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
