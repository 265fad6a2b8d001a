"""The one place where foreign exceptions become the contract's errors.

Like httpx's ``map_httpcore_exceptions()``: every aiohttp, OSError, SSL,
zlib and asyncio exception met while sending or reading is translated here,
with the phase the call was in (``pool``, ``connect``, ``body``) deciding the
words. Every error that leaves, ours included, is scrubbed of the call's
secrets, bounded in length, and carries no ``__context__`` (a foreign
exception there may print the full URL, credentials included).
"""

from __future__ import annotations

import logging
import zlib
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from utcp_http_stream.decompress import CorruptEncoding, TruncatedEncoding
from utcp_http_stream.errors import (
    HttpStatusError,
    HttpStreamError,
    StreamDecodeError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
)
from utcp_http_stream.proxies import EnvProxy, UnusableProxy, env_proxy, proxy_variable
from utcp_http_stream.request import PreparedRequest
from utcp_http_stream.retry import Deadline
from utcp_http_stream.security import printable_excerpt, scrub_error
from utcp_http_stream.settings import ENV_PREFIX
from utcp_http_stream.transport.limits import MAX_HEADER_LINE, CallLimits
from utcp_http_stream.transport.tls import tls_error_for

__all__ = ["ErrorMap", "IdleTimeout", "finish", "reason"]

logger = logging.getLogger(__name__)

#: Why a SOCKS (or any other non-HTTP) proxy cannot be used, one wording.
_HTTP_PROXIES_ONLY = "it reaches proxies over http:// or https:// only"

class IdleTimeout(TimeoutError):
    """No body bytes arrived within the idle limit while the consumer waited."""


def reason(exc: BaseException) -> str:
    """A short printable description of a foreign exception."""
    return printable_excerpt(str(exc) or type(exc).__name__, 200)


def finish(error: HttpStreamError, secrets: tuple[str, ...]) -> HttpStreamError:
    """Scrub ``secrets`` out of ``error`` (before any cut), bound its
    message, and drop any chained exception (ARCHITECTURE section 4)."""
    scrub_error(error, secrets)
    return error


