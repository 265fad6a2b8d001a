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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from utcp.data.auth_implementations import ApiKeyAuth, BasicAuth, OAuth2Auth

from utcp_http_stream.auth import auth_secrets, basic_header
from utcp_http_stream.decoders.framing import accept_header_for
from utcp_http_stream.errors import InsecureUrlError, TemplateError
from utcp_http_stream.placeholders import find_unresolved, unresolved_advice, variable_name_to_set
from utcp_http_stream.security import (
    PUBLIC_HEADERS,
    SENSITIVE_HEADERS,
    canonical_netloc,
    check_header,
    check_url,
    has_variable,
    is_loopback_host,
    origin_of,
    redact_text,
    redact_url,
    secret_forms,
    variable_values,
)
from utcp_http_stream.template import StreamableHttpCallTemplate

__all__ = ["PreparedRequest", "build_request", "find_unresolved", "redirect_request", "variable_name_to_set"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}/?#]*)\}")
_FORM = "application/x-www-form-urlencoded"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$&'()*+,;=-._~"
#: How a boolean argument is written (JSON's spelling).
_BOOL_TEXT = {True: "true", False: "false"}
#: A body sent as it is (a tuple: ``bytes | bytearray | memoryview`` in an
#: ``isinstance`` makes a union object on every call).
_BINARY = (bytes, bytearray, memoryview)
#: What ``quote(text, safe="")`` leaves as it is (RFC 3986 unreserved).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
#: Compact JSON, as ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``
#: writes it, with the encoder made once rather than per call.
_JSON_BODY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_JSON_TEXT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


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
        """The URL as it may be printed: no user-info, credential query
        values and every known secret masked."""
        return redact_text(redact_url(self.url, self.credential_query), self.secrets)

    def has_header(self, name: str) -> bool:
        lower = name.lower()
        return any(key.lower() == lower for key in self.headers)

    def with_headers(self, extra: Mapping[str, str]) -> PreparedRequest:
        """A copy with every header of ``extra`` set (itself when ``extra`` is empty)."""
        request = self
        for name, value in extra.items():
            request = request.with_header(name, value)
        return request

    def with_header(self, name: str, value: str) -> PreparedRequest:
        """A copy with ``name`` set to ``value`` (any same-named header replaced)."""
        lower = name.lower()
        headers = {k: v for k, v in self.headers.items() if k.lower() != lower}
        headers[name] = value
        return replace(self, headers=headers)


def _refuse_unresolved(where: str, value: Any, namespace: str | None) -> None:
    name = find_unresolved(value)
    if name is not None:
        raise TemplateError(
            f"{where} still contains the placeholder ${{{name}}}: the variable was never resolved, so the "
            f"request was not sent. {unresolved_advice(name, namespace)}"
        )


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _BOOL_TEXT[value]
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return _structured_text(value)


