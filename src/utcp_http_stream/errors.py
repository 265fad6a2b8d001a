"""The exception tree of utcp-http-stream.

Every error derives from :class:`HttpStreamError` and, where one fits, from the
stdlib class a caller would naturally catch (``ValueError``, ``TimeoutError``,
``ConnectionError``), so code that knows nothing about this plugin still
handles it sensibly. Messages are written for the person who has to act on
them, and never carry a secret: URLs are redacted before they get here.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "HttpStatusError",
    "HttpStreamError",
    "InsecureUrlError",
    "StreamDecodeError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "TemplateError",
    "TlsError",
]


class HttpStreamError(Exception):
    """Base class of every error this plugin raises."""


class InsecureUrlError(HttpStreamError, ValueError):
    """A URL the security policy refuses: not https and not loopback, a loopback
    tool URL from a non-loopback manual, or a redirect to such a URL."""


class TemplateError(HttpStreamError, ValueError):
    """The call template and arguments cannot make a valid request (missing
    path parameter, unresolved ``${VAR}``, CR/LF/NUL in a header, bad field)."""


class HttpStatusError(HttpStreamError):
    """The server answered with a non-2xx status.

    ``detail`` is a bounded, control-character-free excerpt of the body;
    ``url`` has credentials redacted; ``retry_after`` is the server's
    ``Retry-After`` in seconds, when it sent one.
    """

    retry_after: float | None = None

    def __init__(self, status: int, reason: str, url: str, detail: str = "") -> None:
        self.status = status
        self.reason = reason
        self.url = url
        self.detail = detail
        message = f"HTTP {status} {reason} from {url}"
        if detail:
            message += f": {detail}"
        super().__init__(message)

    def __reduce__(self):  # keep picklable despite the custom __init__
        return (type(self), (self.status, self.reason, self.url, self.detail))


class StreamTimeoutError(HttpStreamError, TimeoutError):
    """A time limit fired. ``phase`` is ``"pool"``, ``"connect"``, ``"idle"`` or ``"total"``."""

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.phase, str(self)))


class StreamInterruptedError(HttpStreamError, ConnectionError):
    """The connection ended before the body was complete.

    Every complete item before the cut was already yielded; ``items_yielded``
    says how many.
    """

    def __init__(self, message: str, items_yielded: int = 0) -> None:
        self.items_yielded = items_yielded
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.items_yielded))


class TlsError(HttpStreamError, ConnectionError):
    """The TLS handshake failed: the server's certificate is not trusted, is
    for another name or has expired, or the server refused (or required) a
    client certificate. The message names the problem and the setting that
    fixes it (``ca_bundle``, ``client_cert`` / ``client_key``)."""


class StreamDecodeError(HttpStreamError, ValueError):
    """A malformed or oversized item (line, event or document).

    ``position`` names where it was (for example ``"line 12"`` or
    ``"event 3"``); ``excerpt`` is a short, printable piece of the offending
    data.
    """

    def __init__(self, message: str, position: str = "", excerpt: str = "") -> None:
        self.position = position
        self.excerpt = excerpt
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.position, self.excerpt))


class AuthError(HttpStreamError):
    """Obtaining credentials failed (for example the OAuth2 token endpoint
    refused). The message carries the endpoint's status and error text, never
    the secret."""

