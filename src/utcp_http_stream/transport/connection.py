"""Making a pooled session: the connector, TLS, the address guard on every
new connection, the plugin-side content decoding, and the environment's
proxy per request."""

from __future__ import annotations

import inspect
import ssl
from http.cookies import BaseCookie, SimpleCookie

import aiohttp
from yarl import URL

from utcp_http_stream.decompress import accept_encoding
from utcp_http_stream.proxies import UnusableProxy, env_proxy
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.transport.guard import ConnectGuard
from utcp_http_stream.transport.keepalive import ShortKeepAlive
from utcp_http_stream.transport.limits import MAX_HEADER_FIELDS, MAX_HEADER_LINE

__all__ = ["DIRECT", "make_session", "proxy_for", "response_class"]

# Every limit is enforced by this package (the pool wait and the header wait
# in the client, idle and total per body read in transport.body): aiohttp's
# own timers would add a timer per request, and its sock_read drops buffered
# bytes when it fires.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)


class _NoCookies(aiohttp.DummyCookieJar):
    """No cookie is stored and none is sent, without a new empty cookie set
    per request (``DummyCookieJar.filter_cookies`` makes one each time)."""

    _NONE: BaseCookie[str] = SimpleCookie()

    def filter_cookies(self, request_url: URL) -> BaseCookie[str]:
        none = self._NONE
        if none:  # never written to by aiohttp for a session without per-request cookies; stay safe anyway
            none.clear()
        return none


def response_class(keepalive_expiry_ms: int, short: ShortKeepAlive) -> type[aiohttp.ClientResponse]:
    """The response class of a session whose pool expires idle connections
    after ``keepalive_expiry_ms``: a connection whose server announces
    (``Keep-Alive: timeout=N``) that it closes idle connections sooner is
    closed after its response instead of pooled, and ``short`` learns the
    origin's timeout (its later calls go through a pool that expires sooner).

    It must be decided inside ``start()``: aiohttp hands a connection back to
    the pool as soon as the body is complete, which for a small body is before
    ``start()`` returns (public names only: ``Connection.protocol``,
    ``ResponseHandler.close()``/``force_close()``)."""

    class Response(aiohttp.ClientResponse):
        async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
            protocol = connection.protocol
            await super().start(connection)
            keep_alive = self.headers.get("Keep-Alive")
            if keep_alive and protocol is not None and not short.allows(self.url, keep_alive, keepalive_expiry_ms):
                if self.connection is None:
                    protocol.close()  # already back in the pool: nothing ran in between, close it now
                else:
                    protocol.force_close()  # closed instead of pooled when the body ends
            return self

    return Response


#: How long a host name's addresses are reused for new connections: aiohttp's own default. The
#: resolver gives no TTL, and minutes would keep connecting to an address that a DNS failover or
#: a load balancer's rotation has retired. Pooled connections are reused regardless, so a name is
#: looked up at most once per new connection and this long.
DNS_CACHE_S = 10.0


#: ``max_headers``, where aiohttp takes it (3.14 and later; before, its parser's own bound applies).
_MAX_HEADERS = (
    {"max_headers": MAX_HEADER_FIELDS}
    if "max_headers" in inspect.signature(aiohttp.ClientSession).parameters
    else {}
)


def make_session(
    settings: ClientSettings, tls: ssl.SSLContext, short: ShortKeepAlive, keepalive_ms: int | None = None
) -> aiohttp.ClientSession:
    """A session for one event loop. The pool's limits are enforced by
    :class:`~utcp_http_stream.transport.sessions.LoopPool`, not here, so that
    the wait for a connection is its own timeout phase. Its idle connections
    expire after ``keepalive_ms`` (the client's ``keepalive_expiry`` unless
    given: shorter for the servers ``short`` knows)."""
    expiry = settings.keepalive_expiry if keepalive_ms is None else keepalive_ms
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=0,
        ttl_dns_cache=DNS_CACHE_S,
        ssl=tls,
        keepalive_timeout=expiry / 1000,
        socket_factory=ConnectGuard(settings.allow_local_addresses).socket_factory,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=_NoCookies(),
        # Never aiohttp's trust_env: it would send ~/.netrc passwords to any
        # host a manual names. The environment's proxy is applied per request
        # (proxy_for), when the client's trust_env setting is on.
        trust_env=False,
        timeout=_NO_AIOHTTP_TIMEOUT,
        response_class=response_class(expiry, short),
        # Content decoding is the plugin's (decompress.py): bounded pieces,
        # and a compressed stream cut short is detected, not returned as whole.
        auto_decompress=False,
        headers={"Accept-Encoding": accept_encoding()},
        max_line_size=MAX_HEADER_LINE,
        max_field_size=MAX_HEADER_LINE,
        **_MAX_HEADERS,
    )


#: ``(proxy, proxy_auth)`` for a request sent directly.
DIRECT: tuple[None, None] = (None, None)


def proxy_for(url: str) -> tuple[str, aiohttp.BasicAuth | None] | tuple[None, None]:
    """``session.request``'s ``proxy`` and ``proxy_auth`` for ``url``: the
    environment's proxy (:func:`utcp_http_stream.proxies.env_proxy`), or
    :data:`DIRECT`. A proxy aiohttp cannot speak to (SOCKS) raises
    :class:`~utcp_http_stream.proxies.UnusableProxy`: never a silent direct
    connection around a proxy the user asked for."""
    proxy = env_proxy(url)
    if proxy is None:
        return DIRECT
    if not proxy.speaks_http:
        raise UnusableProxy(proxy)
    auth = aiohttp.BasicAuth(proxy.user, proxy.password or "") if proxy.user is not None else None
    return proxy.url, auth
