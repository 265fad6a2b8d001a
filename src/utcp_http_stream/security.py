"""The security policy, in one place: which URLs may be contacted, which header
bytes may be sent, and how secrets are kept out of messages and logs.

Rules (ARCHITECTURE section 6): HTTPS everywhere; plain HTTP only to loopback
(``localhost``, 127.0.0.0/8, ``::1``), hosts judged in canonical form
(:mod:`utcp_http_stream.hosts`). A manual fetched from a non-loopback origin
may not name local tool URLs, and a redirect may not lead from a non-loopback
origin to one. Credentials never cross origins. Framing and hop-by-hop headers
belong to the HTTP client. Every message shown to a person is scrubbed of
every secret, then bounded (:func:`scrub`, :func:`scrub_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from utcp_http_stream.errors import InsecureUrlError, TemplateError
from utcp_http_stream.hosts import canonical_host, host_address, is_local_address, is_loopback_name

__all__ = [
    "FORBIDDEN_HEADERS",
    "MESSAGE_LIMIT",
    "PUBLIC_HEADERS",
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY_KEYS",
    "Origin",
    "bare_token",
    "bound_text",
    "canonical_netloc",
    "check_header",
    "check_url",
    "has_variable",
    "is_loopback_host",
    "origin_of",
    "printable_excerpt",
    "redact_headers",
    "redact_text",
    "redact_url",
    "scrub",
    "scrub_error",
    "secret_forms",
    "variable_values",
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
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def is_loopback_host(host: str | None) -> bool:
    """True only for ``localhost`` and literal loopback addresses, judged
    after normalisation (Unicode look-alikes,
    a trailing ideographic full stop, ``0x7f.1`` count).

    ``localhost.evil.example`` or ``127.0.0.1.nip.io`` are names anyone can
    point anywhere, so they are not loopback.
    """
    return is_loopback_name(host)


def origin_of(url: str) -> Origin:
    """(scheme, canonical host, port) with the default port filled in, for
    origin comparison."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 80)
    host = parts.hostname or ""
    try:
        host = canonical_host(host)
    except ValueError:
        host = host.lower()
    return Origin(scheme, host, port)


def canonical_netloc(url: str) -> str:
    """``host[:port]`` of ``url`` with the host in canonical form (IPv6 in
    brackets) and any user-info dropped: what is sent is what was judged.
    Raises ``ValueError`` for a host no resolver should be given."""
    parts = urlsplit(url)
    host = canonical_host(parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


def check_url(url: str, *, loopback_allowed: bool = True, what: str = "URL") -> str:
    """Refuse a URL this plugin may not contact; return it unchanged otherwise.

    The host is judged in canonical form (:mod:`utcp_http_stream.hosts`).
    ``loopback_allowed=False`` is used for URLs that came from a non-loopback
    origin (a discovered manual, a redirect), so a remote server cannot steer
    the client at the local machine: loopback, unspecified and link-local
    literals are refused then, however they are spelled.
    """
    scheme, canonical = _http_origin(url, what)
    loopback = is_loopback_name(canonical)
    if not loopback_allowed:
        _refuse_local_target(url, canonical, loopback, what)
    if scheme == "http" and not loopback:
        raise InsecureUrlError(
            f"{what} {redact_url(url)!r} uses plain http to a non-loopback host; use https:// "
            "(plain http is allowed only to localhost, 127.0.0.0/8 and ::1)"
        )
    return url


def _http_origin(url: str, what: str) -> tuple[str, str]:
    """(scheme, canonical host) of an absolute http(s) URL, else InsecureUrlError."""
    scheme, canonical = _scheme_and_host(url, what)
    if scheme not in ("http", "https") or not canonical:
        raise InsecureUrlError(f"{what} {redact_url(url)!r} is not an absolute http(s) URL")
    return scheme, canonical


def _scheme_and_host(url: str, what: str) -> tuple[str, str]:
    """(lower-case scheme, canonical host or ``""``) of ``url``;
    InsecureUrlError when its port or host is malformed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
        canonical = canonical_host(host) if host else ""
    except ValueError as exc:
        raise InsecureUrlError(f"{what} {redact_url(url)!r} is malformed: {exc}") from None
    return parts.scheme.lower(), canonical


def _refuse_local_target(url: str, canonical: str, loopback: bool, what: str) -> None:
    """The rule for a URL that came from a non-loopback origin: its host
    (``canonical``; ``loopback`` when it is a loopback name) may not be this
    machine's (loopback, unspecified or link-local), however spelled."""
    if loopback or _is_local_literal(canonical):
        raise InsecureUrlError(
            f"{what} {redact_url(url)!r} points at this machine (loopback, unspecified or link-local address) "
            "but came from a non-loopback origin; a remote manual or redirect may not target local services"
        )


def _is_local_literal(host: str) -> bool:
    """A canonical host that spells a loopback, unspecified or link-local address."""
    address = host_address(host)
    return address is not None and is_local_address(address)


#: Headers the HTTP layer owns: framing and hop-by-hop (lower case). A
#: template or argument setting one could desynchronise the request (a
#: smuggling primitive), so it is refused; ``proxy-*`` too.
FORBIDDEN_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "host", "connection", "upgrade", "te", "trailer", "keep-alive"}
)


