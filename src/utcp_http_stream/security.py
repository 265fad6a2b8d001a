"""The security policy, in one place: which URLs may be contacted, which header
bytes may be sent, and how secrets are kept out of messages and logs.

Rules (ARCHITECTURE section 6): HTTPS everywhere; plain HTTP only to loopback
(``localhost``, 127.0.0.0/8, ``::1``). A manual fetched from a non-loopback
origin may not name loopback tool URLs, and a redirect may not lead from a
non-loopback origin to loopback. Credentials never cross origins.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from utcp_http_stream.errors import InsecureUrlError, TemplateError

__all__ = [
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY_KEYS",
    "Origin",
    "check_header",
    "check_url",
    "is_loopback_host",
    "origin_of",
    "printable_excerpt",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED = "***"

#: Header names whose values are credentials (lower case).
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
    }
)

#: Query parameter names whose values are credentials (lower case).
SENSITIVE_QUERY_KEYS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "token",
        "auth",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "sig",
        "signature",
        "code",
        "refresh_token",
        "id_token",
    }
)

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_HEADER_CHARS = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


@functools.lru_cache(maxsize=1024)
def is_loopback_host(host: str | None) -> bool:
    """True only for ``localhost`` and literal loopback addresses.

    ``localhost.evil.example`` or ``127.0.0.1.nip.io`` are names anyone can
    point anywhere, so they are not loopback.
    """
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def origin_of(url: str) -> Origin:
    """(scheme, host, port) with the default port filled in, for origin comparison."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return Origin(scheme, (parts.hostname or "").lower(), port)


def check_url(url: str, *, loopback_allowed: bool = True, what: str = "URL") -> str:
    """Refuse a URL this plugin may not contact; return it unchanged otherwise.

    ``loopback_allowed=False`` is used for URLs that came from a non-loopback
    origin (a discovered manual, a redirect), so a remote server cannot steer
    the client at the local machine.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise InsecureUrlError(f"{what} {redact_url(url)!r} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InsecureUrlError(f"{what} {redact_url(url)!r} is not an absolute http(s) URL")
    loopback = is_loopback_host(host)
    if loopback and not loopback_allowed:
        raise InsecureUrlError(
            f"{what} {redact_url(url)!r} points at this machine (loopback) but came from a "
            "non-loopback origin; a remote manual or redirect may not target local services"
        )
    if scheme == "http" and not loopback:
        raise InsecureUrlError(
            f"{what} {redact_url(url)!r} uses plain http to a non-loopback host; use https:// "
            "(plain http is allowed only to localhost, 127.0.0.0/8 and ::1)"
        )
    return url


def check_header(name: str, value: str) -> None:
    """Refuse header bytes that could split or smuggle a request."""
    if not _HEADER_NAME.match(name):
        shown = _CONTROL.sub("?", name)[:60]
        raise TemplateError(f"header name {shown!r} is not a valid HTTP token (letters, digits, !#$%&'*+-.^_`|~)")
    if _FORBIDDEN_HEADER_CHARS.search(value):
        raise TemplateError(f"header {name!r} contains CR, LF or NUL; refusing to send it (header injection)")


def redact_url(url: str, extra_keys: Iterable[str] = ()) -> str:
    """The URL with user-info removed and credential query values masked.

    ``extra_keys`` names more query parameters to mask (an API key's
    ``var_name``). Never raises: a URL too broken to parse is cut to its
    scheme and host-ish prefix.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("@")[-1]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        sensitive = SENSITIVE_QUERY_KEYS | {k.lower() for k in extra_keys}
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in sensitive for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k.lower() in sensitive else v) for k, v in pairs], quote_via=quote, safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy of the headers with credential values masked."""
    sensitive = SENSITIVE_HEADERS | {n.lower() for n in extra_names}
    return {k: (REDACTED if k.lower() in sensitive else v) for k, v in headers.items()}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of each known secret value in free text (a server
    may echo a key back in an error body)."""
    for secret in secrets:
        if secret and len(secret) >= 3 and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def printable_excerpt(data: bytes | str, limit: int = 300, encoding: str = "utf-8") -> str:
    """A short, single-line, control-character-free excerpt for error messages."""
    if isinstance(data, bytes):
        cut = len(data) > limit
        text = data[:limit].decode(encoding, errors="replace")
    else:
        cut = len(data) > limit
        text = data[:limit]
    text = _CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " ").replace("\t", " ")).strip()
    text = re.sub(r" {2,}", " ", text)
    return text + ("…" if cut else "")
