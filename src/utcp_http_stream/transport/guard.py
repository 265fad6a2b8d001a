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

import contextlib
import logging
import socket
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.hosts import canonical_host, check_connect_address

__all__ = ["ConnectGuard", "connecting"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Target:
    host: str
    judge: bool = True
    refusal: InsecureUrlError | None = None


_TARGET: ContextVar[_Target | None] = ContextVar("utcp_http_stream_connect_target", default=None)


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

    def socket_factory(self, addr_info: tuple) -> socket.socket:
        family, type_, proto, _, address = addr_info
        target = _TARGET.get()
        if target is None or target.judge:
            try:
                check_connect_address(target.host if target else "", str(address[0]), self.allow_local)
            except InsecureUrlError as exc:
                if target is not None:
                    target.refusal = exc
                logger.info("connection refused by the address rule: %s", exc)
                raise _Refused(str(exc)) from None
        return socket.socket(family=family, type=type_, proto=proto)


def _via_proxy(url: str, trust_env: bool) -> bool:
    """True when the environment's proxy settings send ``url`` through a
    proxy (then the proxy's address is what is connected to: not judged)."""
    if not trust_env:
        return False
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme.lower())
    return bool(proxy) and not urllib.request.proxy_bypass(parts.hostname or "")


@contextlib.contextmanager
def connecting(url: str, *, trust_env: bool = False) -> Iterator[None]:
    """Judge the connections made inside the block as made for ``url``'s
    host. A connection failure caused by the address rule is raised as the
    rule's ``InsecureUrlError`` (one message, open port or closed)."""
    try:
        host = canonical_host(urlsplit(url).hostname or "")
    except ValueError:
        host = ""
    target = _Target(host, judge=not _via_proxy(url, trust_env))
    token = _TARGET.set(target)
    try:
        yield
    except aiohttp.ClientConnectorError:
        if target.refusal is not None:
            raise target.refusal from None
        raise
    finally:
        _TARGET.reset(token)
