"""The TLS context a client uses: the system's trust store, plus the user's
``ca_bundle`` (added, never replacing it), plus an optional client
certificate for mutual TLS (ARCHITECTURE section 2)."""

from __future__ import annotations

import ssl

from utcp_http_stream.errors import TemplateError
from utcp_http_stream.settings import ClientSettings

__all__ = ["ssl_context"]


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
