"""A call template's limits after the client's ceilings. Pure.

The same template is called again and again, so the client keeps the
clamped values of each template shape it has seen (:class:`LimitsCache`)
instead of working them out on every call.
"""

from __future__ import annotations

from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.template import StreamableHttpCallTemplate

__all__ = ["MAX_HEADER_FIELDS", "MAX_HEADER_LINE", "CallLimits", "LimitsCache"]

#: The longest response header line (the status line, or one field) the client reads, and the
#: most header fields (where aiohttp takes that bound: 3.14 and later). aiohttp's default line
#: limit (8190 bytes) refuses real answers that carry a long cookie, Link or
#: Content-Security-Policy header; curl reads lines of up to 100 KB.
MAX_HEADER_LINE = 32 * 1024
MAX_HEADER_FIELDS = 128


class CallLimits:
    """What one call may take: its times in ms (``idle_s`` in seconds, for
    the body reader) and sizes in bytes, and whether the client presents a
    certificate and uses the environment's proxy (they change the advice in
    error messages)."""

    __slots__ = ("client_cert", "connect_from_settings", "connect_ms", "idle_from_timeout", "idle_ms", "idle_s",
                 "max_item_bytes", "max_result_bytes", "timeout_ms", "trust_env")

    def __init__(self, *, timeout_ms: int, connect_ms: int, idle_ms: int, idle_from_timeout: bool = False,
                 max_item_bytes: int = 0, max_result_bytes: int = 0, client_cert: bool = False,
                 trust_env: bool = False, connect_from_settings: bool = False) -> None:
        self.timeout_ms = timeout_ms
        self.connect_ms = connect_ms
        #: The header wait is the client's ``connect_timeout`` (the template set none).
        self.connect_from_settings = connect_from_settings
        self.idle_ms = idle_ms
        self.idle_s = idle_ms / 1000
        #: The idle limit came from ``timeout`` (the template set no ``idle_timeout``).
        self.idle_from_timeout = idle_from_timeout
        self.max_item_bytes = max_item_bytes
        self.max_result_bytes = max_result_bytes
        self.client_cert = client_cert
        self.trust_env = trust_env

    @classmethod
    def of(cls, template: StreamableHttpCallTemplate, settings: ClientSettings) -> CallLimits:
        """``template``'s limits, clamped by ``settings``' ceilings."""
        idle = template.idle_timeout
        return cls(
            timeout_ms=template.timeout,
            connect_ms=settings.connect_ms(template.connect_timeout),
            idle_ms=settings.idle_ms(idle if idle is not None else template.timeout),
            idle_from_timeout=idle is None,
            max_item_bytes=settings.item_bytes(template.max_item_bytes),
            max_result_bytes=settings.result_bytes(template.max_result_bytes),
            client_cert=settings.client_cert is not None,
            trust_env=settings.trust_env,
            connect_from_settings=template.connect_timeout is None,
        )


class LimitsCache:
    """The limits of the template shapes one client has called, bounded."""

    MAX = 256

    __slots__ = ("_known", "settings")

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._known: dict[tuple[int, int | None, int | None, int, int], CallLimits] = {}

    def __call__(self, template: StreamableHttpCallTemplate) -> CallLimits:
        key = (template.timeout, template.connect_timeout, template.idle_timeout, template.max_item_bytes,
               template.max_result_bytes)
        limits = self._known.get(key)
        if limits is None:
            limits = CallLimits.of(template, self.settings)
            if len(self._known) >= self.MAX:
                self._known.clear()
            self._known[key] = limits
        return limits
