"""Through a real forward proxy (``tests/proxy_server.py``), as behind a
corporate or developer proxy: ``trust_env`` on, ``HTTPS_PROXY`` set.

The tool's server is HTTPS on 127.0.0.1 named ``evil.example``; only the
proxy knows that name's address (its own table), so the client never looks
it up, and nothing leaves the machine. The client runs with the address rule
on (``allow_local_addresses`` off) unless a test says otherwise: the proxy the
user configured is not judged by it, the tool's host is not reachable
around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.hostile import (
    METADATA_ADDRESS,
    HostileHttps,
    fake_dns,
    hostile_client,
    https_app,
    lookups,
    make_ca,
    manual,
)
from tests.proxy_server import ForwardProxy
from utcp_http_stream import HttpStatusError, StreamInterruptedError


@pytest.fixture
def env(tmp_path, monkeypatch):
    fake_dns(monkeypatch)
    lookups.clear()
    monkeypatch.setenv("UTCP_HTTP_STREAM_TRUST_ENV", "1")
    return make_ca(tmp_path)


class Origin:
    """The tool's HTTPS server: a manual; ``/data`` (what the request carried),
    called plain, with an API key and with an OAuth2 token from ``/token``;
    and ``/events``, an SSE stream that sends one event, then waits for
    ``go`` before the rest (and resumes after ``Last-Event-ID: 1``)."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.last_event_ids: list[str | None] = []
        self.server: HostileHttps | None = None

    def base(self) -> str:
        assert self.server is not None
        return self.server.url("evil.example")

    async def manual(self, request: web.Request) -> web.Response:
        def tool(name: str, path: str, **extra: Any) -> dict[str, Any]:
            return {"name": name, "description": name, "inputs": {"type": "object", "properties": {}},
                    "tool_call_template": {"call_template_type": "streamable_http", "url": self.base() + path,
                                           **extra}}

        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0",
                                  "tools": [tool("data", "/data"), tool("events", "/events"),
                                            tool("keyed", "/data", auth={
                                                "auth_type": "api_key", "api_key": "Bearer tok-1",
                                                "var_name": "Authorization", "location": "header"}),
                                            tool("oauth", "/data", auth={
                                                "auth_type": "oauth2", "token_url": self.base() + "/token",
                                                "client_id": "agent", "client_secret": "s3cret"}),
                                            tool("resumable", "/events",
                                                 reconnect={"max_attempts": 2, "initial_delay_ms": 10})]})

    async def data(self, request: web.Request) -> web.Response:
        seen = request.headers.get("Proxy-Authorization")
        return web.json_response({"host": request.host, "proxy_authorization": seen,
                                  "authorization": request.headers.get("Authorization")})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert (form.get("client_id"), form.get("client_secret")) == ("agent", "s3cret")
        return web.json_response({"access_token": "tok-from-proxy-path", "token_type": "bearer", "expires_in": 60})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """``first`` (id 1), then, once ``go`` is set, ``item 2`` and ``item 3``;
        a request resuming after id 1 gets the last two at once."""
        resumed = request.headers.get("Last-Event-ID")
        self.last_event_ids.append(resumed)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # a cut tunnel leaves this one nobody to write to
            if resumed != "1":
                await response.write(b"id: 1\ndata: first\n\n")
                await self.go.wait()
            for n in (2, 3):
                await response.write(f"id: {n}\ndata: item {n}\n\n".encode())
        return response


@pytest.fixture
async def origin(env) -> AsyncIterator[Origin]:
    site = Origin()
    app = https_app({"/utcp": site.manual, "/data": site.data, "/events": site.events, "/token": site.token})
    site.server = await HostileHttps(app, env[0]).start()
    yield site
    site.go.set()
    await site.server.stop()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    running = await ForwardProxy(hosts={"evil.example": "127.0.0.1", "127.0.0.1": "127.0.0.1"}).start()
    yield running
    await running.stop()


