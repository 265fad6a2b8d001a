"""The OAuth2 client-credentials token request (the I/O half of auth).

The cache, single flight and expiry rules live in :mod:`utcp_http_stream.auth`;
this module only asks a token endpoint, through the same connection pool and
URL policy as every tool call, and turns refusals into ``AuthError`` without
ever repeating the secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from utcp.data.auth_implementations import OAuth2Auth

from utcp_http_stream.auth import auth_secrets, basic_header
from utcp_http_stream.errors import AuthError, InsecureUrlError
from utcp_http_stream.security import check_url, printable_excerpt, redact_text, redact_url
from utcp_http_stream.transport.body import reason
from utcp_http_stream.transport.guard import connecting

__all__ = ["fetch_token"]

logger = logging.getLogger(__name__)

_TOKEN_TIMEOUT_S = 30.0


async def fetch_token(session: aiohttp.ClientSession, auth: OAuth2Auth) -> dict[str, Any]:
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
    status, payload, text = await _post_token(session, auth.token_url, form, {}, safe_url)
    if status in (400, 401, 403):
        logger.info("token endpoint %s refused body credentials (HTTP %s); retrying with Basic", safe_url, status)
        basic_form = {"grant_type": "client_credentials"}
        if auth.scope:
            basic_form["scope"] = auth.scope
        headers = {"Authorization": basic_header(auth.client_id, auth.client_secret)}
        status, payload, text = await _post_token(session, auth.token_url, basic_form, headers, safe_url)
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
    session: aiohttp.ClientSession, url: str, form: dict[str, str], headers: dict[str, str], safe_url: str
) -> tuple[int, Any, str]:
    try:
        with connecting(url):
            async with session.post(
                url,
                data=form,
                headers={"Accept": "application/json", **headers},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=_TOKEN_TIMEOUT_S),
            ) as response:
                body = await response.content.read(64 * 1024)
                status = response.status
    except InsecureUrlError as exc:
        raise AuthError(str(exc)) from None
    except TimeoutError:
        raise AuthError(f"token endpoint {safe_url} did not answer within {_TOKEN_TIMEOUT_S:.0f} s") from None
    except aiohttp.ClientError as exc:
        raise AuthError(f"could not reach token endpoint {safe_url}: {reason(exc)}") from None
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = None
    return status, payload, text
