"""Which proxy the environment sends a URL through. Pure: reads the
environment, never the network.

With the ``trust_env`` client setting on, a request goes through the proxy
that ``HTTP_PROXY`` / ``HTTPS_PROXY`` names for its URL's scheme, else the one
``ALL_PROXY`` names (as curl, requests and httpx read it), unless ``NO_PROXY``
covers its host: the stdlib's rule (``urllib.request``), which is also
aiohttp's, plus ``ALL_PROXY``, which aiohttp ignores. Each variable may be
spelled in lower case, which wins, as in the stdlib. Only HTTP proxies can be
used (:attr:`EnvProxy.speaks_http`); the transport refuses the others by name.

The plugin applies the rule itself, per request, rather than through
aiohttp's ``trust_env``: that one also sends ``~/.netrc`` passwords to
whatever host a manual names, and fails every call whose template sets its
own Authorization header for such a host.

``NO_PROXY`` may also list networks (``10.0.0.0/8``, ``fd00::/8``), as curl
and Go read it and as Kubernetes and corporate setups write it: a URL whose
host is an address in one goes direct (the stdlib reads such an entry as a
name, which no host matches). Loopback hosts (``localhost``, 127.0.0.0/8,
``::1``) never go through a proxy, as in Go's net/http: the proxy cannot
reach this machine's loopback, and plain HTTP through it would show the
request, headers and all, to the proxy. The address guard uses the same
answer (through a proxy, the proxy is what is connected to), and error
messages name the proxy by :attr:`EnvProxy.url`, which has no credentials.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import urllib.request
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from utcp_http_stream.hosts import is_loopback_name

__all__ = ["EnvProxy", "UnusableProxy", "env_proxy", "proxy_variable"]


class EnvProxy(NamedTuple):
    """A proxy from the environment: its URL without credentials, the
    credentials its URL carried (percent-decoded; None when it had none), and
    the variable that named it, as it is spelled in the environment."""

    url: str
    user: str | None = None
    password: str | None = None
    variable: str = ""

    @property
    def speaks_http(self) -> bool:
        """Whether it is reached over HTTP (``http://`` or ``https://``): the
        only proxies aiohttp can use. ``socks5://`` and the like are not."""
        return self.url.startswith(("http://", "https://"))


class UnusableProxy(Exception):
    """The environment names, for a URL, a proxy this client cannot speak to
    (a ``socks5://`` one, say). Raised when a request would go through it;
    the transport's error map says so in the contract's words."""

    def __init__(self, proxy: EnvProxy) -> None:
        super().__init__(proxy.url)
        self.proxy = proxy


def env_proxy(url: str) -> EnvProxy | None:
    """The proxy the environment names for ``url``, or None when none applies."""
    parts = urlsplit(url)
    proxies, networks, from_variables = _proxies()
    key = parts.scheme.lower()
    proxy = proxies.get(key)
    if not proxy:
        key = "all"
        proxy = proxies.get(key)
        if not proxy:
            return None
    host = parts.hostname or ""
    if is_loopback_name(host):
        return None  # as Go's net/http: a proxy cannot reach this machine's loopback
    if from_variables:
        if urllib.request.proxy_bypass_environment(host, proxies) or _in_networks(host, networks):
            return None
    elif urllib.request.proxy_bypass(host):  # the system's settings (macOS, Windows)
        return None
    return _parse(proxy, _spelled(key))


#: The proxy variables, lower-case spelling first (the stdlib prefers it).
_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
#: The variables the answer depends on (the stdlib ignores HTTP_PROXY under
#: CGI, where REQUEST_METHOD is set).
_VARIABLES = (*_PROXY_VARIABLES, "no_proxy", "NO_PROXY", "REQUEST_METHOD")
_Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
_last: tuple[tuple[str | None, ...], dict[str, str], _Networks] = ((), {}, ())


def _proxies() -> tuple[dict[str, str], _Networks, bool]:
    """``urllib.request.getproxies()`` and the networks ``NO_PROXY`` lists,
    read again only when one of :data:`_VARIABLES` changed (it walks the whole
    environment: ~80 us, more than a small call's own work), and whether
    those variables set them."""
    global _last
    key = tuple(map(os.environ.get, _VARIABLES))
    last = _last
    if last[0] != key:
        proxies = urllib.request.getproxies()
        _last = last = (key, proxies, _networks(proxies.get("no", "")))
    return last[1], last[2], any(key[: len(_PROXY_VARIABLES)])


def _spelled(key: str) -> str:
    """How the variable for ``getproxies()``'s ``key`` is spelled in the
    environment (lower case when both are set: that one is used)."""
    lower = f"{key}_proxy"
    return lower if os.environ.get(lower) else lower.upper()


def _networks(no_proxy: str) -> _Networks:
    """The ``address/prefix`` entries of ``no_proxy`` (others are names, or not understood: skipped)."""
    found = []
    for entry in no_proxy.split(","):
        entry = entry.strip()
        if "/" in entry:
            try:
                found.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
    return tuple(found)


def _in_networks(host: str, networks: _Networks) -> bool:
    """Whether ``host`` is an address literal inside one of ``networks``."""
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: the proxy resolves it, and NO_PROXY's names apply
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=8)
def _parse(proxy: str, variable: str) -> EnvProxy:
    proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host = proxy_parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{proxy_parts.port}" if proxy_parts.port else ""
    user = unquote(proxy_parts.username) if proxy_parts.username is not None else None
    password = unquote(proxy_parts.password) if proxy_parts.password is not None else None
    return EnvProxy(f"{proxy_parts.scheme.lower()}://{host}{port}", user, password, variable)


def proxy_variable(url: str) -> str:
    """The environment variable that names the proxy for ``url``'s scheme."""
    return "HTTPS_PROXY" if urlsplit(url).scheme.lower() == "https" else "HTTP_PROXY"
