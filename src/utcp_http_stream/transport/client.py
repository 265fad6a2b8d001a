"""``StreamClient``: the connection pools and the send path.

A call goes down one chain of small layers, as in httpx: ``_connect``
(reconnection before the first byte) -> ``_send_handling_auth`` (the OAuth2
bearer and its one refresh on 401) -> ``_send_handling_redirects`` ->
``_send_single`` (the keep-alive resend rule) -> ``_exchange`` (one HTTP
request on a pooled connection). Every foreign exception on the way is
translated by the call's :class:`ErrorMap`. ``client.stream()`` hands the
result to a :class:`StreamResponse` with the call's :class:`StreamState` and
a :class:`BodySource`; the response never calls back into the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from pydantic import ValidationError
from utcp.data.auth_implementations import OAuth2Auth
from yarl import URL

from utcp_http_stream.auth import TOKEN_CACHE, CachedToken, TokenCache
from utcp_http_stream.errors import HttpStatusError, HttpStreamError, StreamDecodeError, TemplateError
from utcp_http_stream.request import PreparedRequest, build_request, redirect_request
from utcp_http_stream.security import redact_url
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.template import StreamableHttpCallTemplate, format_validation_error
from utcp_http_stream.transport.call import Call, Exchange, status_error
from utcp_http_stream.transport.connection import DIRECT, make_session, proxy_for
from utcp_http_stream.transport.error_map import finish
from utcp_http_stream.transport.guard import connecting
from utcp_http_stream.transport.keepalive import ShortKeepAlive
from utcp_http_stream.transport.limits import LimitsCache
from utcp_http_stream.transport.oauth import fetch_token
from utcp_http_stream.transport.response import StreamResponse, drain
from utcp_http_stream.transport.sessions import LoopPool, SessionPool
from utcp_http_stream.transport.source import BodySource
from utcp_http_stream.transport.tls import ssl_context

__all__ = ["MAX_REDIRECTS", "StreamClient", "coerce_template"]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Methods aiohttp itself sends once more when a pooled connection fails
#: before the answer (RFC 9112 section 9.3.1): the plugin adds no resend
#: for them, so there is never a third attempt.
_RESENT_BY_AIOHTTP = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def coerce_template(template: Any) -> StreamableHttpCallTemplate:
    """Accept our template, a dict, or any CallTemplate whose fields validate as
    ours (a template parsed by another plugin's serializer still works)."""
    if isinstance(template, StreamableHttpCallTemplate):
        return template
    try:
        if isinstance(template, Mapping):
            return StreamableHttpCallTemplate.model_validate(dict(template))
        return StreamableHttpCallTemplate.model_validate(template.model_dump())
    except ValidationError as exc:
        message = "invalid streamable_http call template: " + format_validation_error(exc)
    # Raised outside the handler: pydantic's error (which prints the input,
    # credentials included) must not ride along as __context__.
    raise finish(TemplateError(message), ())


class StreamClient:
    """A pooled HTTP client for streaming tool calls.

    Keyword arguments are the client settings (ARCHITECTURE section 2:
    ``ca_bundle``, ``pool_timeout``, ``keepalive_expiry``...); any not given
    comes from ``UTCP_HTTP_STREAM_<NAME>`` or its default. One session per
    event loop, created on first use and closed by :meth:`close` (see
    :mod:`~utcp_http_stream.transport.sessions`). Cookies are never stored
    between calls, and proxy settings from the environment are ignored
    unless ``trust_env`` is set (then only they: ``~/.netrc`` never is).
    """

    def __init__(
        self,
        *,
        token_cache: TokenCache = TOKEN_CACHE,
        max_redirects: int = MAX_REDIRECTS,
        settings: ClientSettings | None = None,
        **options: Any,
    ) -> None:
        self.settings = settings if settings is not None else ClientSettings.load(**options)
        self.token_cache = token_cache
        self.max_redirects = max_redirects
        s = self.settings
        tls = ssl_context(s)  # read once: a bad ca_bundle fails here, naming the setting
        #: Servers that announced a shorter keep-alive than ``keepalive_expiry`` (learnt by every pool).
        self._short_keepalive = short = ShortKeepAlive(s.keepalive_expiry)
        self._pools = SessionPool(
            lambda keepalive_ms: make_session(s, tls, short, keepalive_ms), s.max_connections,
            s.max_connections_per_host,
        )
        self._limits = LimitsCache(s)
        # Bound methods made once per client, not per call.
        self._reconnect = self._connect
        self._on_close = self._source_done

    @property
    def max_connections(self) -> int:
        return self.settings.max_connections

    def __repr__(self) -> str:
        state = "open" if self._pools.open else "idle"
        return f"<StreamClient {state} max_connections={self.max_connections}>"

    async def __aenter__(self) -> StreamClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every pooled session and idle connection."""
        await self._pools.close()

    # -- public entry points -------------------------------------------------

    def stream(
        self,
        template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
        args: Mapping[str, Any] | None = None,
        *,
        variable_namespace: str | None = None,
        raw_template: Any = None,
    ) -> _StreamContext:
        """Open a streaming call: ``async with client.stream(t, args) as resp``.

        Entering sends the request and waits for the response headers (after
        following redirects and raising ``HttpStatusError`` on a non-2xx);
        iterating ``resp`` yields decoded items as they arrive; leaving the
        block closes the connection if the body was not read to its end.
        ``raw_template`` is the template before variables were substituted
        (UtcpClient's copy): it tells which values are secrets.
        """
        return _StreamContext(self, *_prepare(template, args, variable_namespace, raw_template))

    async def call(
        self,
        template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
        args: Mapping[str, Any] | None = None,
        *,
        variable_namespace: str | None = None,
        raw_template: Any = None,
    ) -> Any:
        """The aggregated result of a call (what ``call_tool`` returns)."""
        # What ``(await self.open_stream(...)).aggregate()`` does, without the
        # response object; drain() releases the connection itself.
        source = await self._open_source(*_prepare(template, args, variable_namespace, raw_template))
        return await drain(source, self._on_close)

    async def fetch_document(
        self, template: StreamableHttpCallTemplate, *, limit: int
    ) -> tuple[bytes, str | None, str]:
        """GET a document (a manual) whatever its Content-Type, bounded to
        ``limit`` bytes: its body, its Content-Type and the final URL."""
        prepared = build_request(template, {})
        prepared = prepared.with_header("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
        async with self._open(template, prepared) as response:
            body = await response.read(limit)
            return body, response.content_type, response.final_url

    async def fetch_json(self, template: StreamableHttpCallTemplate, *, limit: int) -> tuple[Any, str]:
        """:meth:`fetch_document`, parsed as JSON: the value and the final URL."""
        from utcp_http_stream.decoders.jsonlib import loads

        body, _content_type, url = await self.fetch_document(template, limit=limit)
        try:
            return loads(body), url
        except ValueError as exc:
            raise StreamDecodeError(f"the document at {url} is not valid JSON ({exc})") from None

    # -- the call ------------------------------------------------------------

    def _open(self, template: StreamableHttpCallTemplate, prepared: PreparedRequest) -> _StreamContext:
        return _StreamContext(self, template, prepared)

    async def open_stream(self, template: StreamableHttpCallTemplate, prepared: PreparedRequest) -> StreamResponse:
        """Send ``prepared`` and return the open response (what entering
        :meth:`stream`'s block does; the caller must ``aclose()`` it)."""
        source = await self._open_source(template, prepared)
        return StreamResponse(source.call.state, source, template, on_close=self._on_close)

    async def _open_source(self, template: StreamableHttpCallTemplate, prepared: PreparedRequest) -> BodySource:
        """Send ``prepared``; the body of the 2xx answer, as a source (the
        caller hands it to ``self._on_close`` when done)."""
        pools = self._pools
        pool = pools.enter_home() or await pools.enter()
        call = Call(template, prepared, self.settings, pool, self._limits(template))
        exchange: Exchange | None = None
        try:
            exchange = await self._connect(call)
            _headers_arrived(call, exchange)
        except BaseException:
            if exchange is not None:
                exchange.close()
            closing = self._finish(call, None)
            if closing is not None:
                await closing
            raise
        return BodySource(call, exchange, self._reconnect)

    def _source_done(self, source: BodySource) -> Awaitable[None] | None:
        source.close()
        return self._finish(source.call, source.exchange)

    def _finish(self, call: Call, exchange: Exchange | None) -> Awaitable[None] | None:
        """The call is over: its connection released, its pool left. Returns
        what must still be awaited (a foreign loop's idle session closing),
        else None: the common case needs no coroutine."""
        if exchange is not None:
            exchange.release()
        pools = self._pools
        if pools.leave_now(call.pool):
            return None
        return pools.close_idle(call.pool)

    async def _connect(self, call: Call) -> Exchange:
        """Send until a 2xx arrives, retrying what the reconnect policy allows
        before the first byte of a body (also what a source calls after a
        cut it decided to resume)."""
        state = call.state
        oauth = isinstance(call.template.auth, OAuth2Auth)
        while True:
            try:
                # A first attempt has nothing to resume.
                resume = state.resume_headers() if state.attempts else None
                request = call.prepared.with_headers(resume) if resume else call.prepared
                if oauth:
                    exchange = await self._send_handling_auth(call, request)
                else:
                    # _send_handling_redirects, inline: a layer is a coroutine
                    # frame, entered and resumed on every call, and most calls
                    # are not redirected.
                    exchange = await self._send(call, request)
                    if exchange.status in _REDIRECTS:
                        exchange = await self._follow_redirects(call, request, exchange)
                if 200 <= exchange.status < 300:
                    return exchange
                raise await status_error(call, exchange)
            except HttpStreamError as exc:
                delay = state.reconnect_delay(exc, mid_stream=state.items_yielded > 0)
                if delay is None or not call.may_sleep(delay):
                    raise
                logger.info("reconnecting to %s in %.3f s (attempt %d): %s",
                            call.errors.url, delay, state.attempts, exc)
                await asyncio.sleep(delay)

    async def _send_handling_auth(self, call: Call, request: PreparedRequest) -> Exchange:
        """The OAuth2 bearer, and one refresh when the endpoint answers 401."""
        auth = call.template.auth
        assert isinstance(auth, OAuth2Auth)
        token = await self._token(auth, call)
        exchange = await self._send_handling_redirects(call, _with_bearer(request, token))
        if exchange.status != 401:
            return exchange
        # The token may have been revoked or expired early: fetch a new one
        # and try once more, before anything was yielded.
        exchange.close()
        self.token_cache.invalidate(auth, token)
        logger.info("tool endpoint %s answered 401; refreshing the OAuth2 token once", call.errors.url)
        token = await self._token(auth, call)
        return await self._send_handling_redirects(call, _with_bearer(request, token))

    async def _send_handling_redirects(self, call: Call, request: PreparedRequest) -> Exchange:
        exchange = await self._send(call, request)
        if exchange.status in _REDIRECTS:
            exchange = await self._follow_redirects(call, request, exchange)
        return exchange

    async def _follow_redirects(self, call: Call, request: PreparedRequest, exchange: Exchange) -> Exchange:
        """Follow ``exchange``'s redirect and the ones after it, at most
        ``max_redirects`` in all, each hop judged again (redirect_request)."""
        for hop in range(self.max_redirects + 1):
            location = exchange.headers.get("Location")
            if exchange.status not in _REDIRECTS or not location:
                return exchange
            exchange.close()
            with call.errors:
                request = redirect_request(request, exchange.status, location)
            if hop < self.max_redirects:
                exchange = await self._send(call, request)
        with call.errors:
            raise HttpStatusError(
                exchange.status, exchange.reason, request.safe_url, f"stopped after {self.max_redirects} redirects"
            )

    def _send(self, call: Call, request: PreparedRequest) -> Awaitable[Exchange]:
        """One request: with the plugin's one resend when it carries an
        ``Idempotency-Key`` (methods aiohttp resends itself never get it).
        Returns the coroutine (no frame of its own)."""
        if request.method in _RESENT_BY_AIOHTTP or not request.has_header("Idempotency-Key"):
            return self._exchange(call, request)
        return self._send_single(call, request)

    async def _send_single(self, call: Call, request: PreparedRequest) -> Exchange:
        """A request with an ``Idempotency-Key``, resent once on a fresh
        connection when a reused idle connection failed before any answer."""
        try:
            return await self._exchange(call, request)
        except HttpStreamError:
            if not call.errors.reused:
                raise
        logger.info("%s: a reused connection failed before the answer; resending once (Idempotency-Key)",
                    call.errors.url)
        return await self._exchange(call, request)

    async def _exchange(self, call: Call, request: PreparedRequest) -> Exchange:
        errors = call  # the call is its own error map
        errors.follow(request)
        pool: LoopPool = call.pool
        try:
            proxy, proxy_auth = proxy_for(request.url) if call.settings.trust_env else DIRECT
            held = pool.acquire_now()
            if held is None:
                errors.phase = "pool"
                held = await pool.acquire(request.url, call.pool_wait)
            try:
                errors.phase = "connect"
                url = _url(request.url)
                # A server that announced a shorter keep-alive: through the pool that expires sooner.
                session = pool.session if not self._short_keepalive.expiries else self._session_to(pool, url)
                with connecting(request.url, proxy is not None) as attempt:
                    try:
                        with pool.timer.wait(call.header_wait()):
                            raw = await session.request(
                                request.method,
                                url,
                                headers=request.headers,
                                data=request.body,
                                allow_redirects=False,
                                proxy=proxy,
                                proxy_auth=proxy_auth,
                            )
                    finally:
                        errors.reused = not attempt.fresh
            except BaseException:
                held.give()
                raise
        except Exception:
            with errors:  # translated there (entered only on a failure: the happy path pays nothing)
                raise
        return Exchange(raw, request, held)

    def _session_to(self, pool: LoopPool, url: URL) -> aiohttp.ClientSession:
        """The session of ``pool`` whose connections expire as ``url``'s server needs."""
        expiry = self._short_keepalive.expiry_for(url)
        return pool.session if expiry is None else pool.session_expiring(expiry)

    # -- OAuth2 ----------------------------------------------------------------

    async def _token(self, auth: OAuth2Auth, call: Call) -> CachedToken:
        cached = self.token_cache.cached(auth)
        if cached is not None:
            return cached
        with call.errors:
            call.errors.phase = "connect"
            try:
                return await self.token_cache.get(auth, self._fetch_token, call.remaining())
            except TimeoutError as exc:  # this call's deadline, while the token was on its way
                if isinstance(exc, HttpStreamError):
                    raise
                raise call.errors.token_timeout(redact_url(auth.token_url)) from None

    async def _fetch_token(self, auth: OAuth2Auth) -> dict[str, Any]:
        """The token request, through the same pool and send path (its own
        bound: the connect ceiling; each waiting call keeps its own deadline)."""
        pool = await self._pools.enter()
        try:
            return await fetch_token(auth, lambda request: self._token_exchange(pool, request))
        finally:
            await self._pools.leave(pool)

    async def _token_exchange(self, pool: LoopPool, request: PreparedRequest) -> tuple[int, bytes]:
        template = StreamableHttpCallTemplate(
            url=request.url, http_method="POST", timeout=self.settings.connect_timeout_ceiling
        )
        call = Call(template, request, self.settings, pool)
        exchange = await self._exchange(call, request)
        try:
            body = await BodySource(call, exchange, None).read(64 * 1024)
        finally:
            exchange.release()
        return exchange.status, body


def _prepare(
    template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
    args: Mapping[str, Any] | None,
    variable_namespace: str | None,
    raw_template: Any,
) -> tuple[StreamableHttpCallTemplate, PreparedRequest]:
    """The template (coerced) and the request it makes with ``args``."""
    tmpl = template if type(template) is StreamableHttpCallTemplate else coerce_template(template)
    try:
        prepared = build_request(tmpl, args, variable_namespace=variable_namespace, raw_template=raw_template)
    except HttpStreamError as exc:
        failure = finish(exc, ())  # bounded, and nothing chained to it
    else:
        return tmpl, prepared
    raise failure


def _headers_arrived(call: Call, exchange: Exchange) -> None:
    """The call's state learns the response's status and Content-Type (a
    ``select`` that cannot apply to it fails here, scrubbed and bounded)."""
    try:
        call.state.on_response(exchange.status, exchange.content_type, lambda: call.errors.url)
    except Exception:
        with call.errors:
            raise


_URLS: dict[str, URL] = {}
_URLS_MAX = 1024


def _url(url: str) -> URL:
    """``URL(url, encoded=True)`` from a bounded cache (a yarl parse per
    request otherwise; the string is already encoded by build_request)."""
    parsed = _URLS.get(url)
    if parsed is None:
        if len(_URLS) >= _URLS_MAX:
            _URLS.clear()
        parsed = _URLS[url] = URL(url, encoded=True)
    return parsed


def _with_bearer(request: PreparedRequest, token: CachedToken) -> PreparedRequest:
    bearer = request.with_header("Authorization", token.header())
    bearer.secrets = (*request.secrets, token.access_token)
    return bearer


class _StreamContext:
    """``async with client.stream(...) as response`` — opens on enter, closes on exit."""

    __slots__ = ("_client", "_response", "prepared", "template")

    def __init__(self, client: StreamClient, template: StreamableHttpCallTemplate, prepared: PreparedRequest):
        self._client = client
        self.template = template
        self.prepared = prepared
        self._response: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        self._response = await self._client.open_stream(self.template, self.prepared)
        return self._response

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.aclose()