def check_header(name: str, value: str) -> None:
    """Refuse header bytes that could split or smuggle a request, and the
    framing and hop-by-hop headers (ARCHITECTURE section 6)."""
    if not _HEADER_NAME.match(name):
        shown = _CONTROL.sub("?", name)[:60]
        raise TemplateError(f"header name {shown!r} is not a valid HTTP token (letters, digits, !#$%&'*+-.^_`|~)")
    lower = name.lower()
    if lower in FORBIDDEN_HEADERS or lower.startswith("proxy-"):
        raise TemplateError(
            f"header {name!r} may not be set by a call template or tool argument: framing and hop-by-hop "
            "headers belong to the HTTP client (request smuggling guard); remove it"
        )
    if _FORBIDDEN_HEADER_CHARS.search(value):
        raise TemplateError(f"header {name!r} contains CR, LF or NUL; refusing to send it (header injection)")


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//([^?#]*)@")


def redact_url(url: str, extra_keys: Iterable[str] = (), *, all_query: bool = False) -> str:
    """The URL with user-info removed and credential query values masked.

    ``extra_keys`` names more query parameters to mask (an API key's
    ``var_name``); ``all_query`` masks every query value (a template whose
    values' provenance is unknown). User-info is found the conservative way: anything before
    the last ``@`` ahead of the query, even where a parser would read a
    ``/`` in a password as the start of the path. Never raises: a URL too
    broken to parse is cut to what follows its last ``@``, without query.
    """
    url = _USERINFO.sub(lambda m: (m.group(1) or "") + "//" + REDACTED + "@", url, count=1)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("@")[-1]
    query = _redact_query(parts.query, extra_keys, all_query) if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _redact_query(query: str, extra_keys: Iterable[str], all_query: bool) -> str:
    """``query`` with credential values (every value: ``all_query``) masked;
    unchanged, as written, when none is."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if all_query:
        return _masked_query(pairs, {key for key, _ in pairs})
    hidden = _credential_keys(pairs, extra_keys)
    return _masked_query(pairs, hidden) if hidden else query


def _credential_keys(pairs: list[tuple[str, str]], extra_keys: Iterable[str]) -> set[str]:
    """The keys (as written) of ``pairs`` whose values are credentials: the
    well-known names and ``extra_keys``, in any case."""
    sensitive = SENSITIVE_QUERY_KEYS | {k.lower() for k in extra_keys}
    return {key for key, _ in pairs if key.lower() in sensitive}


def _masked_query(pairs: list[tuple[str, str]], hidden: set[str]) -> str:
    """The query of ``pairs`` with the values of the ``hidden`` keys masked."""
    return urlencode([(key, REDACTED if key in hidden else value) for key, value in pairs], quote_via=quote, safe="*{}")


def redact_headers(headers: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy of the headers with credential values masked."""
    sensitive = SENSITIVE_HEADERS | {n.lower() for n in extra_names}
    return {k: (REDACTED if k.lower() in sensitive else v) for k, v in headers.items()}


# -- secrets -----------------------------------------------------------------

#: Shortest value treated as a secret: masking one or two characters would
#: garble messages and protect nothing.
MIN_SECRET_CHARS = 3
#: Longest error message, in characters, after scrubbing (ARCHITECTURE section 4).
MESSAGE_LIMIT = 1000

_AUTH_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*[ \t]+(\S.*)$")
_CUT_MARKERS = ("…", "...")
_URL_SAFE_FORMS = ("", "/", "/?%:@!$&'()*+,;=-._~")


def bare_token(value: str) -> str | None:
    """The credential after an auth scheme (``Bearer sk-1`` -> ``sk-1``)."""
    match = _AUTH_SCHEME.match(value.strip())
    return match.group(1).strip() if match else None


def secret_forms(values: Iterable[str]) -> tuple[str, ...]:
    """Every form a secret value may take in text we print: itself, the bare
    token after an auth scheme, and its percent-encodings (a URL carries
    ``a%2Fb`` for ``a/b``). Longest first, so a secret is masked whole before
    a shorter one inside it."""
    forms: set[str] = set()
    for value in values:
        for text in _secret_texts(value):
            forms.add(text)
            forms.update(quote(text, safe=safe) for safe in _URL_SAFE_FORMS)
            forms.add(quote_plus(text))
    return tuple(sorted(forms, key=len, reverse=True))


