"""Credentials: applying API keys and Basic auth to a request, keeping secrets
out of ``repr()``, and the process-wide OAuth2 token cache.

The cache does no I/O itself: the transport hands it a ``fetch`` coroutine.
That keeps the single-flight and expiry rules testable and lets the token
request go through the same URL policy and connection pool as every call.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from utcp.data.auth import Auth
from utcp.data.auth_implementations import ApiKeyAuth, BasicAuth, OAuth2Auth

from utcp_http_stream.security import printable_excerpt

__all__ = [
    "EXPIRY_MARGIN_S",
    "TOKEN_CACHE",
    "CachedToken",
    "TokenCache",
    "auth_secrets",
    "basic_header",
    "parse_token",
    "redacting_auth",
    "token_request_body",
]

#: A token is refreshed this long before its ``expires_in`` runs out, so a
#: request never leaves with a token that dies in flight.
EXPIRY_MARGIN_S = 30.0

_MASK = "***"


class _RedactedApiKeyAuth(ApiKeyAuth):
    def __repr_name__(self) -> str:
        return "ApiKeyAuth"

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, (_MASK if key == "api_key" else value)


class _RedactedBasicAuth(BasicAuth):
    def __repr_name__(self) -> str:
        return "BasicAuth"

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, (_MASK if key == "password" else value)


class _RedactedOAuth2Auth(OAuth2Auth):
    def __repr_name__(self) -> str:
        return "OAuth2Auth"

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, (_MASK if key == "client_secret" else value)


_REDACTING = {ApiKeyAuth: _RedactedApiKeyAuth, BasicAuth: _RedactedBasicAuth, OAuth2Auth: _RedactedOAuth2Auth}


def redacting_auth(auth: Auth | None) -> Auth | None:
    """The same auth, as a subclass whose ``repr()``/``str()`` masks the secret.

    Serialization (``model_dump``) and ``isinstance`` checks are unchanged.
    """
    if auth is None:
        return None
    cls = _REDACTING.get(type(auth))
    if cls is None:
        return auth
    return cls.model_validate(auth.model_dump())


def auth_secrets(auth: Auth | None) -> tuple[str, ...]:
    """The secret values of an auth, to scrub from any text we show."""
    if isinstance(auth, ApiKeyAuth):
        return (auth.api_key,)
    if isinstance(auth, BasicAuth):
        return (auth.password, _basic_token(auth.username, auth.password))
    if isinstance(auth, OAuth2Auth):
        return (auth.client_secret, _basic_token(auth.client_id, auth.client_secret))
    return ()


def _basic_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic."""
    return "Basic " + _basic_token(user, password)


@dataclass(slots=True)
class CachedToken:
    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    #: monotonic deadline after which the token is refreshed; None = until rejected
    refresh_at: float | None = None

    def fresh(self, now: float) -> bool:
        return self.refresh_at is None or now < self.refresh_at

    def header(self) -> str:
        kind = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{kind} {self.access_token}"


#: A token endpoint's parsed JSON answer, fetched by the transport.
TokenFetcher = Callable[[OAuth2Auth], Awaitable[dict[str, Any]]]

#: Longest ``expires_in`` taken at its word (ten years); beyond it, or not a
#: finite number, the answer is refused rather than trusted.
MAX_EXPIRES_IN_S = 10 * 365 * 24 * 3600.0


def token_request_body(auth: OAuth2Auth, *, basic: bool) -> tuple[dict[str, str], bytes]:
    """The client-credentials token request: headers and form body. With
    ``basic`` the credentials go in an ``Authorization: Basic`` header, else
    in the form body (RFC 6749 section 2.3.1 allows both; servers differ)."""
    form = {"grant_type": "client_credentials"}
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = basic_header(auth.client_id, auth.client_secret)
    else:
        form["client_id"] = auth.client_id
        form["client_secret"] = auth.client_secret
    if auth.scope:
        form["scope"] = auth.scope
    return headers, urlencode(form).encode("ascii")


def parse_token(payload: Any, now: float) -> CachedToken:
    """A token endpoint's JSON answer -> ``CachedToken``, or ``AuthError``
    for anything that could not be sent safely (control characters in the
    token, an absurd ``expires_in``)."""
    from utcp_http_stream.errors import AuthError

    if not isinstance(payload, dict):
        raise AuthError("token endpoint answered with something other than a JSON object")
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthError("token endpoint answered without an access_token")
    if not access.isprintable() or " " in access:
        raise AuthError(
            "token endpoint answered with an access_token containing control characters or spaces; "
            "it cannot be sent in a header"
        )
    return CachedToken(access, _token_type(payload.get("token_type")), _refresh_at(payload.get("expires_in"), now))


