"""What the client makes of a server's ``Keep-Alive: timeout=N``. Pure.

A server that announces it closes idle connections after ``N`` seconds,
sooner than the client's ``keepalive_expiry``, would otherwise race the
client for every connection that idles about that long (RFC 9112 section
9.3.1: the request sent as the server closes fails, and a POST may not be
resent). The client does not simply stop reusing such connections, which
would cost every call to that server a new connection (and TLS handshake):
it learns the origin's timeout and sends its later calls through a pool
whose connections expire a margin short of it (:class:`ShortKeepAlive`),
so a burst of calls shares one connection and a connection idle too long is
never sent on.
"""

from __future__ import annotations

from yarl import URL

__all__ = ["ShortKeepAlive", "announced_timeout_ms", "shorter_expiry_ms"]

#: The least margin kept short of a server's announced timeout: the response's
#: way back and the next request's way there both run on the server's clock.
MARGIN_MS = 250
#: Expiries are multiples of this, so that few pools serve every server.
STEP_MS = 250

#: An origin as aiohttp's URL gives it: scheme, host, port.
_Key = tuple[str, str | None, int | None]


def announced_timeout_ms(header: str | None) -> float | None:
    """The ``timeout`` of a ``Keep-Alive`` header in ms, or None when there is
    none or it cannot be read (aiohttp's own behaviour then applies)."""
    if not header:
        return None
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "timeout":
            try:
                # A parameter value may be a quoted-string (RFC 9110 section 5.6.6).
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return None
            return seconds * 1000 if seconds >= 0 else None
    return None


def shorter_expiry_ms(timeout_ms: float) -> int | None:
    """The pool expiry for a server that closes idle connections after
    ``timeout_ms``: short of it by a quarter, at least :data:`MARGIN_MS`,
    rounded down to :data:`STEP_MS`; None when that leaves nothing (such a
    connection is closed after its response)."""
    expiry = int((timeout_ms - max(MARGIN_MS, timeout_ms / 4)) // STEP_MS) * STEP_MS
    return expiry if expiry >= STEP_MS else None


def _key(url: URL) -> _Key:
    return url.scheme, url.host, url.port


class ShortKeepAlive:
    """The origins whose servers announced a keep-alive timeout shorter than
    the client's ``keepalive_expiry``, each with the expiry its connections
    get. Shared by the client's pools (one per event loop); bounded."""

    MAX = 1024

    __slots__ = ("default_ms", "expiries")

    def __init__(self, default_ms: int) -> None:
        self.default_ms = default_ms
        #: origin -> the expiry (ms) of the pool its calls go through
        self.expiries: dict[_Key, int] = {}

    def expiry_for(self, url: URL) -> int | None:
        """The expiry of the pool a call to ``url`` goes through, when it is
        not the client's own (check :attr:`expiries` first: empty is the
        common case)."""
        return self.expiries.get(_key(url))

    def allows(self, url: URL, header: str, pool_expiry_ms: int) -> bool:
        """Learn what a response from ``url`` announced (``header``, its
        ``Keep-Alive``), and whether the connection it came on, from a pool
        with ``pool_expiry_ms``, may go back to that pool (False: close it)."""
        timeout = announced_timeout_ms(header)
        if timeout is None:
            return True
        origin = _key(url)
        if timeout >= self.default_ms:
            self.expiries.pop(origin, None)  # the server's timeout went up again
        else:
            expiry = shorter_expiry_ms(timeout)
            if expiry is None:
                self.expiries.pop(origin, None)  # too short to pool: closed after each response
            elif self.expiries.get(origin) != expiry:
                if len(self.expiries) >= self.MAX:
                    self.expiries.clear()
                self.expiries[origin] = expiry
        return timeout >= pool_expiry_ms
