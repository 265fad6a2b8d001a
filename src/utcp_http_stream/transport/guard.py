"""The connect-time address check: the I/O side of the rule in
:func:`utcp_http_stream.hosts.check_connect_address`.

aiohttp calls the connector's public ``socket_factory`` for every connection
attempt, DNS-cache hits included, with the address about to be connected to,
but not with the host name the request asked for. :func:`connecting` puts
that name in a context variable around the request (tasks aiohttp starts
copy it), and :class:`ConnectGuard` judges each address before a socket
exists. A refused address never gets a connection attempt, so a refusal reads
the same whether the port is open or closed: a remote manual cannot use it to
scan this machine.
"""

from __future__ import annotations

import logging
import socket
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.hosts import canonical_host, check_connect_address

__all__ = ["Attempt", "ConnectGuard", "connecting"]

logger = logging.getLogger(__name__)


class Attempt:
    """One request attempt: the URL whose host the connections made for it
    are judged as (worked out only when a new connection is made), and
    whether one was (``fresh``; false means a pooled connection was reused)."""

    __slots__ = ("_host", "fresh", "proxied", "refusal", "url")

    def __init__(self, url: str, proxied: bool = False) -> None:
        self.url = url
        #: The request goes through a proxy: its address, not the URL's host's, is connected to.
        self.proxied = proxied
        self.fresh = False
        self.refusal: InsecureUrlError | None = None
        self._host: str | None = None

    @property
    def host(self) -> str:
        if self._host is None:
            try:
                self._host = canonical_host(urlsplit(self.url).hostname or "")
            except ValueError:
                self._host = ""
        return self._host


_ATTEMPT: ContextVar[Attempt | None] = ContextVar("utcp_http_stream_attempt", default=None)


class _Refused(OSError):
    """What the socket factory raises: aiohappyeyeballs records it as that
    address's failure (and tries the next one)."""


class ConnectGuard:
    """The connector's ``socket_factory``: ``TCPConnector(socket_factory=
    ConnectGuard(allow_local).socket_factory)``.

    A connection made outside :func:`connecting` is judged as one to an
    unknown, non-loopback name (the safe side).
    """

    __slots__ = ("allow_local",)

    def __init__(self, allow_local: bool) -> None:
        self.allow_local = allow_local

    def socket_factory(self, addr_info: tuple) -> socket.socket:  # type: ignore[type-arg]
        family, type_, proto, _, address = addr_info
        attempt = _ATTEMPT.get()
        if attempt is not None:
            attempt.fresh = True
        if attempt is None or not attempt.proxied:
            try:
                check_connect_address(attempt.host if attempt else "", str(address[0]), self.allow_local)
            except InsecureUrlError as exc:
                if attempt is not None:
                    attempt.refusal = exc
                logger.info("connection refused by the address rule: %s", exc)
                raise _Refused(str(exc)) from None
        return socket.socket(family=family, type=type_, proto=proto)


class connecting(Attempt):
    """``with connecting(url) as attempt:`` judges the connections made
    inside the block as made for ``url``'s host (none when ``proxied``: the
    proxy the user configured is what is connected to); ``attempt.fresh`` then says
    whether one was made. A connection failure caused by the address rule
    is raised as the rule's ``InsecureUrlError`` (one message, open port or
    closed). A class, not a generator, and its own :class:`Attempt`: it runs
    on every request."""

    __slots__ = ("_token",)

    def __enter__(self) -> Attempt:
        self._token = _ATTEMPT.set(self)
        return self

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> bool:
        _ATTEMPT.reset(self._token)
        refusal = self.refusal
        if refusal is not None and isinstance(exc, aiohttp.ClientConnectorError):
            try:
                raise refusal
            finally:
                refusal.__context__ = None
        return False