def _structured_text(value: Any) -> str:
    """:func:`_scalar` of anything but a string, boolean or number: bytes
    as UTF-8 text, anything else as compact JSON."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return _JSON_TEXT.encode(value)


def _quote(text: str) -> str:
    """``quote(text, safe="")``: a text with nothing to escape (most
    arguments: names, numbers, words) is answered by a string method or one
    match instead of a byte-by-byte pass."""
    if text.isalnum() and text.isascii():
        return text
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def _urlencode(pairs: list[tuple[str, str]]) -> str:
    """``urlencode(pairs, quote_via=quote)`` for text pairs."""
    return "&".join([f"{_quote(key)}={_quote(value)}" for key, value in pairs])


def _path_segment(name: str, value: Any) -> str:
    if value is None:
        raise TemplateError(f"path parameter {name!r} is None; it needs a value")
    text = _scalar(value)
    if text == "":
        raise TemplateError(f"path parameter {name!r} is empty; an empty path segment would change the route")
    encoded = _quote(text)
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
        name = str(key)  # a caller's mapping may have other keys than text: written as urlencode() would
        if isinstance(value, (list, tuple)):
            pairs.extend((name, _scalar(item)) for item in value if item is not None)
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _encode_body(value: Any, content_type: str) -> tuple[bytes, str]:
    """The body bytes and the Content-Type to send with them."""
    if isinstance(value, _BINARY):
        return bytes(value), content_type
    if isinstance(value, str):
        return value.encode("utf-8"), content_type
    media = content_type.split(";", 1)[0].strip().lower()
    if media == _FORM:
        return _form_body(value), content_type
    body = _JSON_BODY.encode(value).encode("utf-8")
    # A JSON body under the generic default type is labelled as what it is.
    if media == "application/octet-stream":
        content_type = "application/json"
    return body, content_type


def _form_body(value: Any) -> bytes:
    """An ``application/x-www-form-urlencoded`` body: an object's fields,
    like query parameters."""
    if isinstance(value, Mapping):
        return _urlencode(_query_pairs(value)).encode("ascii")
    raise TemplateError(
        f"content_type is {_FORM} but the body is a {type(value).__name__}; form bodies must be objects"
    )


#: How a template's auth adds its credential (name, value) to a request:
#: called with them, the headers so far and the arguments left for the query
#: (both changed in place).
_AddAuth = Callable[[str, str, dict[str, str], dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Everything about a request that depends only on the template, checked
    once: the URL split around its placeholders (literal parts already
    percent-normalised, the origin already checked), the static headers
    (already guarded), the auth material and the secrets to scrub."""

    origin: str
    path: tuple[str, ...]  # literal, name, literal, name, ..., literal
    query: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    accept: str | None  # added when no Accept header is set, None when static headers set one
    auth: tuple[_AddAuth, str, str] | None  # (how, name, value): API key or Basic; None: nothing to add
    secrets: tuple[str, ...]
    credential_headers: frozenset[str]
    credential_query: frozenset[str]
    #: The URL and headers of the request made with no arguments (what
    #: :func:`_assemble` makes of ``{}``, worked out once); None when the URL
    #: has placeholders, which then need arguments.
    bare: tuple[str, dict[str, str]] | None = None


# What a template's auth adds to every request: ((how, name, value) of its
# credential, credential header names, credential query names).
_AuthParts = tuple[tuple[_AddAuth, str, str] | None, set[str], frozenset[str]]

_COMPILED: dict[tuple[Any, ...], _Compiled] = {}
_COMPILED_MAX = 512


def _compiled(template: StreamableHttpCallTemplate, namespace: str | None, raw: Any = None) -> _Compiled:
    """The template's compiled part, from a bounded cache keyed by the fields
    it is made of (templates are mutable, and UtcpClient builds a new one per
    call, so neither identity nor the object can be the key)."""
    auth = template.auth
    key = (
        template.url,
        tuple(template.headers.items()) if template.headers else (),
        (type(auth), *vars(auth).values()) if auth is not None else None,
        template.stream_format,
        None if raw is None else _raw_key(raw),
    )
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _remember(key, _compile(template, namespace, raw))
    return compiled


def _remember(key: tuple[Any, ...], compiled: _Compiled) -> _Compiled:
    """Cache ``compiled`` under ``key`` (the cache is emptied when full)."""
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[key] = compiled
    return compiled


def _split_placeholders(text: str, safe: str) -> tuple[str, ...]:
    """``a/{x}/b`` -> ``("a/", "x", "/b")`` with the literal parts percent-normalised."""
    pieces = _PLACEHOLDER.split(text)
    return tuple(quote(piece, safe=safe) if i % 2 == 0 else piece for i, piece in enumerate(pieces))


