"""The pooled session's settings against a real aiohttp server: no cookie
is kept between calls (a server's Set-Cookie is never sent back), and the
response head limits (long header lines read, a head past them named), and
a host name looked up again once its addresses are DNS_CACHE_S old."""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import trustme
from aiohttp import web

from tests.hostile import fake_dns, make_ca
from utcp_http_stream import StreamInterruptedError
from utcp_http_stream.transport import StreamClient, connection
from utcp_http_stream.transport.limits import MAX_HEADER_FIELDS, MAX_HEADER_LINE


async def test_a_cookie_set_by_the_server_is_never_sent_back(serve):
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"n": len(seen)})
        response.set_cookie("session", "s3cret-session", path="/")
        return response

    app = web.Application()
    app.router.add_get("/c", handler)
    base = await serve(app)
    async with StreamClient() as client:
        for _ in range(3):
            await client.call({"url": base + "/c"})
    assert seen == [None, None, None]


async def test_an_api_key_cookie_is_sent_and_the_servers_cookies_are_not(serve):
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({})
        response.set_cookie("tracker", "t1", path="/")
        return response

    app = web.Application()
    app.router.add_get("/c", handler)
    base = await serve(app)
    template = {
        "url": base + "/c",
        "auth": {"auth_type": "api_key", "api_key": "k-123", "var_name": "key", "location": "cookie"},
    }
    async with StreamClient() as client:
        await client.call(template)
        await client.call(template)
    assert seen == ["key=k-123", "key=k-123"]


def head_app() -> web.Application:
    """``/long?n=N``: a header of N bytes; ``/many?n=N``: N Set-Cookie fields."""

    async def long(request: web.Request) -> web.Response:
        policy = "default-src 'self'; " + "a" * (int(request.query["n"]) - 20)
        return web.json_response({"ok": True}, headers={"Content-Security-Policy": policy})

    async def many(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        for i in range(int(request.query["n"])):
            response.headers.add("Set-Cookie", f"c{i}=v")
        return response

    app = web.Application()
    app.router.add_get("/long", long)
    app.router.add_get("/many", many)
    return app


async def test_a_header_line_longer_than_aiohttps_default_is_read(serve):
    # aiohttp alone refuses a line past 8190 bytes as a malformed response.
    base = await serve(head_app())
    async with StreamClient() as client:
        assert await client.call({"url": f"{base}/long?n=20000"}) == {"ok": True}
        assert await client.call({"url": f"{base}/many?n=100"}) == {"ok": True}


#: aiohttp takes a bound on the number of header fields from 3.14 on (before, its parser allows 32768).
FIELDS_BOUNDED = "max_headers" in inspect.signature(aiohttp.ClientSession).parameters


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/long?n={MAX_HEADER_LINE + 1000}", f"a response header line longer than {MAX_HEADER_LINE} bytes"),
        pytest.param(
            f"/many?n={MAX_HEADER_FIELDS + 20}", "more response header fields than this client reads",
            marks=pytest.mark.skipif(not FIELDS_BOUNDED, reason="aiohttp < 3.14 takes no max_headers"),
        ),
    ],
)
async def test_a_response_head_past_the_limits_says_which(serve, path, expected):
    base = await serve(head_app())
    async with StreamClient() as client:
        with pytest.raises(StreamInterruptedError) as info:
            await client.call({"url": base + path})
    message = str(info.value)
    assert expected in message and "this client reads" in message and "malformed" not in message
    assert len(message) < 1000


@asynccontextmanager
async def named_server(name: str, host: str, port: int, ca: trustme.CA) -> AsyncIterator[int]:
    """An HTTPS server on ``host:port`` (0: any) that answers ``{"server": name}``
    and closes each connection after its answer; yields the port."""

    async def who(request: web.Request) -> web.Response:
        return web.json_response({"server": name}, headers={"Connection": "close"})

    app = web.Application()
    app.router.add_get("/who", who)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("evil.example").configure_cert(context)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_a_name_is_looked_up_again_once_its_addresses_are_old(monkeypatch, tmp_path):
    # A DNS failover moves evil.example from one address to another: new
    # connections follow it once the cached answer is DNS_CACHE_S old.
    monkeypatch.setattr(connection, "DNS_CACHE_S", 0.3)
    table = {"evil.example": "127.0.0.1"}
    fake_dns(monkeypatch, frozenset(), table)
    ca, ca_pem = make_ca(tmp_path)
    async with named_server("old", "127.0.0.1", 0, ca) as port, named_server("new", "127.0.0.2", port, ca):
        tool = {"url": f"https://evil.example:{port}/who"}
        async with StreamClient(ca_bundle=ca_pem, allow_local_addresses=True) as client:
            assert await client.call(tool) == {"server": "old"}
            table["evil.example"] = "127.0.0.2"
            assert await client.call(tool) == {"server": "old"}  # a new connection, the cached address
            await asyncio.sleep(0.4)
            assert await client.call(tool) == {"server": "new"}
