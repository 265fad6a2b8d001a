"""The TLS context a client uses: the system's trust store, plus the user's
``ca_bundle`` (added, never replacing it), plus an optional client
certificate for mutual TLS (ARCHITECTURE section 2)."""

from __future__ import annotations

import ssl

from utcp_http_stream.errors import TemplateError
from utcp_http_stream.settings import ClientSettings

__all__ = ["describe_tls_failure", "ssl_context"]


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
            context.load_cert_chain(settings.client_cert, settings.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise TemplateError(
                f"client settings client_cert={settings.client_cert!r} / client_key could not be loaded ({exc}); "
                "they must be readable PEM files of the certificate and its private key"
            ) from None
    return context


def describe_tls_failure(exc: BaseException) -> str:
    """What went wrong in a handshake, and what setting fixes it."""
    verify = getattr(exc, "verify_message", None)
    text = verify or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    if verify:
        return (
            f"the server's certificate was refused ({verify}); if it is issued by a private CA, trust that CA with "
            "the client setting ca_bundle (UTCP_HTTP_STREAM_CA_BUNDLE=/path/to/ca.pem)"
        )
    return (
        f"the handshake failed ({text}); if the server requires a client certificate, set client_cert and "
        "client_key (UTCP_HTTP_STREAM_CLIENT_CERT / _CLIENT_KEY)"
    )
