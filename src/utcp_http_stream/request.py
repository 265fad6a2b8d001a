"""Template + arguments -> a prepared request. Pure: no I/O, no aiohttp.

Mapping order (ARCHITECTURE section 2): path placeholders (percent-encoded,
``/`` included), then ``body_field``, then ``header_fields``; every remaining
argument becomes a query parameter. Everything a server will see is checked
here, before a byte is sent: header bytes, unresolved ``${VAR}`` placeholders,
the URL policy.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from utcp.data.auth_implementations import ApiKeyAuth, BasicAuth, OAuth2Auth

from utcp_http_stream.auth import auth_secrets, basic_header
from utcp_http_stream.decoders.framing import accept_header_for
from utcp_http_stream.errors import InsecureUrlError, TemplateError
from utcp_http_stream.security import check_header, check_url, is_loopback_host, origin_of, redact_url
from utcp_http_stream.template import StreamableHttpCallTemplate

__all__ = ["PreparedRequest", "build_request", "find_unresolved", "redirect_request", "variable_name_to_set"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}/?#]*)\}")
_UNRESOLVED = re.compile(r"\$\{([^}]*)\}")
_FORM = "application/x-www-form-urlencoded"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$&'()*+,;=-._~"


@dataclass(slots=True)
class PreparedRequest:
    """Everything needed to send one request, already validated.

    ``secrets`` are values to scrub from any text shown to people;
    ``credential_headers`` / ``credential_query`` name what must be dropped
    when a redirect leaves the origin.
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    credential_headers: frozenset[str] = frozenset()
    credential_query: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"<PreparedRequest {self.method} {self.safe_url}>"

    @property
    def safe_url(self) -> str:
        return redact_url(self.url, self.credential_query)

    def with_header(self, name: str, value: str) -> PreparedRequest:
        """A copy with ``name`` set to ``value`` (any same-named header replaced)."""
        lower = name.lower()
        headers = {k: v for k, v in self.headers.items() if k.lower() != lower}
        headers[name] = value
        return replace(self, headers=headers)


def variable_name_to_set(variable: str, namespace: str | None) -> str:
    """The name UtcpClient looks up for ``${variable}`` in manual ``namespace``."""
    if not namespace:
        return variable
    return namespace.replace("_", "__") + "_" + variable


def find_unresolved(value: Any) -> str | None:
    """The first ``${NAME}`` left in a string, dict or list, or None."""
    if isinstance(value, str):
        if "${" not in value:  # the common case, without the regex
            return None
        match = _UNRESOLVED.search(value)
        return match.group(1) if match else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_unresolved(key) or find_unresolved(item)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for item in value:
            found = find_unresolved(item)
            if found is not None:
                return found
    return None


def _refuse_unresolved(where: str, value: Any, namespace: str | None) -> None:
    name = find_unresolved(value)
    if name is not None:
        raise TemplateError(
            f"{where} still contains the placeholder ${{{name}}}: the variable was never resolved, so the "
            f"request was not sent. Set {variable_name_to_set(name, namespace)} in the environment, a .env "
            "file loaded by the client, or the client config's variables."
        )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _path_segment(name: str, value: Any) -> str:
    if value is None:
        raise TemplateError(f"path parameter {name!r} is None; it needs a value")
    text = _scalar(value)
    if text == "":
        raise TemplateError(f"path parameter {name!r} is empty; an empty path segment would change the route")
    encoded = quote(text, safe="")
    if encoded in (".", ".."):
        # A bare dot segment would be collapsed by URL normalisation and move
        # the request to another route: send it percent-encoded.
        encoded = encoded.replace(".", "%2E")
    return encoded


def _query_pairs(args: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in args.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((key, _scalar(item)) for item in value if item is not None)
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _encode_body(value: Any, content_type: str) -> tuple[bytes, str]:
    """The body bytes and the Content-Type to send with them."""
    media = content_type.split(";", 1)[0].strip().lower()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), content_type
    if isinstance(value, str):
        return value.encode("utf-8"), content_type
    if media == _FORM:
        if isinstance(value, Mapping):
            return urlencode(_query_pairs(value), quote_via=quote).encode("ascii"), content_type
        raise TemplateError(
            f"content_type is {_FORM} but the body is a {type(value).__name__}; form bodies must be objects"
        )
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # A JSON body under the generic default type is labelled as what it is.
    if media == "application/octet-stream":
        content_type = "application/json"
    return body, content_type


