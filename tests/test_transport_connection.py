"""The pooled session's settings against a real aiohttp server: no cookie
is kept between calls (a server's Set-Cookie is never sent back)."""

from __future__ import annotations

from aiohttp import web

from utcp_http_stream.transport import StreamClient


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