def _compile(template: StreamableHttpCallTemplate, namespace: str | None, raw: Any = None) -> _Compiled:
    _refuse_placeholders(template, namespace)
    # The fragment is never sent; the URL goes on the request line as it is, so
    # what the author left raw (spaces, non-ASCII, control bytes) is
    # percent-encoded here, keeping existing %XX escapes.
    url = template.url.split("#", 1)[0]
    base, _, query = url.partition("?")
    parts = urlsplit(base)
    check_url(url, what="tool URL")  # placeholders sit in the path: the origin is final
    # The host is sent as it was judged: canonical (a U+217C roman-numeral l becomes a plain l).
    origin = f"{parts.scheme.lower()}://{canonical_netloc(base)}"

    headers = _checked_headers(template.headers)
    auth, credential_headers, credential_query = _auth_parts(template.auth)
    secrets, private_headers = _provenance(template, raw, headers, query)
    compiled = _Compiled(
        origin=origin,
        path=_split_placeholders(parts.path or "/", _PATH_SAFE),
        query=_split_placeholders(query, _QUERY_SAFE),
        headers=headers,
        accept=_accept(headers, template.stream_format),
        auth=auth,
        secrets=secret_forms((*auth_secrets(template.auth), *secrets)),
        credential_headers=frozenset(credential_headers | private_headers),
        credential_query=credential_query,
    )
    if len(compiled.path) > 1 or len(compiled.query) > 1:
        return compiled
    url, headers_sent, _body = _assemble(template, compiled, {})
    return replace(compiled, bare=(url, headers_sent))


def _accept(headers: tuple[tuple[str, str], ...], stream_format: str) -> str | None:
    """The Accept header a request adds for the expected framing; None when
    the template sets its own, or expects anything (``*/*``): no Accept means
    the same (RFC 9110 section 12.5.1), and aiohttp writes ``Accept: */*`` on
    the wire anyway, while a header handed to it costs a merge per request."""
    if _get_header(dict(headers), "Accept") is not None:
        return None
    accept = accept_header_for(stream_format)
    return None if accept == "*/*" else accept


def _refuse_placeholders(template: StreamableHttpCallTemplate, namespace: str | None) -> None:
    """A TemplateError when a ``${VAR}`` is left in the URL, the headers or the auth."""
    _refuse_unresolved("url", template.url, namespace)
    _refuse_unresolved("headers", template.headers, namespace)
    auth = template.auth
    if auth is not None:
        # The auth models hold only flat string fields: scan them without a model_dump().
        _refuse_unresolved(f"auth ({auth.auth_type})", list(vars(auth).values()), namespace)


