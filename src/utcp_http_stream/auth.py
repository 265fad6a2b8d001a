"""Credentials: applying API keys and Basic auth to a request, keeping secrets
out of ``repr()``, and the process-wide OAuth2 token cache.

The cache does no I/O itself: the transport hands it a ``fetch`` coroutine.
That keeps the single-flight and expiry rules testable and lets the token
request go through the same URL policy and connection pool as every call.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from utcp.data.auth import Auth
from utcp.data.auth_implementations import ApiKeyAuth, BasicAuth, OAuth2Auth

__all__ = [
    "EXPIRY_MARGIN_S",
    "TOKEN_CACHE",
    "CachedToken",
    "TokenCache",
    "auth_secrets",
    "basic_header",
    "redacting_auth",
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


TokenFetcher = Callable[[OAuth2Auth], Awaitable[dict[str, Any]]]


class TokenCache:
    """OAuth2 client-credentials tokens, shared by every protocol instance.

    Keyed by ``OAuth2Auth.cache_key()`` (token URL, client id, secret, scope),
    so configurations that share a client id never see each other's token.
    Single flight: concurrent callers needing the same token await one fetch.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._inflight: dict[str, asyncio.Future[CachedToken]] = {}
        self._clock = clock

    def __repr__(self) -> str:  # the keys embed secrets
        return f"<TokenCache tokens={len(self._tokens)}>"

    def clear(self) -> None:
        self._tokens.clear()

    async def get(self, auth: OAuth2Auth, fetch: TokenFetcher) -> CachedToken:
        """A fresh token for ``auth``, fetching it (once, for all waiters) if needed."""
        key = auth.cache_key()
        while True:
            token = self._tokens.get(key)
            if token is not None and token.fresh(self._clock()):
                return token
            pending = self._inflight.get(key)
            if pending is None:
                return await self._lead(key, auth, fetch)
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    continue  # the leader was cancelled, not us: try again
                raise

    async def _lead(self, key: str, auth: OAuth2Auth, fetch: TokenFetcher) -> CachedToken:
        pending: asyncio.Future[CachedToken] = asyncio.get_running_loop().create_future()
        self._inflight[key] = pending
        try:
            token = self._parse(await fetch(auth))
        except asyncio.CancelledError:
            pending.cancel()
            raise
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # mark retrieved: there may be no waiter
            raise
        finally:
            self._inflight.pop(key, None)
        self._tokens[key] = token
        pending.set_result(token)
        return token

    def invalidate(self, auth: OAuth2Auth, token: CachedToken) -> None:
        """Drop ``token`` if it is still the cached one (a server rejected it)."""
        key = auth.cache_key()
        if self._tokens.get(key) is token:
            del self._tokens[key]

    def _parse(self, payload: dict[str, Any]) -> CachedToken:
        access = payload.get("access_token")
        if not isinstance(access, str) or not access:
            from utcp_http_stream.errors import AuthError

            raise AuthError("token endpoint answered without an access_token")
        refresh_at = None
        expires_in = payload.get("expires_in")
        if isinstance(expires_in, str) and expires_in.strip().isdigit():
            expires_in = int(expires_in)
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            # Refresh a little early, but never treat a short-lived token as
            # already expired: keep at least half its lifetime.
            margin = min(EXPIRY_MARGIN_S, expires_in / 2)
            refresh_at = self._clock() + max(0.0, expires_in - margin)
        token_type = payload.get("token_type")
        return CachedToken(access, token_type if isinstance(token_type, str) and token_type else "Bearer", refresh_at)


#: The process-wide cache (credentials are process-wide, connections are not).
TOKEN_CACHE = TokenCache()