def _is_maskable(secret: str | None) -> bool:
    """A secret long enough to be masked (:data:`MIN_SECRET_CHARS`; empty
    or None never is)."""
    return bool(secret) and len(secret) >= MIN_SECRET_CHARS


def _secret_texts(value: str) -> tuple[str, ...]:
    """``value`` and the bare token after its auth scheme: those long
    enough to mask."""
    if not _is_maskable(value):
        return ()
    token = bare_token(value)
    return (value, token) if _is_maskable(token) else (value,)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of each known secret value in free text (a server
    may echo a key back in an error body), and the start of one cut short at
    an excerpt's end (``sk-li…``)."""
    for secret in secrets:
        if _is_maskable(secret) and secret in text:
            text = text.replace(secret, REDACTED)
    return _mask_cut_secrets(text, secrets)


def _mask_cut_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the start of a secret cut short masked: at its end and
    before each excerpt marker (``…``, ``...``)."""
    for marker in _CUT_MARKERS:
        if marker in text:
            text = marker.join(_mask_cut_prefix(piece, secrets) for piece in text.split(marker))
    return _mask_cut_prefix(text, secrets)


def _mask_cut_prefix(piece: str, secrets: Iterable[str]) -> str:
    """``piece`` with its end masked when that end is the beginning of a
    secret (an excerpt cut inside it)."""
    for secret in secrets:
        size = _cut_prefix_size(piece, secret)
        if size:
            return piece[:-size] + REDACTED
    return piece


def _cut_prefix_size(piece: str, secret: str) -> int:
    """The length of the longest beginning of ``secret`` (shorter than it, at
    least :data:`MIN_SECRET_CHARS`) that ``piece`` ends with; 0 when none, or
    when the secret is too short to mask."""
    if not _is_maskable(secret):
        return 0
    for size in range(min(len(secret) - 1, len(piece)), MIN_SECRET_CHARS - 1, -1):
        if piece.endswith(secret[:size]):
            return size
    return 0


def bound_text(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and tail
    (the tail usually says what to change)."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail - 40
    return f"{text[:head]} …[{len(text) - head - tail} characters cut]… {text[-tail:]}"


def scrub(text: str, secrets: Iterable[str], limit: int = MESSAGE_LIMIT) -> str:
    """Secrets masked first, then the length bounded: what any message shown
    to a person goes through."""
    return bound_text(redact_text(text, secrets), limit)


def scrub_error(exc: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """Make an outgoing error safe to show: every secret masked in its
    message and text attributes (``detail``, ``url``, ``excerpt``), the
    message bounded to :data:`MESSAGE_LIMIT` characters, and the exception it
    was raised from dropped (an aiohttp error there may hold the URL with its
    credentials). Mutates and returns ``exc``; the transport calls it for
    every ``HttpStreamError`` it raises."""
    secrets = tuple(secrets)
    exc.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in exc.args)
    _scrub_attributes(exc, secrets)
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc


def _scrub_attributes(exc: BaseException, secrets: tuple[str, ...]) -> None:
    """Scrub the text attributes an error may carry (``detail``, ``url``,
    ``excerpt``), each bounded to half the message limit."""
    for name in ("detail", "url", "excerpt"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            setattr(exc, name, scrub(value, secrets, MESSAGE_LIMIT // 2))


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


#: Header names that never carry a credential: kept across origins and not
#: treated as secrets even when a template's provenance is unknown.
PUBLIC_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-language",
        "content-type",
        "pragma",
        "user-agent",
    }
)

_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")


def has_variable(raw: str) -> bool:
    """True when ``raw`` holds a ``${VAR}`` / ``$VAR`` reference."""
    return bool(_VARIABLE.search(raw))


def variable_values(raw: str, resolved: str) -> list[str]:
    """The values UtcpClient put in place of the variables of ``raw`` to make
    ``resolved`` (``"Bearer ${T}"``, ``"Bearer sk-1"`` -> ``["sk-1"]``).

    When the two cannot be lined up the whole resolved text is returned: it
    is then all treated as secret.
    """
    if raw == resolved or not has_variable(raw):
        return []
    return _values_between(raw, resolved)


def _values_between(raw: str, resolved: str) -> list[str]:
    """:func:`variable_values` once ``raw`` has a variable: ``resolved`` lined
    up against the literal text around the variables (the whole of it when
    they cannot be), the non-empty values in between."""
    match = re.fullmatch(_line_up_pattern(raw), resolved, re.DOTALL)
    if match is None:
        return [resolved]
    return [value for value in match.groups() if value]


def _line_up_pattern(raw: str) -> str:
    """A regex for what ``raw`` may become: its literal text as it is, each
    variable a lazy group."""
    # re.split with two groups: literal, g1, g2, literal, g1, g2, ..., literal
    literals = _VARIABLE.split(raw)[::3]
    return "(.*?)".join(re.escape(piece) for piece in literals)
