"""Hostile servers with made-up names, and nothing leaving the machine.

``fake_dns`` makes ``evil.example``, ``other.example`` and ``rebind.example``
resolve to 127.0.0.1 inside the test process and refuses every other name
(``localhost`` and IP literals are answered locally, as the C library does
without a network). ``HostileHttps`` runs a real aiohttp application over
HTTPS on 127.0.0.1 with a trustme certificate for those names; the client
trusts it through the ``ca_bundle`` setting (``UTCP_HTTP_STREAM_CA_BUNDLE``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp.abc
import aiohttp.connector
import pytest
import trustme
from aiohttp import web
from utcp.utcp_client import UtcpClient

from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

__all__ = [
    "FAKE_NAMES", "METADATA_ADDRESS", "HostileHttps", "fake_dns", "hostile_client", "https_app", "lookups", "make_ca",
]

#: Made-up names that resolve to 127.0.0.1 in the test process.
FAKE_NAMES = frozenset({"evil.example", "other.example", "rebind.example"})
#: Also cloud metadata's link-local address: the address rule refuses a direct connection to it
#: before any packet is sent, and only the test proxy's table reaches it (tests/e2e/test_proxy.py).
METADATA_ADDRESS = "169.254.169.254"
_CERT_NAMES = [*sorted(FAKE_NAMES), "localhost", "127.0.0.1", "::1", METADATA_ADDRESS]

#: Every name the patched resolver was asked for (what would have gone to DNS).
lookups: list[str] = []


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, names: frozenset[str] = FAKE_NAMES, table: dict[str, str] | None = None
) -> None:
    """Resolve ``names`` to 127.0.0.1, the names in ``table`` to the loopback
    address it holds at the time of the lookup, and refuse every other lookup.

    Both ways a name is looked up in the test process go through the table:
    ``socket.getaddrinfo``, and aiohttp's resolver, replaced by one that asks
    the patched ``getaddrinfo`` (aiohttp's threaded resolver goes through
    the event loop, and uvloop's does not call ``socket.getaddrinfo``).
    """
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        lookups.append(name)
        if table is not None and name in table:
            address = table[name]
            assert ipaddress.ip_address(address).is_loopback, f"test resolver: {address} would leave the machine"
            return real(address, port, socket.AF_INET, type, proto, flags)
        if name in names:
            return real("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        if name == "localhost":
            return real("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"test resolver: {name!r} is not a test name") from None
        return real(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", _TableResolver)


class _TableResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver interface over the patched ``socket.getaddrinfo``
    (numeric answers only: it never blocks, so no thread is needed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # aiohttp passes loop=
        pass

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return [
            aiohttp.abc.ResolveResult(hostname=host, host=str(address[0]), port=int(address[1]), family=found,
                                      proto=proto, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
            for found, _type, proto, _name, address in infos
        ]

    async def close(self) -> None:
        return None


def make_ca(tmp_path: Path) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


class HostileHttps:
    """A real HTTPS server on 127.0.0.1, certified for the test names."""

    def __init__(self, app: web.Application, ca: trustme.CA) -> None:
        self.app = app
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*_CERT_NAMES).configure_cert(self.context)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> HostileHttps:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    def url(self, host: str, path: str = "") -> str:
        return f"https://{host}:{self.port}{path}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def https_app(routes: dict[str, Callable[[web.Request], Any]]) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    return app


@asynccontextmanager
async def hostile_client(
    monkeypatch: pytest.MonkeyPatch, ca_path: str, *, allow_local: bool
) -> AsyncIterator[UtcpClient]:
    """A UtcpClient that trusts the test CA, with ``allow_local_addresses``
    as given (set through the environment, as a UtcpClient user would)."""
    monkeypatch.setenv("UTCP_HTTP_STREAM_CA_BUNDLE", ca_path)
    monkeypatch.setenv("UTCP_HTTP_STREAM_ALLOW_LOCAL_ADDRESSES", "1" if allow_local else "0")
    client = await UtcpClient.create()
    try:
        yield client
    finally:
        await client.close()


def manual(url: str, name: str = "evil") -> Any:
    return StreamableHttpCallTemplateSerializer().validate_dict(
        {"name": name, "call_template_type": "streamable_http", "url": url}
    )
