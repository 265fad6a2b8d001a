"""transport.keepalive: reading a server's ``Keep-Alive`` and what the client
makes of it (which pool a server's calls go through, and whether a
connection may go back to its pool). No server."""

from __future__ import annotations

import pytest
from yarl import URL

from utcp_http_stream.transport.keepalive import ShortKeepAlive, announced_timeout_ms, shorter_expiry_ms

A = URL("https://a.example/x")
B = URL("https://b.example:8443/y")


@pytest.mark.parametrize(
    ("header", "ms"),
    [
        (None, None),
        ("", None),
        ("max=100", None),
        ("timeout=5", 5000),
        ("timeout=3.9", 3900),
        ("timeout=5, max=100", 5000),
        ("max=100, timeout=2", 2000),
        (" Timeout = 2 ", 2000),
        ('timeout="2"', 2000),  # a quoted-string (RFC 9110 section 5.6.6)
        ("timeout=soon", None),  # unreadable: aiohttp's own behaviour
        ("timeout=", None),
        ("timeout=-1", None),
        ("timeout=0", 0),
    ],
)
def test_the_announced_timeout(header, ms):
    assert announced_timeout_ms(header) == ms


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("max=100", True),
        ("timeout=5", True),
        ("timeout=4", True),  # exactly the pool's expiry: the client gives up first
        ("timeout=3.9", False),
        ("timeout=2", False),
        ("timeout=soon", True),
        ("timeout=0", False),
    ],
)
def test_a_connection_goes_back_to_its_pool_unless_the_server_closes_sooner(header, allowed):
    assert ShortKeepAlive(4_000).allows(A, header, 4_000) is allowed


@pytest.mark.parametrize(
    ("timeout_ms", "expiry"),
    [(1000, 750), (2000, 1500), (3000, 2250), (1500, 1000), (900, 500), (600, 250), (499, None), (0, None),
     (3999, 2750)],
)
def test_the_shorter_expiry_keeps_a_quarter_and_at_least_250_ms_in_hand(timeout_ms, expiry):
    assert shorter_expiry_ms(timeout_ms) == expiry


def test_a_server_announcing_a_shorter_timeout_is_learnt_by_origin():
    short = ShortKeepAlive(4_000)
    assert not short.allows(A, "timeout=1", 4_000)  # this connection: closed, it came from the longer pool
    assert short.expiries == {("https", "a.example", 443): 750}
    assert short.expiry_for(URL("https://a.example/other?q=1")) == 750  # any path of the origin
    assert short.expiry_for(B) is None
    assert short.allows(A, "timeout=1", 750)  # from the shorter pool: back to it


def test_an_origin_is_forgotten_when_its_timeout_goes_up_or_becomes_too_short_to_pool():
    short = ShortKeepAlive(4_000)
    short.allows(A, "timeout=2", 4_000)
    short.allows(B, "timeout=1", 4_000)
    assert short.expiry_for(A) == 1500
    assert short.allows(A, "timeout=5", 1500)
    assert short.expiry_for(A) is None
    assert not short.allows(B, "timeout=0.3", 750)  # closed after each response, through the client's pool
    assert short.expiries == {}
    short.allows(A, "max=5", 4_000)  # no timeout said: nothing learnt
    assert short.expiries == {}


def test_the_table_is_bounded():
    short = ShortKeepAlive(4_000)
    for n in range(ShortKeepAlive.MAX + 5):
        short.allows(URL(f"https://h{n}.example/"), "timeout=1", 4_000)
    assert 0 < len(short.expiries) <= ShortKeepAlive.MAX


def test_a_client_that_never_pools_learns_nothing():
    short = ShortKeepAlive(0)  # keepalive_expiry 0
    assert short.allows(A, "timeout=1", 0)
    assert short.expiries == {}
