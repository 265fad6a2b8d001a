"""OAuth2 client credentials, variables, redirects and secret hygiene, end to
end against real local servers (the token endpoint included)."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest
from aiohttp import web
from utcp.utcp_client import UtcpClient

from tests.support import manual_template
from utcp_http_stream.errors import AuthError, HttpStatusError, InsecureUrlError, TemplateError
from utcp_http_stream.transport import StreamClient


class TokenServer:
    """A real token endpoint that counts requests and can be told to misbehave."""

    def __init__(self, *, basic_only=False, expires_in=3600, delay=0.0, fail_status=None):
        self.requests: list[dict] = []
        self.basic_only = basic_only
        self.expires_in = expires_in
        self.delay = delay
        self.fail_status = fail_status
        self.issued = 0

    async def handle(self, request: web.Request):
        form = dict(await request.post())
        auth = request.headers.get("Authorization")
        self.requests.append({"form": form, "authorization": auth})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status:
            return web.json_response({"error": "server_error", "error_description": "try later"},
                                     status=self.fail_status)
        if auth and auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        elif self.basic_only:
            return web.json_response({"error": "invalid_client"}, status=401)
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        if secret != "s3cret-" + str(cid):
            return web.json_response({"error": "invalid_client", "error_description": "bad secret"}, status=401)
        self.issued += 1
        body = {"access_token": f"tok-{cid}-{form.get('scope', '')}-{self.issued}", "token_type": "bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return web.json_response(body)


def api_app(seen: list, *, reject_first=0):
    state = {"rejects": reject_first}

    async def data(request):
        seen.append(request.headers.get("Authorization"))
        if state["rejects"] > 0:
            state["rejects"] -= 1
            return web.json_response({"error": "token revoked"}, status=401)
        return web.json_response({"auth": request.headers.get("Authorization")})

    app = web.Application()
    app.router.add_get("/data", data)
    return app


async def token_setup(serve, **kw):
    tokens = TokenServer(**kw)
    tapp = web.Application()
    tapp.router.add_post("/token", tokens.handle)
    tbase = await serve(tapp)
    return tokens, tbase + "/token"


def oauth_template(api_base, token_url, client_id="c1", scope=None, secret=None):
    auth = {"auth_type": "oauth2", "token_url": token_url, "client_id": client_id,
            "client_secret": secret or "s3cret-" + client_id}
    if scope is not None:
        auth["scope"] = scope
    return {"url": api_base + "/data", "stream_format": "json", "auth": auth}


async def test_body_credentials_and_cache_across_calls_and_instances(serve):
    tokens, turl = await token_setup(serve)
    seen: list = []
    api = await serve(api_app(seen))
    async with StreamClient() as a, StreamClient() as b:
        r1 = await a.call(oauth_template(api, turl))
        r2 = await a.call(oauth_template(api, turl))
        r3 = await b.call(oauth_template(api, turl))  # another protocol instance, same process cache
    assert r1 == r2 == r3 == {"auth": "Bearer tok-c1--1"}
    assert len(tokens.requests) == 1
    first = tokens.requests[0]
    assert first["form"] == {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s3cret-c1"}
    assert first["authorization"] is None


async def test_basic_fallback_when_body_credentials_refused(serve):
    tokens, turl = await token_setup(serve, basic_only=True)
    api = await serve(api_app([]))
    async with StreamClient() as client:
        assert await client.call(oauth_template(api, turl, scope="read")) == {"auth": "Bearer tok-c1-read-1"}
    assert len(tokens.requests) == 2
    assert tokens.requests[1]["authorization"] == "Basic " + base64.b64encode(b"c1:s3cret-c1").decode()
    assert "client_secret" not in tokens.requests[1]["form"]
    assert tokens.requests[1]["form"]["scope"] == "read"


async def test_expired_token_is_refetched(serve):
    tokens, turl = await token_setup(serve, expires_in=1)
    api = await serve(api_app([]))
    async with StreamClient() as client:
        assert await client.call(oauth_template(api, turl)) == {"auth": "Bearer tok-c1--1"}
        assert await client.call(oauth_template(api, turl)) == {"auth": "Bearer tok-c1--1"}
        await asyncio.sleep(1.1)
        assert await client.call(oauth_template(api, turl)) == {"auth": "Bearer tok-c1--2"}
    assert len(tokens.requests) == 2


async def test_token_without_expiry_lives_until_rejected(serve):
    tokens, turl = await token_setup(serve, expires_in=None)
    seen: list = []
    api = await serve(api_app(seen))
    async with StreamClient() as client:
        for _ in range(3):
            await client.call(oauth_template(api, turl))
    assert len(tokens.requests) == 1


async def test_ten_concurrent_calls_one_token_request(serve):
    tokens, turl = await token_setup(serve, delay=0.2)
    api = await serve(api_app([]))
    async with StreamClient() as client:
        results = await asyncio.gather(*(client.call(oauth_template(api, turl)) for _ in range(10)))
    assert all(r == {"auth": "Bearer tok-c1--1"} for r in results)
    assert len(tokens.requests) == 1


async def test_401_refreshes_once_and_retries(serve):
    tokens, turl = await token_setup(serve)
    seen: list = []
    api = await serve(api_app(seen, reject_first=1))
    async with StreamClient() as client:
        assert await client.call(oauth_template(api, turl)) == {"auth": "Bearer tok-c1--2"}
    assert seen == ["Bearer tok-c1--1", "Bearer tok-c1--2"]
    assert len(tokens.requests) == 2


async def test_persistent_401_is_not_retried_forever(serve):
    tokens, turl = await token_setup(serve)
    seen: list = []
    api = await serve(api_app(seen, reject_first=10))
    async with StreamClient() as client:
        with pytest.raises(HttpStatusError) as info:
            await client.call(oauth_template(api, turl))
    assert info.value.status == 401
    assert len(seen) == 2 and len(tokens.requests) == 2


async def test_token_endpoint_down(serve, free_port):
    api = await serve(api_app([]))
    async with StreamClient() as client:
        with pytest.raises(AuthError, match="could not reach token endpoint") as info:
            await client.call(oauth_template(api, f"http://127.0.0.1:{free_port}/token"))
    assert "s3cret" not in str(info.value)


async def test_token_endpoint_error_text_without_secret(serve):
    _, turl = await token_setup(serve, fail_status=500)
    api = await serve(api_app([]))
    async with StreamClient() as client:
        with pytest.raises(AuthError, match="HTTP 500: server_error try later") as info:
            await client.call(oauth_template(api, turl))
    assert "s3cret" not in str(info.value)


async def test_insecure_token_url_refused(serve):
    api = await serve(api_app([]))
    async with StreamClient() as client:
        with pytest.raises(AuthError, match="plain http"):
            await client.call(oauth_template(api, "http://tokens.example.com/token"))


async def test_keys_that_differ_only_in_scope_or_secret_get_their_own_tokens(serve):
    _, turl = await token_setup(serve)
    api = await serve(api_app([]))
    async with StreamClient() as client:
        a = await client.call(oauth_template(api, turl, scope="read"))
        b = await client.call(oauth_template(api, turl, scope="write"))
        c = await client.call(oauth_template(api, turl, scope="read"))
        with pytest.raises(AuthError):
            await client.call(oauth_template(api, turl, scope="read", secret="wrong"))
    assert a == c == {"auth": "Bearer tok-c1-read-1"}
    assert b == {"auth": "Bearer tok-c1-write-2"}


# -- variables ---------------------------------------------------------------


def keyed_manual_app(header_value: str, seen: list):
    async def manual(request):
        base = f"http://{request.host}"
        return web.json_response({"tools": [{
            "name": "now",
            "tool_call_template": {"call_template_type": "streamable_http", "url": base + "/now",
                                   "stream_format": "json", "headers": {"X-Api-Key": header_value}},
        }]})

    async def now(request):
        seen.append(request.headers.get("X-Api-Key"))
        return web.json_response({"key": request.headers.get("X-Api-Key")})

    app = web.Application()
    app.router.add_get("/utcp", manual)
    app.router.add_get("/now", now)
    return app


async def test_namespaced_variables_from_env_and_dotenv(serve, tmp_path, monkeypatch):
    seen: list = []
    base = await serve(keyed_manual_app("${API_KEY}", seen))
    monkeypatch.setenv("weather_API_KEY", "from-env")
    client = await UtcpClient.create()
    try:
        assert (await client.register_manual(manual_template(base, name="weather"))).success
        assert await client.call_tool("weather.now", {}) == {"key": "from-env"}
    finally:
        await client.close()
    monkeypatch.delenv("weather_API_KEY")
    env = tmp_path / ".env"
    env.write_text("my__api_API_KEY=from-dotenv\n")
    client = await UtcpClient.create(config={
        "load_variables_from": [{"variable_loader_type": "dotenv", "env_file_path": str(env)}]})
    try:
        assert (await client.register_manual(manual_template(base, name="my_api"))).success
        assert await client.call_tool("my_api.now", {}) == {"key": "from-dotenv"}
    finally:
        await client.close()


async def test_unresolved_placeholder_never_reaches_the_server(serve):
    seen: list = []
    # utcp's substitutor only knows [A-Za-z0-9_] names: this one survives it.
    base = await serve(keyed_manual_app("${API-KEY}", seen))
    client = await UtcpClient.create()
    try:
        assert (await client.register_manual(manual_template(base, name="weather"))).success
        advice = r"\$\{API-KEY\}.*rename the placeholder to \$\{API_KEY\}.*set weather_API_KEY"
        with pytest.raises(TemplateError, match=advice):
            await client.call_tool("weather.now", {})
    finally:
        await client.close()
    async with StreamClient() as direct:
        with pytest.raises(TemplateError, match="never resolved"):
            await direct.call({"url": base + "/now", "headers": {"Authorization": "Bearer ${TOKEN}"}})
    assert seen == []


# -- redirects ---------------------------------------------------------------


async def redirect_pair(serve):
    """Origin A (127.0.0.1:pA) and origin B (localhost:pB)."""
    seen: dict[str, list] = {"a_hop": [], "b": []}
    b_app = web.Application()

    async def b_final(request):
        seen["b"].append({"auth": request.headers.get("Authorization"), "key": request.headers.get("X-Api-Key"),
                          "cookie": request.headers.get("Cookie"), "q": request.query.get("key"),
                          "method": request.method, "body": await request.text()})
        return web.json_response({"ok": True})

    b_app.router.add_route("*", "/final", b_final)
    b_base = (await serve(b_app)).replace("127.0.0.1", "localhost")
    a_app = web.Application()

    async def start(request):
        status = int(request.query.get("status", "302"))
        raise web.HTTPFound("/hop") if status == 302 else web.HTTPTemporaryRedirect("/hop")

    async def hop(request):
        seen["a_hop"].append({"auth": request.headers.get("Authorization"),
                              "key": request.headers.get("X-Api-Key"), "method": request.method})
        raise web.HTTPTemporaryRedirect(b_base + "/final")

    async def loop_(request):
        raise web.HTTPFound("/loop")

    async def to_remote(request):
        raise web.HTTPFound("http://example.com/x")

    a_app.router.add_route("*", "/start", start)
    a_app.router.add_route("*", "/hop", hop)
    a_app.router.add_get("/loop", loop_)
    a_app.router.add_get("/to-remote", to_remote)
    return await serve(a_app), seen


async def test_credentials_kept_within_origin_dropped_across(serve):
    a, seen = await redirect_pair(serve)
    async with StreamClient() as client:
        result = await client.call({"url": a + "/start?status=307", "stream_format": "json",
                                    "headers": {"Cookie": "sid=abc"},
                                    "auth": {"auth_type": "api_key", "api_key": "K-1", "var_name": "X-Api-Key"}})
        assert result == {"ok": True}
        await client.call({"url": a + "/start", "stream_format": "json",
                           "auth": {"auth_type": "basic", "username": "u", "password": "p"}})
        await client.call({"url": a + "/start", "stream_format": "json",
                           "auth": {"auth_type": "api_key", "api_key": "Q-1", "var_name": "key",
                                    "location": "query"}})
    assert seen["a_hop"][0]["key"] == "K-1"
    assert seen["a_hop"][1]["auth"].startswith("Basic ")
    for hit in seen["b"]:
        assert hit["auth"] is None and hit["key"] is None and hit["cookie"] is None and hit["q"] is None


async def test_307_keeps_method_and_body_302_turns_post_into_get(serve):
    a, seen = await redirect_pair(serve)
    async with StreamClient() as client:
        await client.call({"url": a + "/start?status=307", "http_method": "POST", "body_field": "b",
                           "stream_format": "json"}, {"b": "payload"})
        await client.call({"url": a + "/start?status=302", "http_method": "POST", "body_field": "b",
                           "stream_format": "json"}, {"b": "payload"})
    assert (seen["b"][0]["method"], seen["b"][0]["body"]) == ("POST", "payload")
    assert seen["a_hop"][1]["method"] == "GET"
    assert (seen["b"][1]["method"], seen["b"][1]["body"]) == ("GET", "")


async def test_redirect_loop_and_insecure_target(serve):
    a, _ = await redirect_pair(serve)
    async with StreamClient() as client:
        with pytest.raises(HttpStatusError, match="stopped after 5 redirects"):
            await client.call({"url": a + "/loop"})
        with pytest.raises(InsecureUrlError, match="refused to follow a redirect"):
            await client.call({"url": a + "/to-remote"})


# -- secret hygiene ----------------------------------------------------------

SENTINELS = ["SENTINEL-API-KEY-1", "SENTINEL-PASSWORD-2", "SENTINEL-CLIENT-SECRET-3", "SENTINEL-HEADER-4",
             "SENTINEL-BEARER-5", "SENTINEL-QUERY-6", "SENTINEL-USERINFO-7"]


async def test_no_secret_in_any_error_log_or_repr(serve, caplog, free_port):
    caplog.set_level(logging.DEBUG)

    async def echo_fail(request):
        # A hostile server echoes every credential back in its error body.
        body = " ".join(f"{k}={v}" for k, v in request.headers.items()) + " q=" + request.query_string
        return web.Response(status=400, text=body)

    async def token_fail(request):
        form = dict(await request.post())
        return web.json_response({"error": "invalid_client", "error_description": str(form)}, status=400)

    async def redirect_away(request):
        raise web.HTTPFound("http://example.com/steal?" + request.query_string)

    def bare(request):
        return request.headers.get("Authorization", "").split(" ", 1)[-1]

    async def echo_token(request):  # only the bare token, without its scheme
        return web.Response(status=401, text=f"Incorrect API key provided: {bare(request)}")

    async def straddle(request):  # the token straddles the excerpt's cut
        return web.Response(status=400, text="x" * 290 + bare(request))

    async def bad_ndjson(request):  # a decode-error excerpt cut inside the token
        return web.Response(text="y" * 70 + bare(request) + "\n", content_type="application/x-ndjson")

    async def echo_location(request):
        raise web.HTTPFound("http://example.com/steal?echo=" + bare(request))

    app = web.Application()
    app.router.add_route("*", "/fail", echo_fail)
    app.router.add_post("/token", token_fail)
    app.router.add_get("/away", redirect_away)
    for path, handler in (("/token", echo_token), ("/straddle", straddle), ("/ndjson", bad_ndjson),
                          ("/location", echo_location)):
        app.router.add_get("/echo" + path, handler)
    base = await serve(app)
    templates = [
        {"url": base + "/fail", "headers": {"X-Private": SENTINELS[3]},
         "auth": {"auth_type": "api_key", "api_key": SENTINELS[0], "var_name": "X-Api-Key"}},
        {"url": base + "/fail", "auth": {"auth_type": "api_key", "api_key": SENTINELS[0], "var_name": "key",
                                         "location": "query"}},
        {"url": base + "/fail", "auth": {"auth_type": "api_key", "api_key": SENTINELS[0], "var_name": "sid",
                                         "location": "cookie"}},
        {"url": base + "/fail", "auth": {"auth_type": "basic", "username": "u", "password": SENTINELS[1]}},
        {"url": base + "/fail", "auth": {"auth_type": "oauth2", "token_url": base + "/token",
                                         "client_id": "c", "client_secret": SENTINELS[2]}},
        {"url": base + "/fail", "auth": {"auth_type": "oauth2", "token_url": f"http://127.0.0.1:{free_port}/t",
                                         "client_id": "c", "client_secret": SENTINELS[2]}},
        {"url": base + "/away", "auth": {"auth_type": "api_key", "api_key": SENTINELS[0], "var_name": "key",
                                         "location": "query"}},
        {"url": f"http://127.0.0.1:{free_port}/x?token={SENTINELS[0]}",
         "auth": {"auth_type": "basic", "username": "u", "password": SENTINELS[1]}},
        {"url": "http://example.com/x?api_key=" + SENTINELS[0]},
        *({"url": base + "/echo" + path, "headers": {"Authorization": "Bearer " + SENTINELS[4]}}
          for path in ("/token", "/straddle", "/ndjson", "/location")),
        {"url": base + "/fail?appid=" + SENTINELS[5]},
        {"url": f"https://user:{SENTINELS[6]}/x@h.example/"},
    ]
    async def garbage(reader, writer):  # a malformed status line
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 2OO OK " + SENTINELS[0].encode() + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    garbage_server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    gport = garbage_server.sockets[0].getsockname()[1]
    templates.append({"url": f"http://127.0.0.1:{gport}/x",
                      "auth": {"auth_type": "api_key", "api_key": SENTINELS[0], "var_name": "key",
                               "location": "query"}})
    texts: list[str] = []
    async with StreamClient() as client:
        for template in templates:
            with pytest.raises(Exception) as info:
                await client.call(template)
            exc = info.value
            texts += [str(exc), repr(exc), *[str(a) for a in exc.args], str(getattr(exc, "detail", "")),
                      str(getattr(exc, "url", ""))]
            texts += [str(exc.__context__), str(exc.__cause__)]
            from utcp_http_stream.template import StreamableHttpCallTemplate

            if "user:" not in template["url"]:
                tmpl = StreamableHttpCallTemplate.model_validate(template)
                texts += [repr(tmpl), str(tmpl), repr(tmpl.auth)]
        texts.append(repr(client))
    from utcp_http_stream.auth import TOKEN_CACHE

    texts.append(repr(TOKEN_CACHE))
    garbage_server.close()
    # Client-side records only: the test servers' own access logs are theirs.
    client_records = [r for r in caplog.records if not r.name.startswith(("aiohttp.access", "aiohttp.server"))]
    texts += [r.getMessage() for r in client_records]
    texts += [str(r.exc_info[1]) for r in client_records if r.exc_info]
    blob = "\n".join(texts)
    assert "HTTP 400" in blob  # the failures really happened
    for sentinel in SENTINELS:
        assert sentinel not in blob, sentinel
    assert "SENTINEL" not in blob  # no prefix of one either (an excerpt cut inside it)