def _token_type(token_type: Any) -> str:
    """The answer's ``token_type`` (``Bearer`` when absent), checked."""
    from utcp_http_stream.errors import AuthError

    if not isinstance(token_type, str) or not token_type:
        return "Bearer"
    if not token_type.isprintable() or not token_type.isascii() or " " in token_type:
        raise AuthError("token endpoint answered with a token_type that cannot be sent in a header")
    return token_type


def _refresh_at(expires_in: Any, now: float) -> float | None:
    from utcp_http_stream.errors import AuthError

    if expires_in is None:
        return None
    if isinstance(expires_in, str):
        text = expires_in.strip()
        # ASCII digits only (int() also reads other scripts' digits and
        # refuses "²"), and not so many that int() itself refuses them.
        if text.isascii() and text.isdigit():
            expires_in = int(text) if len(text) < 20 else math.inf
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise AuthError(f"token endpoint answered with expires_in={printable_excerpt(repr(expires_in), 40)}, "
                        "which is not a number of seconds")
    # A plain comparison: it refuses NaN and infinities, and unlike
    # math.isfinite() it cannot overflow on a huge JSON integer.
    if not 0 <= expires_in <= MAX_EXPIRES_IN_S:
        raise AuthError(f"token endpoint answered with expires_in={printable_excerpt(repr(expires_in), 40)}, "
                        "which is not a sensible lifetime in seconds")
    # Refresh a little early, but never treat a short-lived token as already
    # expired: keep at least half its lifetime.
    margin = min(EXPIRY_MARGIN_S, expires_in / 2)
    return now + max(0.0, expires_in - margin)


class TokenCache:
    """OAuth2 client-credentials tokens, shared by every protocol instance.

    Keyed by ``OAuth2Auth.cache_key()`` (token URL, client id, secret, scope),
    so configurations that share a client id never see each other's token.
    Single flight per event loop: concurrent callers needing the same token
    await one fetch, each under its own call's deadline (an impatient caller
    gives up alone; the fetch goes on for the others). Tokens are plain data,
    usable from any loop; the clock is injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._inflight: dict[tuple[int, str], asyncio.Task[CachedToken]] = {}
        self._clock = clock

    def __repr__(self) -> str:  # the keys embed secrets
        return f"<TokenCache tokens={len(self._tokens)}>"

    def clear(self) -> None:
        self._tokens.clear()

    def cached(self, auth: OAuth2Auth) -> CachedToken | None:
        """The fresh cached token for ``auth``, if there is one (no waiting)."""
        token = self._tokens.get(auth.cache_key())
        return token if token is not None and token.fresh(self._clock()) else None

    async def get(self, auth: OAuth2Auth, fetch: TokenFetcher, wait_s: float | None = None) -> CachedToken:
        """A fresh token for ``auth``, fetching it (once, for all waiters) if
        needed. ``wait_s`` bounds this caller's wait only (``TimeoutError``)."""
        token = self.cached(auth)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        key = auth.cache_key()
        flight = (id(loop), key)
        task = self._inflight.get(flight)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._fetch(key, auth, fetch))
            self._inflight[flight] = task
            task.add_done_callback(functools.partial(self._landed, flight))
        async with asyncio.timeout(wait_s):
            return await asyncio.shield(task)

    async def _fetch(self, key: str, auth: OAuth2Auth, fetch: TokenFetcher) -> CachedToken:
        token = parse_token(await fetch(auth), self._clock())
        self._tokens[key] = token
        return token

    def _landed(self, flight: tuple[int, str], task: asyncio.Task[CachedToken]) -> None:
        if self._inflight.get(flight) is task:
            del self._inflight[flight]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have given up already

    def invalidate(self, auth: OAuth2Auth, token: CachedToken) -> None:
        """Drop ``token`` if it is still the cached one (a server rejected it)."""
        key = auth.cache_key()
        if self._tokens.get(key) is token:
            del self._tokens[key]


#: The process-wide cache (credentials are process-wide, connections are not).
TOKEN_CACHE = TokenCache()
