"""Which proxy the environment sends a URL through. Pure: reads the
environment, never the network.

With the ``trust_env`` client setting, aiohttp sends a request through the
proxy that ``HTTP_PROXY`` / ``HTTPS_PROXY`` names for the URL's scheme,
unless ``NO_PROXY`` covers its host (the stdlib's rule, which aiohttp uses).
The address guard needs to know whether that happens (the proxy, not the
tool's host, is then what is connected to), and error messages name the
proxy, without its credentials, so that a proxy's refusal is not blamed on
the tool's server.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

__all__ = ["env_proxy", "proxy_variable"]


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` as ``scheme://host:port``
    (credentials left out), or None when no proxy applies to it."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme.lower())
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host = proxy_parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{proxy_parts.port}" if proxy_parts.port else ""
    return f"{proxy_parts.scheme}://{host}{port}"


def proxy_variable(url: str) -> str:
    """The environment variable that names the proxy for ``url``'s scheme."""
    return "HTTPS_PROXY" if urlsplit(url).scheme.lower() == "https" else "HTTP_PROXY"
