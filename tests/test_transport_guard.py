"""The connect-time address guard alone: the socket factory aiohttp calls for
every connection attempt, and the attempt that tells it which host the
connection is for. No server and no connection: a socket is made (and closed)
or refused."""

from __future__ import annotations

import socket
from contextlib import closing

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.transport.guard import ConnectGuard, connecting


def _addr_info(ip: str, port: int = 8080) -> tuple:  # type: ignore[type-arg]
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    address = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)


def _make(guard: ConnectGuard, ip: str) -> None:
    with closing(guard.socket_factory(_addr_info(ip))) as sock:
        assert isinstance(sock, socket.socket)


def test_a_loopback_name_reaches_loopback_and_the_attempt_learns_a_connection_was_made() -> None:
    guard = ConnectGuard(allow_local=False)
    with connecting("http://localhost:8080/tool") as attempt:
        assert attempt.fresh is False  # nothing connected yet: a pooled connection would be reused
        _make(guard, "127.0.0.1")
        assert attempt.fresh is True and attempt.refusal is None


def test_a_public_name_that_resolves_to_loopback_is_refused_before_any_socket() -> None:
    guard = ConnectGuard(allow_local=False)
    with connecting("https://evil.example/tool") as attempt:
        with pytest.raises(OSError) as caught:
            guard.socket_factory(_addr_info("127.0.0.1"))
        assert "evil.example" in str(caught.value)
        assert isinstance(attempt.refusal, InsecureUrlError)


def test_a_refusal_surfaces_as_the_rules_own_error_not_aiohttps() -> None:
    refused = "refused to connect"
    with pytest.raises(InsecureUrlError, match=refused) as caught:
        with connecting("https://evil.example/tool") as attempt:
            try:
                ConnectGuard(allow_local=False).socket_factory(_addr_info("::1"))
            except OSError as exc:
                key = ConnectionKey("evil.example", 443, True, True, None, None, None)
                raise aiohttp.ClientConnectorError(key, exc) from exc
    assert caught.value is attempt.refusal
    assert caught.value.__context__ is None  # aiohttp's error (and its URL) does not ride along


def test_allow_local_lets_any_name_reach_loopback() -> None:
    with connecting("https://evil.example/tool"):
        _make(ConnectGuard(allow_local=True), "127.0.0.1")


def test_a_connection_made_outside_an_attempt_is_judged_as_for_an_unknown_name() -> None:
    guard = ConnectGuard(allow_local=False)
    with pytest.raises(OSError):
        guard.socket_factory(_addr_info("127.0.0.1"))
    _make(guard, "192.0.2.10")  # a non-local address is fine from any name


def test_the_attempt_is_forgotten_when_its_block_ends() -> None:
    guard = ConnectGuard(allow_local=False)
    with connecting("http://localhost/tool"):
        _make(guard, "127.0.0.1")
    with pytest.raises(OSError):
        guard.socket_factory(_addr_info("127.0.0.1"))  # judged as an unknown name again


def test_a_request_through_a_proxy_is_not_judged() -> None:
    """The proxy's address is what is connected to: a local proxy stays usable."""
    guard = ConnectGuard(allow_local=False)
    with connecting("https://api.example/tool", proxied=True) as attempt:
        _make(guard, "127.0.0.1")
        assert attempt.fresh is True
    with connecting("https://api.example/tool", proxied=False):
        with pytest.raises(OSError):
            guard.socket_factory(_addr_info("127.0.0.1"))