class ErrorMap(Deadline):
    """``with errors:`` around any network step; ``phase`` and ``items`` say
    where the call is. One instance per call; ``url``/``secrets`` follow the
    current request (redirects change them).

    The map is also the call's :class:`Deadline` (``limits.timeout_ms`` from
    now), which its timeout messages are worded from: one object fewer made
    and kept alive per call.
    """

    __slots__ = ("_request", "_url", "items", "limits", "phase", "reused", "secrets")

    def __init__(self, url: str | PreparedRequest, secrets: tuple[str, ...], limits: CallLimits) -> None:
        super().__init__(limits.timeout_ms)
        # The printable URL is made only when a message needs it (redacting
        # costs a URL parse: not on every call's happy path).
        self._request: PreparedRequest | None = None if isinstance(url, str) else url
        self._url: str | None = url if isinstance(url, str) else None
        self.secrets = secrets
        #: The call's limits, for the messages.
        self.limits = limits
        self.phase = "connect"
        self.items = 0
        #: The current attempt runs on a pooled connection that was idle (not a fresh one).
        self.reused = False

    @property
    def url(self) -> str:
        """The current request's URL as it may be printed (credentials redacted)."""
        if self._url is None:
            self._url = self._request.safe_url if self._request is not None else ""
        return self._url

    def follow(self, request: PreparedRequest) -> None:
        """The call now sends ``request`` (a redirect hop, a bearer added)."""
        if request is not self._request:
            self._request = request
            self._url = None
            self.secrets = request.secrets

    def __enter__(self) -> ErrorMap:
        return self

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # cancellation and exits pass untouched
        if isinstance(exc, HttpStreamError):
            finish(exc, self.secrets)
            return False
        translated = self.translate(exc)
        if translated is None:
            return False  # not a failure of the network or the peer: a bug, shown as it is
        mapped = finish(translated, self.secrets)
        try:
            raise mapped
        finally:
            mapped.__context__ = None

    # -- the table ---------------------------------------------------------------

    def translate(self, exc: Exception) -> HttpStreamError | None:
        if isinstance(exc, TimeoutError):
            return self.timeout(exc)
        connecting = isinstance(exc, aiohttp.ClientConnectorError)
        tls = tls_error_for(exc, self.url, client_cert=self.limits.client_cert, after_handshake=not connecting)
        if tls is not None:
            return tls
        encoding = self._encoding_error(exc)
        return encoding if encoding is not None else self._request_error(exc)

    def _encoding_error(self, exc: Exception) -> HttpStreamError | None:
        """A compressed body cut short or corrupt."""
        if isinstance(exc, TruncatedEncoding):
            return StreamInterruptedError(
                f"the compressed body from {self.url} ended before its compressed stream did ({reason(exc)}) after "
                f"{self.items} item(s); the body is incomplete",
                self.items,
            )
        if isinstance(exc, (CorruptEncoding, zlib.error)):
            return StreamDecodeError(f"the body from {self.url} has a corrupt content encoding ({reason(exc)})")
        return None

    def _request_error(self, exc: Exception) -> HttpStreamError | None:
        """aiohttp's and the OS's failures (in this order: the most specific first)."""
        if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
            return self._proxy_error(exc)
        if isinstance(exc, UnusableProxy):
            return self._unusable_proxy(exc.proxy)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return StreamInterruptedError(
                f"could not connect to {self.url}: {reason(exc.os_error)}; is the server running and reachable?"
                f"{self._unused_proxy()}",
                0,
            )
        if isinstance(exc, aiohttp.InvalidURL):
            return TemplateError(f"invalid URL {self.url!r}")
        if isinstance(exc, aiohttp.ClientResponseError):  # malformed status line or headers
            return self._malformed(exc.message or type(exc).__name__)
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            return self.interrupted(exc)
        if isinstance(exc, (ValueError, UnicodeError)):  # aiohttp refusing a URL or header it was given
            return TemplateError(f"the request to {self.url} could not be made: {reason(exc)}")
        return None

    def _malformed(self, message: str) -> StreamInterruptedError:
        """A response head aiohttp's parser refused. Its words say which
        limit a head went past; any other refusal is quoted."""
        if message.startswith("Got more than"):
            problem = (f"a response header line longer than {MAX_HEADER_LINE} bytes, the most this client reads "
                       "(a huge cookie, Link or Content-Security-Policy header?)")
        elif message.startswith("Too many headers"):
            problem = "more response header fields than this client reads (a cookie per field?)"
        else:
            detail = printable_excerpt(message, 200)
            return StreamInterruptedError(f"the server at {self.url} sent a malformed HTTP response ({detail})", 0)
        return StreamInterruptedError(f"the server at {self.url} sent {problem}; it must send a smaller head", 0)

    def _proxy_error(self, exc: aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError) -> HttpStreamError:
        """The environment's proxy (``trust_env``) could not be reached, or
        refused to open the tunnel: said of the proxy, not of the tool's server."""
        found = env_proxy(self.url)
        proxy, variable = (found.url, found.variable) if found is not None else ("the proxy", proxy_variable(self.url))
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return StreamInterruptedError(
                f"could not connect to the proxy {proxy} that {variable} names for {self.url}: "
                f"{reason(exc.os_error)}; is the proxy running? Correct {variable}, add the host to NO_PROXY, or "
                "turn the trust_env client setting off",
                0,
            )
        if exc.status == 407:
            why = (f"wants credentials it was not given or did not accept; put them in {variable} as "
                   "http://user:password@host:port")
        else:
            host = urlsplit(self.url).netloc.rpartition("@")[2]  # past a redacted user-info
            why = f"would not open a tunnel to {host}; check the proxy's rules for this host, or add it to NO_PROXY"
        advice = f"the answer came from the proxy {proxy} ({variable}), not from the tool's server: the proxy {why}"
        return HttpStatusError(exc.status, printable_excerpt(exc.message or "", 100), self.url, advice)

    def _unusable_proxy(self, proxy: EnvProxy) -> StreamInterruptedError:
        """The environment's proxy for this URL is one aiohttp cannot speak to."""
        scheme = proxy.url.partition("://")[0]
        before = " (it comes before ALL_PROXY)" if proxy.variable.upper() == "ALL_PROXY" else ""
        return StreamInterruptedError(
            f"{proxy.variable} names the proxy {proxy.url} for {self.url}, which this client cannot use: "
            f"{_HTTP_PROXIES_ONLY}, not {scheme}://. Name an HTTP proxy in "
            f"{proxy_variable(self.url)}{before}, add the host to NO_PROXY, or turn the trust_env client setting off",
            0,
        )

    def interrupted(self, exc: BaseException) -> StreamInterruptedError:
        why = reason(exc)
        if self.phase == "body":
            return StreamInterruptedError(
                f"the stream from {self.url} was cut off after {self.items} item(s) before the body was complete "
                f"({why}); the items received so far were delivered, the partial one was dropped",
                self.items,
            )
        if self.reused:
            return StreamInterruptedError(
                f"the server at {self.url} closed a reused idle connection before answering ({why}); the request "
                "may or may not have been applied, so it was not sent again. Send an Idempotency-Key header to "
                "allow one resend, or lower keepalive_expiry below the server's keep-alive timeout",
                self.items,
            )
        return StreamInterruptedError(
            f"the connection to {self.url} closed before the response headers arrived ({why})", self.items
        )

    def token_timeout(self, token_url: str) -> StreamTimeoutError:
        """The call's deadline passed while it waited for its OAuth2 token."""
        return StreamTimeoutError(
            "total",
            f"the call to {self.url} exceeded timeout={self.limits.timeout_ms} ms waiting for an OAuth2 token: the "
            f"token endpoint {token_url} did not answer in time; raise timeout, or check the token endpoint",
        )

    def timeout(self, exc: BaseException) -> StreamTimeoutError:
        if self.expired() or (self.phase == "body" and not isinstance(exc, IdleTimeout)):
            if self.at is not None:
                when = "before the response headers arrived" if self.phase != "body" else f"after {self.items} item(s)"
                return StreamTimeoutError(
                    "total",
                    f"the call to {self.url} exceeded timeout={self.limits.timeout_ms} ms {when}; "
                    f"raise timeout, or set it to 0 for no overall limit{self._unused_proxy()}",
                )
        if self.phase == "pool":
            return StreamTimeoutError(
                "pool",
                f"no pooled connection for {self.url} became free in time: every one of the client's connections "
                "is busy; raise max_connections or pool_timeout (client settings), or make fewer calls at once",
            )
        if self.phase == "body":
            idle = self.limits.idle_ms
            field = "idle_timeout (defaults to timeout)" if self.limits.idle_from_timeout else "idle_timeout"
            return StreamTimeoutError(
                "idle",
                f"the stream from {self.url} sent nothing for {idle} ms after {self.items} item(s); "
                f"raise {field} for streams with long pauses",
            )
        waited = f"within connect_timeout={self.limits.connect_ms} ms"
        if self.reused:  # the request went out on an open connection: the server is slow to answer
            return StreamTimeoutError(
                "connect",
                f"the request to {self.url} went out on an open connection, but no response headers came "
                f"{waited}; a tool that works out its whole answer before sending anything needs a larger "
                f"connect_timeout{self._connect_setting()}",
            )
        return StreamTimeoutError(
            "connect",
            f"no response headers from {self.url} {waited}: either no connection could be made in that time (is "
            "the server up and reachable?), or the server takes longer to start answering (raise connect_timeout"
            f"{self._connect_setting()}){self._unused_proxy()}",
        )

    def _connect_setting(self) -> str:
        """Where the header wait is raised: the template that set it, or (for
        a template that set none, a manual the user may not own) the client."""
        if self.limits.connect_from_settings:
            return (f" on the call template, or the client setting connect_timeout ({ENV_PREFIX}CONNECT_TIMEOUT), "
                    "which applies to every template that sets none")
        return " on the call template"

    def _unused_proxy(self) -> str:
        """Advice for a call that went direct although the environment names a
        proxy for it: behind a proxy, a direct connection fails or hangs."""
        found = None if self.limits.trust_env or self.phase != "connect" else env_proxy(self.url)
        if found is None:
            return ""
        if not found.speaks_http:  # trust_env would not help: say what would
            return (f"; {found.variable} names the proxy {found.url}, which this client cannot use "
                    f"({_HTTP_PROXIES_ONLY})")
        return (f"; {found.variable} names the proxy {found.url}, which this client does not use unless the "
                f"trust_env client setting is on ({ENV_PREFIX}TRUST_ENV=1)")
