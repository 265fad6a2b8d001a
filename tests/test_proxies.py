"""proxies: which proxy the environment names for a URL, printable (no
credentials), by the stdlib's rule that aiohttp's ``trust_env`` follows.
(The conftest clears the machine's own proxy variables before each test.)"""

from __future__ import annotations

import pytest

from utcp_http_stream.proxies import env_proxy, proxy_variable


def test_no_proxy_variable_means_no_proxy():
    assert env_proxy("https://api.example.org/x") is None


def test_the_proxy_for_the_urls_scheme_without_its_credentials(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://agent:pw@proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.corp:8080")
    assert env_proxy("https://api.example.org/x") == ("http://proxy.corp:3128", "agent", "pw", "HTTPS_PROXY")
    assert env_proxy("http://10.1.2.3:9/x") == ("http://plain.corp:8080", None, None, "HTTP_PROXY")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "https://[::1]:8443/x",
                                 "http://127.1.2.3/x", "https://LOCALHOST./x"])
def test_loopback_never_goes_through_a_proxy(monkeypatch, url):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    assert env_proxy(url) is None


def test_credentials_are_percent_decoded(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://dom%5Cagent:p%40ss%3Aword@proxy.corp:3128")
    expected = ("http://proxy.corp:3128", "dom\\agent", "p@ss:word", "HTTPS_PROXY")
    assert env_proxy("https://api.example.org/x") == expected


def test_no_proxy_covers_a_host_and_its_subdomains(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "example.org,localhost")
    assert env_proxy("https://api.example.org/x") is None
    assert env_proxy("https://api.example.com/x").url == "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("url", "direct"),
    [
        ("https://10.1.2.3/x", True),
        ("https://10.255.0.1:8443/x", True),
        ("https://172.16.9.9/x", True),
        ("https://[fd00::5]/x", True),
        ("https://11.0.0.1/x", False),
        ("https://172.32.0.1/x", False),
        ("https://[2001:db8::1]/x", False),
        ("https://ten.example.org/x", False),  # a name: the proxy resolves it, so only NO_PROXY's names apply
    ],
)
def test_no_proxy_networks_cover_address_literals(monkeypatch, url, direct):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8, 172.16.0.0/12 ,fd00::/8,.svc,not/a-network,10.0.0.0/99")
    assert (env_proxy(url) is None) is direct


def test_no_proxy_networks_follow_the_variable(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("no_proxy", "10.0.0.0/8")
    assert env_proxy("https://10.1.2.3/x") is None
    monkeypatch.setenv("no_proxy", "192.168.0.0/16")
    assert env_proxy("https://10.1.2.3/x") is not None and env_proxy("https://192.168.1.1/x") is None


def test_a_proxy_without_scheme_or_port_and_an_ipv6_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp")
    assert env_proxy("https://api.example.org/").url == "http://proxy.corp"
    monkeypatch.setenv("HTTPS_PROXY", "http://[::1]:3128")
    assert env_proxy("https://api.example.org/").url == "http://[::1]:3128"


def test_the_variable_named_in_messages():
    assert proxy_variable("https://a.example/") == "HTTPS_PROXY"
    assert proxy_variable("http://127.0.0.1/") == "HTTP_PROXY"


def test_all_proxy_serves_every_scheme_without_its_own_variable(monkeypatch):
    """curl, requests and httpx read ALL_PROXY; aiohttp's trust_env does not."""
    monkeypatch.setenv("ALL_PROXY", "http://all.corp:3128")
    assert env_proxy("https://api.example.org/x") == ("http://all.corp:3128", None, None, "ALL_PROXY")
    assert env_proxy("http://10.1.2.3/x").variable == "ALL_PROXY"
    monkeypatch.setenv("HTTPS_PROXY", "http://tls.corp:3128")  # the scheme's own variable comes first
    assert env_proxy("https://api.example.org/x") == ("http://tls.corp:3128", None, None, "HTTPS_PROXY")
    assert env_proxy("http://10.1.2.3/x").url == "http://all.corp:3128"


def test_all_proxy_obeys_no_proxy_and_never_takes_loopback(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "http://all.corp:3128")
    monkeypatch.setenv("NO_PROXY", "example.org,10.0.0.0/8")
    assert env_proxy("https://api.example.org/x") is None
    assert env_proxy("https://10.9.9.9/x") is None
    assert env_proxy("http://127.0.0.1:8080/x") is None
    assert env_proxy("https://api.example.com/x").url == "http://all.corp:3128"


def test_the_variable_is_named_as_it_is_spelled(monkeypatch):
    """The stdlib prefers the lower-case spelling; messages name the one used."""
    monkeypatch.setenv("all_proxy", "http://lower.corp:1")
    assert env_proxy("https://api.example.org/x") == ("http://lower.corp:1", None, None, "all_proxy")
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.corp:2")
    monkeypatch.setenv("https_proxy", "http://lower.corp:2")
    assert env_proxy("https://api.example.org/x") == ("http://lower.corp:2", None, None, "https_proxy")


def test_a_changed_all_proxy_is_read_again(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "http://one.corp:1")
    assert env_proxy("https://api.example.org/x").url == "http://one.corp:1"
    monkeypatch.setenv("ALL_PROXY", "http://two.corp:2")
    assert env_proxy("https://api.example.org/x").url == "http://two.corp:2"
    monkeypatch.delenv("ALL_PROXY")
    assert env_proxy("https://api.example.org/x") is None


@pytest.mark.parametrize(
    ("proxy", "http"),
    [("socks5h://127.0.0.1:1080", False), ("socks5://u:p@127.0.0.1:1080", False), ("SOCKS4://gw:1080", False),
     ("http://proxy.corp:3128", True), ("https://proxy.corp:443", True), ("proxy.corp:3128", True)],
)
def test_which_proxies_are_spoken_to_over_http(monkeypatch, proxy, http):
    """Only an HTTP proxy can be used (aiohttp has no SOCKS); the transport
    refuses the others rather than going around them."""
    monkeypatch.setenv("ALL_PROXY", proxy)
    found = env_proxy("https://api.example.org/x")
    assert found is not None and found.speaks_http is http
    assert "p@" not in found.url and ":p" not in found.url