async def test_a_tool_is_discovered_and_called_through_the_proxy(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        result = await client.call_tool("evil.data", {})
    assert result == {"host": f"evil.example:{origin.server.port}", "proxy_authorization": None, "authorization": None}
    assert proxy.requests == [f"CONNECT evil.example:{origin.server.port}"] * proxy.tunnels
    assert "evil.example" not in lookups  # the proxy resolved it, not the client


async def test_a_proxy_reached_over_tls_is_trusted_through_ca_bundle(env, origin, monkeypatch):
    """``HTTPS_PROXY=https://...``: TLS to the proxy, and the tool's TLS inside the tunnel; the
    proxy's certificate comes from the private CA that ``ca_bundle`` adds."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    env[0].issue_cert("127.0.0.1").configure_cert(context)
    proxy = await ForwardProxy(hosts={"evil.example": "127.0.0.1"}).start(tls=context)
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
            await client.register_manual(manual(origin.base() + "/utcp"))
            result = await client.call_tool("evil.data", {})
    finally:
        await proxy.stop()
    assert proxy.url.startswith("https://") and result["host"] == f"evil.example:{origin.server.port}"
    assert proxy.tunnels >= 1


async def test_the_oauth2_token_request_goes_through_the_proxy_too(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:  # no way around the proxy
        await client.register_manual(manual(origin.base() + "/utcp"))
        result = await client.call_tool("evil.oauth", {})
    assert result["authorization"] == "Bearer tok-from-proxy-path"


async def test_a_stream_through_the_proxy_yields_each_item_as_it_arrives(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    items: list[Any] = []
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        async for item in client.call_tool_streaming("evil.events", {}):
            items.append(item)
            origin.go.set()  # the rest is sent only once the first item is here
    assert items == ["first", "item 2", "item 3"]


async def test_proxy_credentials_from_the_environment_reach_only_the_proxy(env, origin, proxy, monkeypatch):
    proxy.credentials = ("agent", "pw-SENTINEL")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url_with("agent", "pw-SENTINEL"))
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        result = await client.call_tool("evil.data", {})
    assert result["proxy_authorization"] is None  # inside the tunnel: the tool's server never sees them
    assert proxy.authorizations and set(proxy.authorizations) == {"Basic YWdlbnQ6cHctU0VOVElORUw="}


@pytest.mark.parametrize("given", [None, ("agent", "wrong-SENTINEL")])
async def test_a_proxy_that_wants_credentials_is_named_not_the_tools_server(env, origin, proxy, monkeypatch, given):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url if given is None else proxy.url_with(*given))
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        proxy.credentials = ("agent", "right")
        proxy.cut()  # the next call opens a new tunnel, which the proxy now guards
        with pytest.raises(HttpStatusError) as caught:
            await client.call_tool("evil.data", {})
        registered = await client.register_manual(manual(origin.base() + "/utcp", name="again"))
    message = str(caught.value)
    assert caught.value.status == 407
    assert f"the proxy {proxy.url} (HTTPS_PROXY)" in message and "not from the tool's server" in message
    assert "http://user:password@host:port" in message and "SENTINEL" not in message
    assert not registered.success and f"the proxy {proxy.url}" in registered.errors[0]


async def test_a_proxy_that_refuses_the_host_is_named(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        proxy.refused = frozenset({"evil.example"})
        proxy.cut()
        with pytest.raises(HttpStatusError) as caught:
            await client.call_tool("evil.data", {})
    assert caught.value.status == 403
    assert f"would not open a tunnel to evil.example:{origin.server.port}" in str(caught.value)
    assert "NO_PROXY" in str(caught.value)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY", "all_proxy"])
async def test_an_unreachable_proxy_is_named_not_the_tools_server(env, origin, proxy, monkeypatch, free_port,
                                                                  variable):
    monkeypatch.setenv(variable, proxy.url_with("agent", "pw-SENTINEL"))
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        monkeypatch.setenv(variable, f"http://agent:pw-SENTINEL@127.0.0.1:{free_port}")
        with pytest.raises(StreamInterruptedError) as caught:
            await client.call_tool("evil.data", {})
    message = str(caught.value)
    assert caught.value.items_yielded == 0
    assert f"could not connect to the proxy http://127.0.0.1:{free_port} that {variable} names" in message
    assert "is the server running" not in message and "SENTINEL" not in message


async def test_all_proxy_carries_the_calls_when_no_scheme_variable_is_set(env, origin, proxy, monkeypatch):
    """``ALL_PROXY``, as curl, requests and httpx read it (aiohttp's own
    trust_env ignores it: a user behind such a proxy would go direct)."""
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        result = await client.call_tool("evil.data", {})
        streamed = []
        async for item in client.call_tool_streaming("evil.resumable", {}):
            streamed.append(item)
            origin.go.set()
    assert result["host"] == f"evil.example:{origin.server.port}"
    assert streamed == ["first", "item 2", "item 3"]
    assert proxy.requests == [f"CONNECT evil.example:{origin.server.port}"] * proxy.tunnels
    assert "evil.example" not in lookups


@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTPS_PROXY"])
async def test_a_socks_proxy_is_refused_by_name_and_never_gone_around(env, origin, monkeypatch, variable):
    """A SOCKS proxy (``ALL_PROXY=socks5h://...``, an SSH tunnel's usual
    setting) cannot be spoken to by aiohttp. The call fails saying so, before
    any connection: neither an HTTP request sent to the SOCKS port nor a
    direct connection around the proxy the user asked for."""
    accepted: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    socks = await asyncio.start_server(count, "127.0.0.1", 0)
    port = socks.sockets[0].getsockname()[1]
    try:
        monkeypatch.setenv(variable, f"socks5h://tunnel:pw-SENTINEL@127.0.0.1:{port}")
        # allow_local on: a direct connection around the proxy would succeed, and show in `lookups`
        async with hostile_client(monkeypatch, env[1], allow_local=True) as client:
            registered = await client.register_manual(manual(origin.base() + "/utcp"))
    finally:
        socks.close()
        await socks.wait_closed()
    assert not registered.success
    message = registered.errors[0]
    assert message.startswith(f"{variable} names the proxy socks5h://127.0.0.1:{port} for "
                              f"https://evil.example:{origin.server.port}/utcp, which this client cannot use: it "
                              "reaches proxies over http:// or https:// only, not socks5h://")
    assert "add the host to NO_PROXY, or turn the trust_env client setting off" in message
    assert ("(it comes before ALL_PROXY)" in message) is (variable == "ALL_PROXY")
    assert "SENTINEL" not in message
    assert accepted == [] and "evil.example" not in lookups


async def test_a_cut_tunnel_resumes_the_sse_stream_through_a_new_one(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    items: list[Any] = []
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        tunnels = proxy.tunnels
        async for item in client.call_tool_streaming("evil.resumable", {}):
            items.append(item)
            if len(items) == 1:
                proxy.cut()  # the proxy's idle limit, or a restart
    assert items == ["first", "item 2", "item 3"]
    assert origin.last_event_ids == [None, "1"]
    assert proxy.tunnels > tunnels


async def test_no_proxy_sends_the_host_direct_and_the_address_rule_judges_it_again(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "evil.example")
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        registered = await client.register_manual(manual(origin.base() + "/utcp"))
    assert not registered.success and "leads to a loopback" in registered.errors[0]
    assert proxy.requests == [] and "evil.example" in lookups


async def test_no_proxy_networks_send_an_address_in_them_direct(env, origin, proxy, monkeypatch):
    """``NO_PROXY`` with networks (``169.254.0.0/16``, ``10.0.0.0/8``), as cloud,
    Kubernetes and corporate setups write it; curl and Go honour them, the
    stdlib alone does not. The address is link-local, so a direct connection
    is refused by the address rule before any packet is sent."""
    proxy.hosts[METADATA_ADDRESS] = "127.0.0.1"  # only the proxy reaches it
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    url = origin.server.url(METADATA_ADDRESS, "/utcp")
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8")  # another network: through the proxy
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        registered = await client.register_manual(manual(url))
    assert registered.success, registered.errors
    assert proxy.requests == [f"CONNECT {METADATA_ADDRESS}:{origin.server.port}"] * proxy.tunnels
    proxy.requests.clear()
    monkeypatch.setenv("NO_PROXY", "localhost, 169.254.0.0/16")  # its network: direct, judged by the address rule
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        registered = await client.register_manual(manual(url))
    assert not registered.success
    assert f"refused to connect to host '{METADATA_ADDRESS}'" in registered.errors[0]
    assert proxy.requests == []


async def test_without_trust_env_the_environment_proxy_is_not_used(env, origin, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("UTCP_HTTP_STREAM_TRUST_ENV", "0")
    async with hostile_client(monkeypatch, env[1], allow_local=True) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        result = await client.call_tool("evil.data", {})
    assert result["host"] == f"evil.example:{origin.server.port}"
    assert proxy.requests == []


async def test_without_trust_env_a_failure_names_the_proxy_it_did_not_use(env, proxy, monkeypatch):
    """Behind a proxy, a direct connection fails (here: the name does not
    resolve, as outside names don't on a proxied network)."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("UTCP_HTTP_STREAM_TRUST_ENV", "0")
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        registered = await client.register_manual(manual("https://api.unknown.example/utcp"))
    assert not registered.success
    assert (f"HTTPS_PROXY names the proxy {proxy.url}, which this client does not use unless the trust_env "
            "client setting is on (UTCP_HTTP_STREAM_TRUST_ENV=1)") in registered.errors[0]
    assert proxy.requests == []


async def test_loopback_never_goes_through_the_proxy(env, proxy, monkeypatch, serve):
    """A developer's machine often exports HTTP_PROXY; the tool server on
    127.0.0.1 is reached directly (the proxy could not reach it, and plain
    HTTP through it would show it every header)."""
    async def data(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path_qs})

    async def utcp(request: web.Request) -> web.Response:
        tool = {"name": "data", "description": "data", "inputs": {"type": "object", "properties": {}},
                "tool_call_template": {"call_template_type": "streamable_http", "url": f"http://{request.host}/data"}}
        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": [tool]})

    app = web.Application()
    app.router.add_get("/data", data)
    app.router.add_get("/utcp", utcp)
    base = await serve(app)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(base + "/utcp", name="local"))
        assert await client.call_tool("local.data", {"q": "a b"}) == {"path": "/data?q=a%20b"}
    assert proxy.requests == []


async def test_trust_env_never_sends_netrc_passwords(env, origin, proxy, monkeypatch, tmp_path):
    """``trust_env`` means the proxy variables. aiohttp's own would also send
    ``~/.netrc`` passwords to any host a manual names, and fail every call
    whose template sets its own Authorization for such a host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine evil.example login me password netrc-SENTINEL\n"
                     "machine 127.0.0.1 login me password netrc-SENTINEL\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with hostile_client(monkeypatch, env[1], allow_local=False) as client:
        await client.register_manual(manual(origin.base() + "/utcp"))
        plain = await client.call_tool("evil.data", {})
        keyed = await client.call_tool("evil.keyed", {})
    assert plain["authorization"] is None and keyed["authorization"] == "Bearer tok-1"
    assert set(proxy.authorizations) == {None}
