"""``StreamClient``: the pooled session, sending, redirects, OAuth2 bearer and
status checks. ``client.stream()`` opens a :class:`StreamResponse`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from pydantic import ValidationError
from utcp.data.auth_implementations import OAuth2Auth
from yarl import URL

from utcp_http_stream.auth import TOKEN_CACHE, CachedToken, TokenCache
from utcp_http_stream.decoders.framing import charset_of
from utcp_http_stream.errors import (
    HttpStatusError,
    HttpStreamError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
)
from utcp_http_stream.request import PreparedRequest, build_request, redirect_request
from utcp_http_stream.retry import Deadline, retry_after_seconds
from utcp_http_stream.security import printable_excerpt, redact_text, scrub_error
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.template import StreamableHttpCallTemplate, format_validation_error
from utcp_http_stream.transport.body import INTERRUPTIONS, BodyReader, IdleTimeout, idle_seconds, reason
from utcp_http_stream.transport.guard import ConnectGuard, connecting
from utcp_http_stream.transport.oauth import fetch_token
from utcp_http_stream.transport.response import StreamResponse
from utcp_http_stream.transport.tls import ssl_context

__all__ = ["MAX_REDIRECTS", "StreamClient", "coerce_template"]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY_LIMIT = 4096
#: Longest wait for an error body, never past the call's own deadline.
_ERROR_BODY_WAIT_S = 2.0
# Every limit is enforced by this package (the header wait here, idle and
# total per body read in transport.body): aiohttp's own timers would add a
# timer per request and a context per read, and its sock_read drops buffered
# bytes when it fires.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)


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
        token_cache: TokenCache = TOKEN_CACHE,
        max_redirects: int = MAX_REDIRECTS,
        settings: ClientSettings | None = None,
        **options: Any,
    ) -> None:
        """``options`` are the client settings (ARCHITECTURE section 2:
        ``ca_bundle``, ``pool_timeout``, ``allow_local_addresses``...); any not
        given comes from ``UTCP_HTTP_STREAM_<NAME>`` or its default."""
        self.settings = settings if settings is not None else ClientSettings.load(**options)
        self.token_cache = token_cache
        self.max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @property
    def max_connections(self) -> int:
        return self.settings.max_connections

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
            settings = self.settings
            connector = aiohttp.TCPConnector(
                limit=settings.max_connections,
                limit_per_host=settings.max_connections_per_host,
                ttl_dns_cache=300,
                ssl=ssl_context(settings),
                socket_factory=ConnectGuard(settings.allow_local_addresses).socket_factory,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=settings.trust_env,
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
        raw_template: Any = None,
    ) -> _StreamContext:
        """Open a streaming call: ``async with client.stream(t, args) as resp``.

        Entering sends the request and waits for the response headers (after
        following redirects and raising ``HttpStatusError`` on a non-2xx);
        iterating ``resp`` yields decoded items as they arrive; leaving the
        block closes the connection if the body was not read to its end.
        """
        try:
            tmpl = coerce_template(template)
            prepared = build_request(tmpl, args, variable_namespace=variable_namespace, raw_template=raw_template)
        except HttpStreamError as exc:
            raise scrub_error(exc) from None
        return _StreamContext(self, tmpl, prepared)

    async def call(
        self,
        template: StreamableHttpCallTemplate | Mapping[str, Any] | Any,
        args: Mapping[str, Any] | None = None,
        *,
        variable_namespace: str | None = None,
        raw_template: Any = None,
    ) -> Any:
        """The aggregated result of a call (what ``call_tool`` returns)."""
        async with self.stream(
            template, args, variable_namespace=variable_namespace, raw_template=raw_template
        ) as response:
            return await response.aggregate()

    async def fetch_json(self, template: StreamableHttpCallTemplate, *, limit: int) -> tuple[Any, str]:
        """GET a JSON document whatever its Content-Type, bounded to ``limit``
        bytes; returns the parsed value and the final URL (after redirects)."""
        prepared = build_request(template, {})
        prepared.headers = {k: v for k, v in prepared.headers.items() if k.lower() != "accept"}
        prepared.headers["Accept"] = "application/json, */*;q=0.5"
        deadline = Deadline(template.timeout)
        response, final = await self._open(template, prepared, deadline)
        reader: BodyReader | None = None
        try:
            chunks: list[bytes] = []
            size = 0
            reader = BodyReader(response, idle_seconds(template), deadline)
            while chunk := await reader.next():
                size += len(chunk)
                if size > limit:
                    raise HttpStreamError(
                        f"the document at {final.safe_url} is larger than {limit} bytes; "
                        "raise max_item_bytes on the manual's call template if it is really that big"
                    )
                chunks.append(chunk)
        except TimeoutError as exc:
            raise self._timeout_error(exc, template, final, deadline, 0, started=True) from None
        except INTERRUPTIONS as exc:
            raise StreamInterruptedError(
                f"the connection to {final.safe_url} ended before the document was complete ({reason(exc)})", 0
            ) from None
        finally:
            if reader is not None:
                reader.close()
            response.close()
        body = b"".join(chunks)
        try:
            return json.loads(body), final.url
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            excerpt = printable_excerpt(redact_text(body.decode("utf-8", "replace"), final.secrets), 120)
            raise HttpStreamError(
                f"the document at {final.safe_url} is not valid JSON ({exc}); it starts with: {excerpt!r}"
            ) from None

    # -- sending -------------------------------------------------------------

    async def _open(
        self,
        template: StreamableHttpCallTemplate,
        prepared: PreparedRequest,
        deadline: Deadline,
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
                token = await self._token(auth)
                request = request.with_header("Authorization", token.header())
                request.secrets = (*request.secrets, token.access_token)
            if extra_headers:
                for name, value in extra_headers.items():
                    request = request.with_header(name, value)
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
                raise await self._status_error(response, final, deadline)
            return response, final

    async def _send_following_redirects(
        self, template: StreamableHttpCallTemplate, request: PreparedRequest, deadline: Deadline
    ) -> tuple[aiohttp.ClientResponse, PreparedRequest]:
        current = request
        for _hop in range(self.max_redirects + 1):
            response = await self._send_once(template, current, deadline)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response, current
            response.close()
            current = redirect_request(current, response.status, location)
        raise HttpStatusError(
            response.status,
            response.reason or "Redirect",
            request.safe_url,
            f"stopped after {self.max_redirects} redirects",
        )

    async def _send_once(
        self, template: StreamableHttpCallTemplate, request: PreparedRequest, deadline: Deadline
    ) -> aiohttp.ClientResponse:
        session = self.session()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise StreamTimeoutError(
                "total",
                f"the call to {request.safe_url} exceeded timeout={template.timeout} ms; "
                "raise timeout, or set it to 0 for no overall limit",
            )
        header_wait = template.connect_timeout / 1000
        if remaining is not None:
            header_wait = min(header_wait, remaining)
        try:
            async with asyncio.timeout(header_wait):
                with connecting(request.url, trust_env=self.settings.trust_env):
                    return await session.request(
                        request.method,
                        URL(request.url, encoded=True),
                        headers=request.headers,
                        data=request.body,
                        allow_redirects=False,
                        timeout=_NO_AIOHTTP_TIMEOUT,
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
                f"could not connect to {request.safe_url}: {reason(exc)}; is the server running and reachable?",
                0,
            ) from None
        except INTERRUPTIONS as exc:
            raise StreamInterruptedError(
                f"the connection to {request.safe_url} closed before the response headers arrived ({reason(exc)})",
                0,
            ) from None
        # These two exceptions print the full request URL (credentials in its
        # query included): only the redacted URL and their own message are used.
        except aiohttp.InvalidURL:
            raise TemplateError(f"invalid URL {request.safe_url!r}") from None
        except aiohttp.ClientResponseError as exc:  # malformed status line or headers
            detail = redact_text(printable_excerpt(exc.message or type(exc).__name__, 200), request.secrets)
            raise StreamInterruptedError(
                f"the server at {request.safe_url} sent a malformed HTTP response ({detail})", 0
            ) from None

    async def _status_error(
        self, response: aiohttp.ClientResponse, request: PreparedRequest, deadline: Deadline
    ) -> HttpStatusError:
        detail = b""
        remaining = deadline.remaining()
        try:
            async with asyncio.timeout(_ERROR_BODY_WAIT_S if remaining is None else min(_ERROR_BODY_WAIT_S, remaining)):
                detail = await response.content.read(_ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            pass
        finally:
            response.close()
        charset = charset_of(response.headers.get("Content-Type")) or "utf-8"
        try:
            body = detail.decode(charset, errors="replace")
        except LookupError:
            body = detail.decode("utf-8", errors="replace")
        # Scrubbed before the excerpt is cut: a secret straddling the cut leaks nothing.
        text = printable_excerpt(redact_text(body, request.secrets), 300)
        error = HttpStatusError(response.status, response.reason or "", request.safe_url, text)
        error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return error

    # -- OAuth2 ----------------------------------------------------------------

    async def _token(self, auth: OAuth2Auth) -> CachedToken:
        return await self.token_cache.get(auth, self._fetch_token)

    async def _fetch_token(self, auth: OAuth2Auth) -> dict[str, Any]:
        return await fetch_token(self.session(), auth)

    @staticmethod
    def _timeout_error(
        exc: BaseException,
        template: StreamableHttpCallTemplate,
        request: PreparedRequest,
        deadline: Deadline,
        items: int,
        *,
        started: bool,
    ) -> StreamTimeoutError:
        if deadline.expired() or not isinstance(exc, (IdleTimeout, aiohttp.SocketTimeoutError)):
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
        try:
            await response._start()
        except HttpStreamError as exc:
            raise scrub_error(exc, self._prepared.secrets) from None
        self._response = response
        return response

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.aclose()
