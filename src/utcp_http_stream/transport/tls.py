"""TLS: the context a client uses, and what a failed handshake means.

The context holds the system's trust store, plus the user's ``ca_bundle``
(added, never replacing it), plus an optional client certificate for mutual
TLS (ARCHITECTURE section 2).

A failed handshake reaches the caller as :class:`TlsError` naming the
certificate problem and the setting that fixes it, never as "could not
connect; is the server running?". :func:`tls_error_for` finds the
``ssl.SSLError`` behind whatever wraps it (aiohttp's connector errors, or the
``ClientOSError`` a TLS 1.3 server's alert arrives as) through public
attributes only; it is pure and does not import aiohttp.
"""

from __future__ import annotations

import re
import ssl

from utcp_http_stream.errors import TemplateError, TlsError
from utcp_http_stream.security import printable_excerpt
from utcp_http_stream.settings import ENV_PREFIX, ClientSettings

__all__ = ["describe_tls_failure", "find_ssl_error", "ssl_context", "tls_error_for"]

# OpenSSL X509_V_ERR_* codes (SSLCertVerificationError.verify_code).
_NOT_YET_VALID = 9
_EXPIRED = 10
_REVOKED = 23
#: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: no issuer for the last certificate the server sent.
#: Either a private CA, or a server that sends its certificate without the intermediate.
_NO_LOCAL_ISSUER = 20
_UNTRUSTED = frozenset({2, 18, 19, _NO_LOCAL_ISSUER, 21})  # unknown issuer, self-signed, incomplete chain
_NAME_MISMATCH = frozenset({62, 63, 64})  # host name, e-mail, IP address
#: OpenSSL's RFC 5280 profile checks (X509_V_ERR_INVALID_CA .. EC_KEY_EXPLICIT_PARAMS), made by
#: ``VERIFY_X509_STRICT``, which Python 3.13 turns on: a missing Authority Key Identifier (85), a CA's
#: basic constraints not marked critical (89)... Common in older private CAs.
_NOT_RFC5280 = frozenset(range(79, 95))

# Alerts a server sends when it refuses the client certificate (or got none).
_CLIENT_CERT_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
_VERSION_REASONS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    }
)
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})
_REASON_IN_TEXT = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
_MAX_DEPTH = 6
_DETAIL_LIMIT = 200

_CA_FIX = (
    "if the server's certificate comes from a private or self-signed CA, add that CA's PEM certificate "
    f"with the client setting ca_bundle (StreamClient(ca_bundle=...) or {ENV_PREFIX}CA_BUNDLE); "
    "it is trusted in addition to the system store"
)
_INTERMEDIATE_FIX = (
    "if it comes from a public CA (it works in a browser), the server is most likely not sending its "
    "intermediate certificate: browsers fetch a missing one, Python does not; the server must send its full "
    "chain, and until it does, adding the intermediate's PEM certificate to ca_bundle works too"
)
_CLIENT_CERT_FIX = (
    "set the client settings client_cert and client_key to the PEM certificate and key the server expects "
    f"(StreamClient(client_cert=..., client_key=...) or {ENV_PREFIX}CLIENT_CERT / {ENV_PREFIX}CLIENT_KEY)"
)