def build_request(
    template: StreamableHttpCallTemplate,
    args: Mapping[str, Any] | None = None,
    *,
    variable_namespace: str | None = None,
) -> PreparedRequest:
    """Map ``args`` onto ``template`` and validate the result.

    Raises ``TemplateError`` for a missing path parameter, an unresolved
    ``${VAR}`` or bad header bytes, and ``InsecureUrlError`` for a URL the
    policy refuses. ``variable_namespace`` (the manual name) only makes the
    unresolved-variable message name the exact variable to set.
    """
    remaining = dict(args or {})

    _refuse_unresolved("url", template.url, variable_namespace)
    _refuse_unresolved("headers", template.headers, variable_namespace)
    if template.auth is not None:
        # The auth models hold only flat string fields: scan them without a model_dump().
        _refuse_unresolved(f"auth ({template.auth.auth_type})", list(vars(template.auth).values()), variable_namespace)

    # 1. path placeholders
    base, _, template_query = template.url.partition("?")
    missing = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in remaining:
            missing.append(name)
            return match.group(0)
        return _path_segment(name, remaining.pop(name))

    base = _PLACEHOLDER.sub(fill, base)
    template_query = _PLACEHOLDER.sub(fill, template_query)
    if missing:
        raise TemplateError(
            f"missing path parameter{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"for url {redact_url(template.url)!r}; pass {'them' if len(missing) > 1 else 'it'} as tool arguments"
        )

    # 2. body
    body: bytes | None = None
    headers: dict[str, str] = {}
    if template.body_field is not None and template.body_field in remaining:
        value = remaining.pop(template.body_field)
        if value is not None:
            body, content_type = _encode_body(value, template.content_type)
            headers["Content-Type"] = content_type

    # static headers, then 3. header_fields
    for name, value in (template.headers or {}).items():
        headers[name] = value
    for name in template.header_fields or ():
        if name in remaining:
            value = remaining.pop(name)
            if value is not None:
                headers[name] = _scalar(value)

    # 4. everything else is query
    pairs = _query_pairs(remaining)

    credential_headers: set[str] = set()
    credential_query: set[str] = set()
    auth = template.auth
    if isinstance(auth, ApiKeyAuth):
        if auth.location == "header":
            headers[auth.var_name] = auth.api_key
            credential_headers.add(auth.var_name.lower())
        elif auth.location == "query":
            pairs = [(k, v) for k, v in pairs if k != auth.var_name]
            pairs.append((auth.var_name, auth.api_key))
            credential_query.add(auth.var_name)
        else:
            cookie = f"{auth.var_name}={auth.api_key}"
            existing = _get_header(headers, "Cookie")
            headers[_header_key(headers, "Cookie")] = f"{existing}; {cookie}" if existing else cookie
            credential_headers.add("cookie")
    elif isinstance(auth, BasicAuth):
        headers[_header_key(headers, "Authorization")] = basic_header(auth.username, auth.password)
        credential_headers.add("authorization")
    elif isinstance(auth, OAuth2Auth):
        credential_headers.add("authorization")  # the transport adds the bearer token

    if _get_header(headers, "Accept") is None:
        headers["Accept"] = accept_header_for(template.stream_format)

    for name, value in headers.items():
        check_header(name, value)

    query = template_query
    if pairs:
        extra = urlencode(pairs, quote_via=quote)
        query = f"{query}&{extra}" if query else extra
    url = base + ("?" + query if query else "")

    parts = urlsplit(url)
    # Percent-encode what the template author left raw (spaces, non-ASCII,
    # control bytes): the URL goes on the request line as it is. Existing
    # %XX escapes, including the encoded path parameters, are kept.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    url = urlunsplit((parts.scheme.lower(), parts.netloc, path, query, ""))
    check_url(url, what="tool URL")
    return PreparedRequest(
        method=template.http_method,
        url=url,
        headers=headers,
        body=body,
        # Static header values may be credentials too; scrub them from any
        # error text a server echoes back.
        secrets=auth_secrets(auth) + tuple(v for v in (template.headers or {}).values() if len(v) >= 6),
        credential_headers=frozenset(credential_headers),
        credential_query=frozenset(credential_query),
    )


def _header_key(headers: Mapping[str, str], name: str) -> str:
    lower = name.lower()
    for key in headers:
        if key.lower() == lower:
            return key
    return name


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


#: Headers that never cross an origin, whatever the auth kind.
_ALWAYS_PRIVATE = frozenset({"authorization", "cookie", "proxy-authorization"})


def redirect_request(request: PreparedRequest, status: int, location: str) -> PreparedRequest:
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