def _checked_headers(headers: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The template's static headers as pairs, each one checked (:func:`check_header`)."""
    pairs = tuple((headers or {}).items())
    for name, value in pairs:
        check_header(name, value)
    return pairs


def _auth_parts(auth: Any) -> _AuthParts:
    """What the template's auth adds to every request, checked (OAuth2: only
    the name of the header the transport fills in)."""
    if isinstance(auth, ApiKeyAuth):
        return _api_key_parts(auth)
    if isinstance(auth, BasicAuth):
        value = basic_header(auth.username, auth.password)
        check_header("Authorization", value)
        return (_set_auth_header, "Authorization", value), {"authorization"}, frozenset()
    if isinstance(auth, OAuth2Auth):
        return None, {"authorization"}, frozenset()  # the transport adds the bearer token
    return None, set(), frozenset()


def _api_key_parts(auth: ApiKeyAuth) -> _AuthParts:
    """:func:`_auth_parts` of an API key, by its location."""
    if auth.location == "header":
        check_header(auth.var_name, auth.api_key)
        return (_set_auth_header, auth.var_name, auth.api_key), {auth.var_name.lower()}, frozenset()
    if auth.location == "query":
        return (_set_auth_query, auth.var_name, auth.api_key), set(), frozenset({auth.var_name})
    cookie = f"{auth.var_name}={auth.api_key}"
    check_header("Cookie", cookie)
    return (_join_auth_cookie, "Cookie", cookie), {"cookie"}, frozenset()


def _set_auth_header(name: str, value: str, headers: dict[str, str], remaining: dict[str, Any]) -> None:
    """An API key or Basic header: it replaces any header of its name, whatever the case."""
    headers[_header_key(headers, name)] = value


def _set_auth_query(name: str, value: str, headers: dict[str, str], remaining: dict[str, Any]) -> None:
    """An API key query parameter: it replaces any argument of its name and comes last."""
    remaining.pop(name, None)
    remaining[name] = value


def _join_auth_cookie(name: str, cookie: str, headers: dict[str, str], remaining: dict[str, Any]) -> None:
    """An API-key cookie (``name`` is ``Cookie``): it joins any Cookie header already set."""
    existing = _get_header(headers, name)
    headers[_header_key(headers, name)] = f"{existing}; {cookie}" if existing else cookie


def _raw_fields(raw: Any) -> tuple[str, dict[str, str], list[str]] | None:
    """(url, headers, auth string values) of a raw template, or None."""
    if raw is None:
        return None
    url = getattr(raw, "url", None)
    headers = getattr(raw, "headers", None) or {}
    auth = getattr(raw, "auth", None)
    if not isinstance(url, str) or not isinstance(headers, Mapping):
        return None
    return url, {str(k): str(v) for k, v in headers.items()}, _auth_strings(auth)


def _auth_strings(auth: Any) -> list[str]:
    """The string fields of an auth model, in order (none without auth)."""
    return [v for v in vars(auth).values() if isinstance(v, str)] if auth is not None else []


def _raw_key(raw: Any) -> Any:
    fields = _raw_fields(raw)
    if fields is None:
        return None
    url, headers, auth = fields
    return url, tuple(headers.items()), tuple(auth)


def _provenance(
    template: StreamableHttpCallTemplate, raw: Any, headers: tuple[tuple[str, str], ...], query: str
) -> tuple[list[str], set[str]]:
    """(secret values, header names): what must not be shown, and the static
    headers that must not cross an origin (ARCHITECTURE section 6). Secrets
    are the values that came from ``${VAR}`` when the raw template is known,
    else every header and query value; well-known credential headers always
    count. Query values are masked by value (as written and decoded), so a
    redirect's own query is left alone."""
    fields = _raw_fields(raw)
    if fields is None:
        return _every_value_secret(headers, query)
    secrets, names = _sensitive_headers(headers)
    raw_url, raw_headers, raw_auth = fields
    secrets += variable_values(raw_url, template.url)
    variable_secrets, variable_names = _variable_headers(headers, raw_headers)
    secrets += variable_secrets
    names |= variable_names
    for raw_value, value in zip(raw_auth, _auth_strings(template.auth), strict=False):
        secrets += variable_values(raw_value, value)
    return secrets, names


def _variable_headers(
    headers: tuple[tuple[str, str], ...], raw_headers: dict[str, str]
) -> tuple[list[str], set[str]]:
    """(secret values, lower-case names) of the static headers that came
    from variables, or that the raw template does not have."""
    secrets: list[str] = []
    names: set[str] = set()
    for name, value in headers:
        raw_value = raw_headers.get(name)
        if raw_value is None:
            secrets.append(value)
            names.add(name.lower())
        elif has_variable(raw_value):
            secrets += [value, *variable_values(raw_value, value)]
            names.add(name.lower())
    return secrets, names


def _sensitive_headers(headers: tuple[tuple[str, str], ...]) -> tuple[list[str], set[str]]:
    """(values, lower-case names) of the well-known credential headers."""
    secrets: list[str] = []
    names: set[str] = set()
    for name, value in headers:
        if name.lower() in SENSITIVE_HEADERS:
            secrets.append(value)
            names.add(name.lower())
    return secrets, names


def _every_value_secret(headers: tuple[tuple[str, str], ...], query: str) -> tuple[list[str], set[str]]:
    """:func:`_provenance` without the raw template: every header but the
    public ones, and every query value (as written and decoded), is secret."""
    secrets, names = _sensitive_headers(headers)
    for name, value in headers:
        if name.lower() not in PUBLIC_HEADERS:
            secrets.append(value)
            names.add(name.lower())
    secrets += _query_values(query)
    return secrets, names


def _query_values(query: str) -> list[str]:
    """Every value of ``query``: decoded, then as written."""
    decoded = [value for _, value in parse_qsl(query, keep_blank_values=True)]
    return decoded + [piece.partition("=")[2] for piece in query.split("&")]


def _fill(parts: tuple[str, ...], remaining: dict[str, Any], missing: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part in remaining:
            out.append(_path_segment(part, remaining.pop(part)))
        else:
            missing.append(part)
    return "".join(out)


def build_request(
    template: StreamableHttpCallTemplate,
    args: Mapping[str, Any] | None = None,
    *,
    variable_namespace: str | None = None,
    raw_template: Any = None,
) -> PreparedRequest:
    """Map ``args`` onto ``template`` and validate the result.

    ``raw_template`` is the same template before UtcpClient substituted its
    variables (``caller.config.tool_repository``): comparing the two tells
    which values came from variables, hence are secrets. Without it every
    header, auth and query value of the template counts as secret.

    Raises ``TemplateError`` for a missing path parameter, an unresolved
    ``${VAR}`` or bad header bytes, and ``InsecureUrlError`` for a URL the
    policy refuses. ``variable_namespace`` (the manual name) only makes the
    unresolved-variable message name the exact variable to set.
    """
    compiled = _compiled(template, variable_namespace, raw_template)
    bare = None if args else compiled.bare
    if bare is not None:
        # No arguments: the request the template alone makes, worked out when compiled.
        url, headers, body = bare[0], dict(bare[1]), None
    else:
        url, headers, body = _assemble(template, compiled, args)
    # Positional: a class called with keywords costs a dict more per call
    # (CPython's slot_tp_init), and this one is made on every call.
    return PreparedRequest(
        template.http_method,
        url,
        headers,
        body,
        compiled.secrets,
        compiled.credential_headers,
        compiled.credential_query,
    )


def _assemble(
    template: StreamableHttpCallTemplate, compiled: _Compiled, args: Mapping[str, Any] | None
) -> tuple[str, dict[str, str], bytes | None]:
    """The URL, headers and body that ``args`` make on ``compiled``."""
    # 1. path placeholders
    path, query, remaining = _fill_placeholders(template, compiled, args)
    # 2. body, then the static headers (checked when compiled), then 3. header_fields
    body, headers = _take_body(template, remaining)
    headers.update(compiled.headers)
    if template.header_fields:
        _take_header_fields(template.header_fields, remaining, headers)
    # the auth's header, cookie or query parameter
    if compiled.auth is not None:
        add_auth, name, value = compiled.auth
        add_auth(name, value, headers, remaining)
    if compiled.accept is not None and (not template.header_fields or _get_header(headers, "Accept") is None):
        headers["Accept"] = compiled.accept
    return compiled.origin + path + _query_suffix(query, remaining), headers, body  # 4. everything else is query


def _fill_placeholders(
    template: StreamableHttpCallTemplate, compiled: _Compiled, args: Mapping[str, Any] | None
) -> tuple[str, str, dict[str, Any]]:
    """The path and the template's own query with their placeholders taken
    from ``args``, and the arguments left; a placeholder without an argument
    is a TemplateError."""
    remaining = dict(args) if args else {}
    missing: list[str] = []
    path = _fill(compiled.path, remaining, missing)
    query = _fill(compiled.query, remaining, missing)
    if missing:
        raise _missing_parameters(template.url, missing)
    return path, query, remaining


def _missing_parameters(url: str, missing: list[str]) -> TemplateError:
    """The error for the placeholders of ``url`` that no argument fills."""
    several = len(missing) > 1
    return TemplateError(
        f"missing path parameter{'s' if several else ''} {', '.join(map(repr, missing))} "
        f"for url {redact_url(url)!r}; pass {'them' if several else 'it'} as tool arguments"
    )


def _take_body(template: StreamableHttpCallTemplate, remaining: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    """The body from the ``body_field`` argument, and the headers so far
    (its Content-Type); no body when the argument is absent or None."""
    value = remaining.pop(template.body_field, None) if template.body_field is not None else None
    if value is None:
        return None, {}
    body, content_type = _encode_body(value, template.content_type)
    check_header("Content-Type", content_type)
    return body, {"Content-Type": content_type}


def _take_header_fields(names: list[str], remaining: dict[str, Any], headers: dict[str, str]) -> None:
    """Move the ``header_fields`` arguments (None: not sent) into ``headers``."""
    for name in names:
        value = remaining.pop(name, None)
        if value is not None:
            text = _scalar(value)
            check_header(name, text)
            headers[name] = text


def _query_suffix(query: str, remaining: dict[str, Any]) -> str:
    """``?`` and the query: the template's own, then the arguments left."""
    extra = _urlencode(_query_pairs(remaining)) if remaining else ""
    if extra:
        query = f"{query}&{extra}" if query else extra
    return "?" + query if query else ""


def _header_key(headers: Mapping[str, str], name: str) -> str:
    lower = name.lower()
    for key in headers:
        if key.lower() == lower:
            return key
    return name


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(_header_key(headers, name))


#: Headers that never cross an origin, whatever the auth kind: the
#: credential ones and the well-known API-key headers.
_ALWAYS_PRIVATE = frozenset({"authorization", "cookie", "proxy-authorization"}) | SENSITIVE_HEADERS


def redirect_request(request: PreparedRequest, status: int, location: str) -> PreparedRequest:
    """The request to send after a redirect, re-validated against the URL policy.

    Credentials are dropped when the origin changes (the auth's own, every
    header whose value came from a variable, the well-known key headers), and
    never taken from the Location: its user-info is removed. 301/302/303 turn
    a POST (303: anything but HEAD) into a bodiless GET, 307/308 keep method
    and body. A refusal's message has the Location scrubbed of every secret.
    """
    target = _redirect_target(request, location)
    method, body, headers = _redirected_method(request, status)
    same_origin = origin_of(target) == origin_of(request.url)
    if not same_origin:
        target, headers = _without_credentials(request, target, headers)
    return PreparedRequest(
        method=method,
        url=target,
        headers=headers,
        body=body,
        secrets=request.secrets,
        credential_headers=request.credential_headers if same_origin else frozenset(),
        credential_query=request.credential_query,
    )


def _redirect_target(request: PreparedRequest, location: str) -> str:
    """The absolute URL of ``location``, judged by the URL policy, with its
    host canonical and no user-info or fragment."""
    try:
        target = urljoin(request.url, location.strip())
        parts = urlsplit(target)
        check_url(target, loopback_allowed=is_loopback_host(urlsplit(request.url).hostname), what="redirect target")
        netloc = canonical_netloc(target)  # user-info dropped, host as judged
    except (InsecureUrlError, ValueError) as exc:
        reason = redact_text(str(exc), request.secrets)
        raise InsecureUrlError(f"refused to follow a redirect from {request.safe_url}: {reason}") from None
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _redirected_method(request: PreparedRequest, status: int) -> tuple[str, bytes | None, dict[str, str]]:
    """(method, body, headers) after a redirect with ``status``: a GET
    without body or body headers when the redirect asks for one."""
    if _turns_into_get(status, request.method):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-type", "content-length")}
        return "GET", None, headers
    return request.method, request.body, dict(request.headers)


def _turns_into_get(status: int, method: str) -> bool:
    """301/302 turn a POST, 303 anything but HEAD, into a GET."""
    if status in (301, 302):
        return method == "POST"
    return status == 303 and method != "HEAD"


def _without_credentials(request: PreparedRequest, target: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``target`` and ``headers`` for another origin: the credential headers
    and credential query parameters removed."""
    private = request.credential_headers | _ALWAYS_PRIVATE
    headers = {k: v for k, v in headers.items() if k.lower() not in private}
    target = _without_query_keys(target, request.credential_query)
    logger.info(
        "redirect to another origin: credentials dropped (%s)",
        redact_text(redact_url(target, request.credential_query), request.secrets),
    )
    return target, headers


def _without_query_keys(url: str, keys: frozenset[str]) -> str:
    """``url`` without its query parameters named in ``keys`` (as it is when
    ``keys`` is empty)."""
    if not keys:
        return url
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in keys]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs, quote_via=quote), parts.fragment))