def ssl_context(settings: ClientSettings) -> ssl.SSLContext:
    """A verifying context with the system CAs, ``ca_bundle``'s CAs and the
    client certificate. A missing or unreadable file is a ``TemplateError``
    that names the setting."""
    context = ssl.create_default_context()
    if settings.ca_bundle:
        try:
            context.load_verify_locations(cafile=settings.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise TemplateError(
                f"client setting ca_bundle={settings.ca_bundle!r} could not be loaded ({exc}); "
                "it must be a readable PEM file of CA certificates"
            ) from None
    if settings.client_cert:
        try:
            # A password callback, so that an encrypted key fails here instead
            # of OpenSSL prompting on the terminal of a server process.
            context.load_cert_chain(settings.client_cert, settings.client_key, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise TemplateError(
                f"client settings client_cert={settings.client_cert!r} / client_key could not be loaded ({exc}); "
                "they must be readable PEM files of the certificate and its private key, the key not encrypted"
            ) from None
    return context


def _no_password() -> bytes:
    return b""


def find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The innermost ``ssl.SSLError`` behind ``exc``: itself, or reached
    through ``certificate_error`` / ``os_error`` (aiohttp's connector errors,
    public properties) or ``__cause__``. None when TLS had nothing to do with it."""
    found: ssl.SSLError | None = None
    current: BaseException | None = exc
    for _ in range(_MAX_DEPTH):
        if current is None:
            break
        if isinstance(current, ssl.SSLError):
            found = current
        current = _wrapped(current)
    return found


def _wrapped(exc: BaseException) -> BaseException | None:
    for name in ("certificate_error", "os_error"):
        inner = getattr(exc, name, None)
        if isinstance(inner, BaseException) and inner is not exc:
            return inner
    return exc.__cause__


def tls_error_for(
    exc: BaseException, url: str, *, client_cert: bool = False, after_handshake: bool = False
) -> TlsError | None:
    """The ``TlsError`` for ``exc`` if a TLS failure is behind it, else None.

    ``url`` must already be redacted; ``client_cert`` says whether the client
    presented a certificate (it changes the advice). ``after_handshake``: the
    connection was already up (the failure came while waiting for the
    response), where only a refused client certificate counts (a TLS 1.3
    server says so after the client finished its handshake); any other SSL
    error there is a broken connection, not a certificate problem.
    """
    failure = find_ssl_error(exc)
    if failure is None:
        return None
    if after_handshake and _reason(failure) not in _CLIENT_CERT_ALERTS:
        return None
    return TlsError(describe_tls_failure(failure, url, client_cert=client_cert))


def describe_tls_failure(failure: ssl.SSLError, url: str, *, client_cert: bool = False) -> str:
    """A bounded message naming the certificate problem and its fix."""
    if isinstance(failure, ssl.SSLCertVerificationError):
        return _server_certificate(failure, url)
    reason = _reason(failure)
    detail = printable_excerpt(reason or str(failure), _DETAIL_LIMIT)
    if reason in _CLIENT_CERT_ALERTS or reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        return _client_certificate(reason, url, detail, client_cert=client_cert)
    if reason in _VERSION_REASONS:
        return (
            f"the TLS handshake with {url} failed: no TLS version in common ({detail}); "
            "the server accepts only versions this client does not offer, or the reverse"
        )
    if reason in _NOT_TLS_REASONS:
        return (
            f"the server at {url} did not answer in TLS ({detail}); is it plain HTTP on this port? "
            "Check the URL's scheme and port"
        )
    if isinstance(failure, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return (
            f"the server at {url} closed the connection during the TLS handshake ({detail}); "
            f"if it requires a client certificate, {_CLIENT_CERT_FIX}"
        )
    return f"the TLS handshake with {url} failed ({detail}); {_CA_FIX}"


def _server_certificate(failure: ssl.SSLCertVerificationError, url: str) -> str:
    code = getattr(failure, "verify_code", None)
    detail = printable_excerpt(getattr(failure, "verify_message", None) or str(failure), _DETAIL_LIMIT)
    if code in _NAME_MISMATCH:
        return (
            f"the certificate of {url} is for another host name ({detail}); use the name the certificate "
            "was issued for in the URL, or have the server's certificate reissued for this name "
            "(ca_bundle cannot fix a name mismatch)"
        )
    if code == _EXPIRED:
        return f"the certificate of {url} has expired ({detail}); the server's certificate must be renewed"
    if code == _NOT_YET_VALID:
        return f"the certificate of {url} is not valid yet ({detail}); check this machine's clock"
    if code == _REVOKED:
        return f"the certificate of {url} has been revoked ({detail}); the server needs a new certificate"
    if code == _NO_LOCAL_ISSUER:
        return f"the certificate of {url} is not trusted: {detail}; {_CA_FIX}; {_INTERMEDIATE_FIX}"
    if code in _UNTRUSTED:
        return f"the certificate of {url} is not trusted: {detail}; {_CA_FIX}"
    if code in _NOT_RFC5280:
        return (
            f"the certificate of {url}, or one of its CAs, does not meet the X.509 profile (RFC 5280) that "
            f"Python 3.13 and later check strictly ({detail}); it must be reissued with the missing or corrected "
            "extension (certificates from public CAs, mkcert and trustme pass); ca_bundle cannot fix this"
        )
    return f"the certificate of {url} failed verification ({detail}); {_CA_FIX}"


def _client_certificate(reason: str, url: str, detail: str, *, client_cert: bool) -> str:
    if not client_cert:
        return (
            f"the server at {url} refused the TLS handshake ({detail}): it requires a client certificate "
            f"(mutual TLS); {_CLIENT_CERT_FIX}"
        )
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        return (
            f"the server at {url} refused the TLS handshake ({detail}): it may not accept the client "
            "certificate from client_cert (issued by a CA it does not trust?) or share no cipher with this client"
        )
    return (
        f"the server at {url} refused the client certificate from client_cert ({detail}): it may be expired, "
        "revoked, or issued by a CA the server does not trust; use a certificate the server accepts"
    )


def _reason(failure: ssl.SSLError) -> str:
    """OpenSSL's reason code, from the public ``reason`` attribute or, when a
    wrapper re-created the error from its text, from that text."""
    reason = getattr(failure, "reason", None)  # set by the ssl module; absent on a hand-made error
    if reason:
        return str(reason)
    match = _REASON_IN_TEXT.search(str(failure))
    return match.group(1) if match else ""
