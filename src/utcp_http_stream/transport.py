"""The HTTP engine: the one module that does network I/O.

``StreamClient`` owns a pooled ``aiohttp.ClientSession``; ``client.stream()``
is an async context manager (like httpx's) whose body is a ``StreamResponse``
exposing ``status``, ``headers`` and async iteration over decoded items, raw
bytes or SSE events. Everything that makes a stream trustworthy lives here:
the three timeouts, redirect re-validation, the OAuth2 bearer and its single
refresh on 401, interruption detection, prompt connection teardown when the
consumer leaves, and reconnection.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import ValidationError
from utcp.data.auth_implementations import OAuth2Auth
from yarl import URL

from utcp_http_stream.auth import TOKEN_CACHE, CachedToken, TokenCache, auth_secrets, basic_header
from utcp_http_stream.decoders import aggregate, build_decoder
from utcp_http_stream.decoders.framing import charset_of, framing_for_content_type
from utcp_http_stream.errors import (
    AuthError,
    HttpStatusError,
    HttpStreamError,
    InsecureUrlError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
)
from utcp_http_stream.request import PreparedRequest, build_request
from utcp_http_stream.security import (
    check_url,
    is_loopback_host,
    origin_of,
    printable_excerpt,
    redact_text,
    redact_url,
)
from utcp_http_stream.template import StreamableHttpCallTemplate, format_validation_error

__all__ = ["StreamClient", "StreamResponse"]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_ERROR_BODY_LIMIT = 4096
_INTERRUPTIONS = (
    aiohttp.ClientPayloadError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    ConnectionResetError,
)
_TOKEN_TIMEOUT_S = 30.0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class _Deadline:
    """The whole-call time budget shared by every attempt of one call."""

    __slots__ = ("at", "ms")

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.at = (time.monotonic() + ms / 1000) if ms else None

    def remaining(self) -> float | None:
        if self.at is None:
            return None
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at - 0.001


class _IdleTimeout(asyncio.TimeoutError):
    """No body bytes arrived within idle_timeout while the consumer waited."""


def _idle_seconds(template: StreamableHttpCallTemplate) -> float | None:
    idle_ms = template.idle_timeout if template.idle_timeout is not None else template.timeout
    return idle_ms / 1000 if idle_ms else None


async def _next_piece(raw: aiohttp.ClientResponse, idle_s: float | None) -> bytes:
    """The next piece of body (b"" at its end), waiting at most ``idle_s``.

    The idle limit is timed here, per wait, rather than with aiohttp's
    ``sock_read``: that one also runs while the response headers are awaited
    (``connect_timeout``'s job), and when it fires it makes the reader drop
    bytes that had arrived but were not read yet. A stream that keeps sending
    never waits long here, however long it runs.

    While waiting, the connection is watched: aiohttp closes it on a framing
    error in the body (a chunk size that is not hex) without waking the body
    reader, which would otherwise wait for bytes that can never come.
    """
    content = raw.content
    protocol = raw.connection.protocol if raw.connection is not None else None
    # ``closed`` is resolved in connection_lost(); its callbacks run after that
    # has marked the body complete or failed. None: the socket already closed.
    closed: asyncio.Future[None] | None = getattr(protocol, "closed", None)
    watch = functools.partial(_fail_unfinished_body, content, protocol)
    if closed is not None:
        closed.add_done_callback(watch)
    elif protocol is not None and hasattr(protocol, "closed"):
        _fail_unfinished_body(content, protocol)
    timer = asyncio.timeout(idle_s)
    try:
        async with timer:
            return await content.readany()
    except TimeoutError:
        if timer.expired():
            raise _IdleTimeout() from None
        raise
    finally:
        if closed is not None:
            closed.remove_done_callback(watch)


def _fail_unfinished_body(
    content: aiohttp.StreamReader, protocol: Any, closed: asyncio.Future[None] | None = None
) -> None:
    if closed is not None and not closed.cancelled():
        closed.exception()  # retrieved: the body reader reports the failure
    if not content.is_eof() and content.exception() is None:
        cause = getattr(protocol, "exception", lambda: None)()
        why = f": {_reason(cause)}" if cause is not None else ""
        content.set_exception(aiohttp.ClientPayloadError(f"the connection closed in the middle of the body{why}"))


def _buffered_tail(content: aiohttp.StreamReader) -> bytes:
    """Body bytes that arrived before the connection failed but were not read.

    aiohttp's ``readany()`` raises a connection error as soon as it is stored,
    even while received bytes are still buffered, so a consumer slower than the
    network would lose complete items that arrived before a cut. This reads
    them out through the reader's private ``_read_nowait`` (guarded: without
    it the tail is lost, as before).
    """
    read_nowait = getattr(content, "_read_nowait", None)
    if read_nowait is None:
        return b""
    try:
        return read_nowait(-1)
    except Exception:
        return b""


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
        raise TemplateError("invalid streamable_http call template: " + format_validation_error(exc)) from None


class StreamClient:
    """A pooled HTTP client for streaming tool calls.

    One ``aiohttp.ClientSession`` per instance, created lazily on first use
    and closed by :meth:`close`. Cookies are never stored between calls (each
    tool call stands alone), and proxy settings from the environment are
    ignored unless ``trust_env=True`` (or ``UTCP_HTTP_STREAM_TRUST_ENV=1``).
    """

    def __init__(
        self,
        *,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        trust_env: bool | None = None,
        token_cache: TokenCache = TOKEN_CACHE,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.max_connections = (
            max_connections if max_connections is not None else _env_int("UTCP_HTTP_STREAM_MAX_CONNECTIONS", 512)
        )
        self.max_connections_per_host = (
            max_connections_per_host
            if max_connections_per_host is not None
            else _env_int("UTCP_HTTP_STREAM_MAX_CONNECTIONS_PER_HOST", 0)
        )
        self.trust_env = (
            trust_env if trust_env is not None else os.environ.get("UTCP_HTTP_STREAM_TRUST_ENV") == "1"
        )
        self.token_cache = token_cache
        self.max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = "open" if self._session is not None and not self._session.closed else "idle"
        return f"<StreamClient {state} max_connections={self.max_connections}>"

    async def __aenter__(self) -> StreamClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, created on first use in the running loop."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=self.max_connections_per_host,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self.trust_env,
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=True,
            )
            self._session = session
            self._session_loop = loop
        return session

    async def close(self) -> None:
        """Close the pooled session and every idle connection."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- public entry points -------------------------------------------------

    def stream(
        self,
        template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
        args: Mapping[str, Any] | None = None,
        *,
        variable_namespace: str | None = None,
    ) -> _StreamContext:
        """Open a streaming call: ``async with client.stream(t, args) as resp``.

        Entering sends the request and waits for the response headers (after
        following redirects and raising ``HttpStatusError`` on a non-2xx);
        iterating ``resp`` yields decoded items as they arrive; leaving the
        block closes the connection if the body was not read to its end.
        """
        tmpl = coerce_template(template)
        prepared = build_request(tmpl, args, variable_namespace=variable_namespace)
        return _StreamContext(self, tmpl, prepared)

    async def call(
        self,
        template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
        args: Mapping[str, Any] | None = None,
        *,
        variable_namespace: str | None = None,
    ) -> Any:
        """The aggregated result of a call (what ``call_tool`` returns)."""
        async with self.stream(template, args, variable_namespace=variable_namespace) as response:
            return await response.aggregate()

    async def fetch_json(self, template: StreamableHttpCallTemplate, *, limit: int) -> tuple[Any, str]:
        """GET a JSON document whatever its Content-Type, bounded to ``limit``
        bytes; returns the parsed value and the final URL (after redirects)."""
        prepared = build_request(template, {})
        prepared.headers = {k: v for k, v in prepared.headers.items() if k.lower() != "accept"}
        prepared.headers["Accept"] = "application/json, */*;q=0.5"
        deadline = _Deadline(template.timeout)
        response, final = await self._open(template, prepared, deadline)
        try:
            chunks: list[bytes] = []
            size = 0
            idle_s = _idle_seconds(template)
            while chunk := await _next_piece(response, idle_s):
                size += len(chunk)
                if size > limit:
                    raise HttpStreamError(
                        f"the document at {final.safe_url} is larger than {limit} bytes; "
                        "raise max_item_bytes on the manual's call template if it is really that big"
                    )
                chunks.append(chunk)
        except TimeoutError as exc:
            raise self._timeout_error(exc, template, final, deadline, 0, started=True) from None
        except _INTERRUPTIONS as exc:
            raise StreamInterruptedError(
                f"the connection to {final.safe_url} ended before the document was complete ({_reason(exc)})", 0
            ) from None
        finally:
            response.close()
        body = b"".join(chunks)
        try:
            return json.loads(body), final.url
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            excerpt = redact_text(printable_excerpt(body, 120), final.secrets)
            raise HttpStreamError(
                f"the document at {final.safe_url} is not valid JSON ({exc}); it starts with: {excerpt!r}"
            ) from None

    # -- sending -------------------------------------------------------------

    async def _open(
        self,
        template: StreamableHttpCallTemplate,
        prepared: PreparedRequest,
        deadline: _Deadline,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[aiohttp.ClientResponse, PreparedRequest]:
        """Send, follow redirects, apply OAuth2 (with one refresh on 401) and
        check the status. Returns the 2xx response and the request that got it."""
        auth = template.auth
        refreshed = False
        while True:
            token: CachedToken | None = None
            request = prepared
            if isinstance(auth, OAuth2Auth):
                token = await self._token(auth, template)
                request = _with_header(request, "Authorization", token.header())
                request.secrets = (*request.secrets, token.access_token)
            if extra_headers:
                for name, value in extra_headers.items():
                    request = _with_header(request, name, value)
            response, final = await self._send_following_redirects(template, request, deadline)
            if response.status == 401 and token is not None and not refreshed:
                # The token may have been revoked or expired early: fetch a new
                # one and try once more, before anything was yielded.
                response.close()
                self.token_cache.invalidate(auth, token)  # type: ignore[arg-type]
                refreshed = True
                logger.info("tool endpoint %s answered 401; refreshing the OAuth2 token once", final.safe_url)
                continue
            if not 200 <= response.status < 300:
                raise await self._status_error(response, final)
            return response, final

    async def _send_following_redirects(
        self, template: StreamableHttpCallTemplate, request: PreparedRequest, deadline: _Deadline
    ) -> tuple[aiohttp.ClientResponse, PreparedRequest]:
        current = request
        for _hop in range(self.max_redirects + 1):
            response = await self._send_once(template, current, deadline)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response, current
            response.close()
            current = _redirected(current, response.status, location)
        raise HttpStatusError(
            response.status,
            response.reason or "Redirect",
            request.safe_url,
            f"stopped after {self.max_redirects} redirects",
        )

    async def _send_once(
        self, template: StreamableHttpCallTemplate, request: PreparedRequest, deadline: _Deadline
    ) -> aiohttp.ClientResponse:
        session = self.session()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise StreamTimeoutError(
                "total",
                f"the call to {request.safe_url} exceeded timeout={template.timeout} ms; "
                "raise timeout, or set it to 0 for no overall limit",
            )
        timeout = aiohttp.ClientTimeout(
            total=remaining,
            connect=None,
            sock_connect=None,
            sock_read=None,  # idle_timeout is timed per body read, by _next_piece
        )
        header_wait = template.connect_timeout / 1000
        if remaining is not None:
            header_wait = min(header_wait, remaining)
        try:
            async with asyncio.timeout(header_wait):
                return await session.request(
                    request.method,
                    URL(request.url, encoded=True),
                    headers=request.headers,
                    data=request.body,
                    allow_redirects=False,
                    timeout=timeout,
                )
        except TimeoutError:
            if deadline.expired():
                raise StreamTimeoutError(
                    "total",
                    f"the call to {request.safe_url} exceeded timeout={template.timeout} ms before the "
                    "response headers arrived; raise timeout, or set it to 0 for no overall limit",
                ) from None
            raise StreamTimeoutError(
                "connect",
                f"no response headers from {request.safe_url} within connect_timeout="
                f"{template.connect_timeout} ms; raise connect_timeout if the server is slow to start answering",
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise StreamInterruptedError(
                f"could not connect to {request.safe_url}: {_reason(exc)}; is the server running and reachable?",
                0,
            ) from None
        except _INTERRUPTIONS as exc:
            raise StreamInterruptedError(
                f"the connection to {request.safe_url} closed before the response headers arrived ({_reason(exc)})",
                0,
            ) from None
        except aiohttp.InvalidURL as exc:
            raise TemplateError(f"invalid URL {request.safe_url!r}: {exc}") from None
        except aiohttp.ClientResponseError as exc:  # malformed status line or headers
            raise StreamInterruptedError(
                f"the server at {request.safe_url} sent a malformed HTTP response ({_reason(exc)})", 0
            ) from None

    async def _status_error(self, response: aiohttp.ClientResponse, request: PreparedRequest) -> HttpStatusError:
        detail = b""
        try:
            async with asyncio.timeout(2.0):
                detail = await response.content.read(_ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            pass
        finally:
            response.close()
        charset = charset_of(response.headers.get("Content-Type")) or "utf-8"
        try:
            text = printable_excerpt(detail, 300, charset)
        except LookupError:
            text = printable_excerpt(detail, 300)
        text = redact_text(text, request.secrets)
        error = HttpStatusError(response.status, response.reason or "", request.safe_url, text)
        error.retry_after = _retry_after_seconds(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
        return error

    # -- OAuth2 ----------------------------------------------------------------

    async def _token(self, auth: OAuth2Auth, template: StreamableHttpCallTemplate) -> CachedToken:
        return await self.token_cache.get(auth, self._fetch_token)

    async def _fetch_token(self, auth: OAuth2Auth) -> dict[str, Any]:
        """Client credentials grant: credentials in the form body first; if the
        endpoint refuses, once more with HTTP Basic."""
        try:
            check_url(auth.token_url, what="OAuth2 token_url")
        except InsecureUrlError as exc:
            raise AuthError(str(exc)) from None
        secrets = auth_secrets(auth)
        safe_url = redact_url(auth.token_url)
        form = {"grant_type": "client_credentials", "client_id": auth.client_id, "client_secret": auth.client_secret}
        if auth.scope:
            form["scope"] = auth.scope
        status, payload, text = await self._post_token(auth.token_url, form, {}, safe_url)
        if status in (400, 401, 403):
            logger.info("token endpoint %s refused body credentials (HTTP %s); retrying with Basic", safe_url, status)
            basic_form = {"grant_type": "client_credentials"}
            if auth.scope:
                basic_form["scope"] = auth.scope
            headers = {"Authorization": basic_header(auth.client_id, auth.client_secret)}
            status, payload, text = await self._post_token(auth.token_url, basic_form, headers, safe_url)
        if not 200 <= status < 300 or not isinstance(payload, dict):
            detail = ""
            if isinstance(payload, dict) and ("error" in payload or "error_description" in payload):
                detail = " ".join(str(payload.get(k, "")) for k in ("error", "error_description")).strip()
            else:
                detail = text
            detail = redact_text(printable_excerpt(detail, 200), secrets)
            raise AuthError(
                f"token endpoint {safe_url} refused client {auth.client_id!r}: HTTP {status}"
                + (f": {detail}" if detail else "")
            )
        return payload

    async def _post_token(
        self, url: str, form: dict[str, str], headers: dict[str, str], safe_url: str
    ) -> tuple[int, Any, str]:
        session = self.session()
        try:
            async with session.post(
                url,
                data=form,
                headers={"Accept": "application/json", **headers},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=_TOKEN_TIMEOUT_S),
            ) as response:
                body = await response.content.read(64 * 1024)
                status = response.status
        except TimeoutError:
            raise AuthError(f"token endpoint {safe_url} did not answer within {_TOKEN_TIMEOUT_S:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise AuthError(f"could not reach token endpoint {safe_url}: {_reason(exc)}") from None
        text = body.decode("utf-8", errors="replace")
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            payload = None
        return status, payload, text

    @staticmethod
    def _timeout_error(
        exc: BaseException,
        template: StreamableHttpCallTemplate,
        request: PreparedRequest,
        deadline: _Deadline,
        items: int,
        *,
        started: bool,
    ) -> StreamTimeoutError:
        if deadline.expired() or not isinstance(exc, (_IdleTimeout, aiohttp.SocketTimeoutError)):
            if deadline.at is not None:
                return StreamTimeoutError(
                    "total",
                    f"the call to {request.safe_url} exceeded timeout={template.timeout} ms after {items} "
                    "item(s); raise timeout, or set it to 0 for no overall limit",
                )
        idle = template.idle_timeout if template.idle_timeout is not None else template.timeout
        field = "idle_timeout" if template.idle_timeout is not None else "idle_timeout (defaults to timeout)"
        return StreamTimeoutError(
            "idle",
            f"the stream from {request.safe_url} sent nothing for {idle} ms after {items} item(s); "
            f"raise {field} for streams with long pauses",
        )


class _StreamContext:
    """``async with client.stream(...) as response`` — opens on enter, closes on exit."""

    __slots__ = ("_client", "_prepared", "_response", "_template")

    def __init__(self, client: StreamClient, template: StreamableHttpCallTemplate, prepared: PreparedRequest):
        self._client = client
        self._template = template
        self._prepared = prepared
        self._response: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        response = StreamResponse(self._client, self._template, self._prepared)
        await response._start()
        self._response = response
        return response

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.aclose()


class StreamResponse:
    """An open streaming response.

    ``status``, ``headers``, ``url`` and ``framing`` are known once the
    context is entered. Iterate it (``async for item in response``) for
    decoded items, or use :meth:`iter_bytes` / :meth:`iter_events`; a response
    can be consumed once. Reconnection (when the template allows it) happens
    inside the iteration and is invisible to the consumer except for
    ``reconnects``.
    """

    def __init__(self, client: StreamClient, template: StreamableHttpCallTemplate, prepared: PreparedRequest):
        self._client = client
        self.template = template
        self._prepared = prepared
        self._deadline = _Deadline(template.timeout)
        self._raw: aiohttp.ClientResponse | None = None
        self._final: PreparedRequest = prepared
        self._consumed = False
        self._attempts = 0
        self.items_yielded = 0
        self.reconnects = 0
        self.last_event_id: str | None = None
        self._retry_ms: int | None = None
        self.framing = "bytes"
        self.charset: str | None = None

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {self.framing} {self._final.safe_url}>"

    # -- state ---------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._raw.status if self._raw is not None else 0

    @property
    def reason(self) -> str:
        return (self._raw.reason or "") if self._raw is not None else ""

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        assert self._raw is not None
        return self._raw.headers

    @property
    def url(self) -> str:
        """The final URL (after redirects), with credentials redacted."""
        return self._final.safe_url

    @property
    def content_type(self) -> str | None:
        return self._raw.headers.get("Content-Type") if self._raw is not None else None

    # -- lifecycle -----------------------------------------------------------

    async def _start(self) -> None:
        self._raw, self._final = await self._connect(initial=True)
        self._choose_framing()

    def _choose_framing(self) -> None:
        content_type = self.content_type
        fmt = self.template.stream_format
        self.framing = framing_for_content_type(content_type) if fmt == "auto" else fmt
        self.charset = charset_of(content_type)
        if self.template.select is not None and self.framing in ("bytes", "text"):
            self.close()
            raise TemplateError(
                f"select {self.template.select!r} needs a JSON framing (ndjson, sse or json), but the response "
                f"from {self._final.safe_url} is {content_type or 'unlabelled'} ({self.framing} framing); set "
                "stream_format to ndjson/sse/json or remove select"
            )

    async def _connect(self, *, initial: bool) -> tuple[aiohttp.ClientResponse, PreparedRequest]:
        """Open (or re-open) the request, retrying where the policy allows."""
        extra: dict[str, str] = {}
        while True:
            if self.last_event_id:  # an empty id means: send none (WHATWG)
                extra["Last-Event-ID"] = self.last_event_id
            else:
                extra.pop("Last-Event-ID", None)
            try:
                return await self._client._open(self.template, self._prepared, self._deadline, extra_headers=extra)
            except (StreamInterruptedError, HttpStatusError) as exc:
                delay = self._retry_delay(exc, before_first_item=True)
                if delay is None:
                    raise
                await self._sleep(delay, exc)

    def _may_reconnect(self, *, mid_stream: bool) -> bool:
        policy = self.template.reconnect
        if policy is None or self._attempts >= policy.max_attempts:
            return False
        if self.framing == "sse" or (not mid_stream and self.template.stream_format == "sse"):
            # Resume is safe only if the server can skip what we have seen.
            return self.items_yielded == 0 or self.last_event_id is not None
        return self._prepared.method in ("GET", "HEAD") and self.items_yielded == 0

    def _retry_delay(self, exc: BaseException, *, before_first_item: bool) -> float | None:
        """Seconds to wait before another attempt, or None to give up."""
        policy = self.template.reconnect
        if policy is None:
            return None
        if isinstance(exc, HttpStatusError):
            if exc.status not in _RETRYABLE_STATUS:
                return None  # a 4xx (or other status) is never retried
            retry_after = getattr(exc, "retry_after", None)
        else:
            retry_after = None
        sse_expected = self.template.stream_format == "sse" or self.framing == "sse"
        if not sse_expected and self._prepared.method not in ("GET", "HEAD"):
            return None
        if not self._may_reconnect(mid_stream=not before_first_item):
            return None
        if retry_after is not None:
            if retry_after * 1000 > policy.max_delay_ms:
                return None  # the server asks for a longer pause than we may wait
            return retry_after
        if self._retry_ms is not None:
            return min(self._retry_ms, policy.max_delay_ms) / 1000
        base = min(policy.max_delay_ms, policy.initial_delay_ms * (2 ** self._attempts)) / 1000
        return random.uniform(base / 2, base)

    async def _sleep(self, delay: float, exc: BaseException) -> None:
        remaining = self._deadline.remaining()
        if remaining is not None and delay >= remaining:
            raise exc
        self._attempts += 1
        self.reconnects += 1
        logger.info(
            "reconnecting to %s in %.3f s (attempt %d): %s", self._final.safe_url, delay, self._attempts, exc
        )
        await asyncio.sleep(delay)

    def close(self) -> None:
        """Drop the connection now (it is not returned to the pool half-read)."""
        raw = self._raw
        if raw is not None:
            raw.close()

    async def aclose(self) -> None:
        """Close the connection if the body was not read to its end; else return it to the pool."""
        raw = self._raw
        if raw is None:
            return
        if raw.content.is_eof():
            raw.release()
        else:
            raw.close()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items(events=False)

    def iter_items(self) -> AsyncIterator[Any]:
        """Decoded items per the framing (ARCHITECTURE section 3)."""
        return self._items(events=False)

    def iter_events(self) -> AsyncIterator[Any]:
        """SSE only: ``ServerSentEvent`` objects (type, data, id, retry)."""
        if self.framing != "sse":
            raise TemplateError(f"iter_events() needs an SSE response; this one is {self.framing} framing")
        return self._items(events=True)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The raw body bytes as they arrive (after content decoding)."""
        self._claim()
        raw = self._raw
        assert raw is not None
        idle_s = _idle_seconds(self.template)
        try:
            try:
                while chunk := await _next_piece(raw, idle_s):
                    self.items_yielded += 1
                    yield chunk
                return
            except TimeoutError as exc:
                raise self._client._timeout_error(
                    exc, self.template, self._final, self._deadline, self.items_yielded, started=True
                ) from None
            except _INTERRUPTIONS as exc:
                cut: BaseException = exc
            # Bytes that arrived before the cut are delivered before the error.
            tail = _buffered_tail(raw.content)
            raw.close()
            if tail:
                self.items_yielded += 1
                yield tail
            raise self._interrupted(cut) from None
        finally:
            await self.aclose()

    async def aggregate(self) -> Any:
        """Read the whole stream and return what ``call_tool`` returns."""
        if self.framing == "bytes" and self.template.aggregate == "auto":
            # Skip per-chunk slicing: one join of what arrived.
            chunks = [chunk async for chunk in self.iter_bytes()]
            return b"".join(chunks)
        items = [item async for item in self._items(events=False)]
        return aggregate(self.framing, items, self.template.aggregate)

    def _claim(self) -> None:
        if self._consumed:
            raise RuntimeError("this StreamResponse was already consumed; open a new stream")
        self._consumed = True

    def _new_decoder(self, events: bool):
        t = self.template
        return build_decoder(
            self.framing,
            chunk_size=t.chunk_size,
            charset=self.charset,
            max_item_bytes=t.max_item_bytes,
            on_malformed=t.on_malformed,
            select=None if events else t.select,
            stop_marker=t.stop_marker,
            sse_event_types=t.sse_event_types,
            last_event_id=self.last_event_id,
            events=events,
        )

    async def _items(self, events: bool) -> AsyncIterator[Any]:
        self._claim()
        if self._prepared.method == "HEAD" or self.status in (204, 304):
            await self.aclose()  # no body by definition: nothing to decode
            return
        decoder = self._new_decoder(events)
        sse = self.framing == "sse"
        idle_s = _idle_seconds(self.template)
        try:
            while True:
                raw = self._raw
                assert raw is not None
                try:
                    while chunk := await _next_piece(raw, idle_s):
                        items = decoder.feed(chunk)
                        if sse:
                            self.last_event_id = decoder.last_event_id
                            self._retry_ms = decoder.retry
                        for item in items:
                            self.items_yielded += 1
                            yield item
                        if decoder.finished:
                            break
                    else:
                        items = decoder.close()
                        if sse:
                            self.last_event_id = decoder.last_event_id
                        for item in items:
                            self.items_yielded += 1
                            yield item
                    return
                except TimeoutError as exc:
                    raise self._client._timeout_error(
                        exc, self.template, self._final, self._deadline, self.items_yielded, started=True
                    ) from None
                except _INTERRUPTIONS as exc:
                    cut: BaseException = exc
                # What arrived whole before the cut may still sit in aiohttp's
                # buffer: deliver its complete items (the partial one stays in
                # the decoder and is dropped with it).
                tail = _buffered_tail(raw.content)
                raw.close()
                items = decoder.feed(tail) if tail else []
                if sse:
                    self.last_event_id = decoder.last_event_id
                    self._retry_ms = decoder.retry
                for item in items:
                    self.items_yielded += 1
                    yield item
                if decoder.finished:
                    return  # the stop marker arrived before the cut: the stream is complete
                error = self._interrupted(cut)
                delay = self._retry_delay(error, before_first_item=False)
                if delay is None:
                    raise error
                await self._sleep(delay, error)
                try:
                    self._raw, self._final = await self._connect(initial=False)
                except StreamInterruptedError as exc:
                    exc.items_yielded = self.items_yielded  # how far the whole call got
                    raise
                self._choose_framing()
                # A fresh parser: the partial event before the cut is dropped,
                # the last event id carries over.
                decoder = self._new_decoder(events)
        finally:
            await self.aclose()

    def _interrupted(self, exc: BaseException) -> StreamInterruptedError:
        return StreamInterruptedError(
            f"the stream from {self._final.safe_url} was cut off after {self.items_yielded} item(s) "
            f"before the body was complete ({_reason(exc)}); the items received so far were delivered, "
            "the partial one was dropped",
            self.items_yielded,
        )


def _with_header(request: PreparedRequest, name: str, value: str) -> PreparedRequest:
    headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
    headers[name] = value
    return PreparedRequest(
        method=request.method,
        url=request.url,
        headers=headers,
        body=request.body,
        secrets=request.secrets,
        credential_headers=request.credential_headers,
        credential_query=request.credential_query,
    )


def _redirected(request: PreparedRequest, status: int, location: str) -> PreparedRequest:
    """The request to send after a redirect, re-validated against the URL policy.

    Credentials are dropped when the origin changes; 301/302/303 turn a POST
    (303: anything but HEAD) into a bodiless GET, 307/308 keep method and body.
    """
    target = urljoin(request.url, location.strip())
    parts = urlsplit(target)
    target = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))
    from_loopback = is_loopback_host(urlsplit(request.url).hostname)
    try:
        check_url(target, loopback_allowed=from_loopback, what="redirect target")
    except InsecureUrlError as exc:
        raise InsecureUrlError(f"refused to follow a redirect from {request.safe_url}: {exc}") from None

    method, body = request.method, request.body
    headers = dict(request.headers)
    if (status in (301, 302) and method == "POST") or (status == 303 and method != "HEAD"):
        method, body = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}

    same_origin = origin_of(target) == origin_of(request.url)
    credential_query = request.credential_query
    if not same_origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in request.credential_headers | _ALWAYS_PRIVATE}
        if credential_query:
            parts = urlsplit(target)
            pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in credential_query]
            target = urlunsplit(
                (parts.scheme, parts.netloc, parts.path, urlencode(pairs, quote_via=quote), parts.fragment)
            )
        logger.info("redirect to another origin: credentials dropped (%s)", redact_url(target))
    return PreparedRequest(
        method=method,
        url=target,
        headers=headers,
        body=body,
        secrets=request.secrets,
        credential_headers=request.credential_headers if same_origin else frozenset(),
        credential_query=credential_query,
    )


_ALWAYS_PRIVATE = frozenset({"authorization", "cookie", "proxy-authorization"})


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return printable_excerpt(text, 200)
