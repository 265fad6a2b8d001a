"""The OAuth2 client-credentials token request (the I/O half of auth).

The request's shape, the answer's validation, the cache and single flight
live in :mod:`utcp_http_stream.auth`; this module only asks the token
endpoint through the client's send path (``send``), form credentials first
and once more with HTTP Basic if refused, and turns refusals into
``AuthError`` without ever repeating the secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from utcp.data.auth_implementations import OAuth2Auth

from utcp_http_stream.auth import auth_secrets, token_request_body
from utcp_http_stream.errors import AuthError, HttpStreamError, InsecureUrlError, StreamTimeoutError
from utcp_http_stream.request import PreparedRequest
from utcp_http_stream.security import check_url, printable_excerpt, redact_text, redact_url

__all__ = ["fetch_token"]

logger = logging.getLogger(__name__)

Send = Callable[[PreparedRequest], Awaitable[tuple[int, bytes]]]


async def fetch_token(auth: OAuth2Auth, send: Send) -> dict[str, Any]:
    """Client credentials grant: the token endpoint's JSON answer."""
    try:
        check_url(auth.token_url, what="OAuth2 token_url")
    except InsecureUrlError as exc:
        raise AuthError(str(exc)) from None
    secrets = auth_secrets(auth)
    safe_url = redact_url(auth.token_url)
    status, body = await _ask(auth, send, secrets, safe_url, basic=False)
    if status in (400, 401, 403):
        logger.info("token endpoint %s refused body credentials (HTTP %s); retrying with Basic", safe_url, status)
        status, body = await _ask(auth, send, secrets, safe_url, basic=True)
    return _answer(auth, status, body, secrets, safe_url)


def _answer(auth: OAuth2Auth, status: int, body: bytes, secrets: tuple[str, ...], safe_url: str) -> dict[str, Any]:
    """The token endpoint's JSON object on a 2xx; else an ``AuthError``
    quoting its OAuth2 error (or its body), secrets masked."""
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if 200 <= status < 300 and isinstance(payload, dict):
        return payload
    if isinstance(payload, dict) and ("error" in payload or "error_description" in payload):
        text = " ".join(str(payload.get(k, "")) for k in ("error", "error_description")).strip()
    detail = printable_excerpt(redact_text(text, secrets), 200)
    refused = f"token endpoint {safe_url} refused client {auth.client_id!r}: HTTP {status}"
    raise AuthError(refused + (f": {detail}" if detail else ""))


async def _ask(
    auth: OAuth2Auth, send: Send, secrets: tuple[str, ...], safe_url: str, *, basic: bool
) -> tuple[int, bytes]:
    headers, body = token_request_body(auth, basic=basic)
    request = PreparedRequest("POST", auth.token_url, headers, body, secrets=secrets)
    try:
        return await send(request)
    except StreamTimeoutError as exc:
        raise AuthError(f"token endpoint {safe_url} did not answer in time: {exc}") from None
    except HttpStreamError as exc:
        raise AuthError(f"could not reach token endpoint {safe_url}: {exc}") from None
