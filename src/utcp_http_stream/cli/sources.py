"""What a MANUAL or URL argument names, and the manual name it gets.

A URL may be typed without its scheme (``127.0.0.1:8765/utcp``): when no
file of that name exists and it starts with a host, ``http://`` is assumed
for loopback and ``https://`` otherwise. The manual name is the namespace of
the manual's ``${VAR}``s (UtcpClient looks up ``${API_KEY}`` of manual
``weather`` as ``weather_API_KEY``), so every message about a variable says
where the name came from: ``--name``, a call template's ``name`` field, a
UTCP manual's file name (a manual has no name field), or a URL's host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

__all__ = ["ManualName", "check_source_url", "manual_name", "name_from_url", "source_url"]

_SCHEMES = ("http://", "https://")
_FILE_SUFFIXES = (".json", ".yaml", ".yml", ".env", ".txt")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")
# Labels that say nothing about whose API it is (api.openai.com is "openai").
_GENERIC_LABELS = {"www", "api", "apis"}


def source_url(text: str) -> str | None:
    """``text`` as a URL, or None when it names a file.

    With a scheme it is a URL as typed. Without one it is a URL only when no
    such file exists and it starts with ``host:port``, ``localhost``, an IP
    address or a dotted host name followed by a path.
    """
    if text.startswith(_SCHEMES):
        return text
    host = None if _names_file(text) else _leading_host(text)
    if host is None:
        return None
    from utcp_http_stream.security import is_loopback_host

    scheme = "http://" if is_loopback_host(host) else "https://"
    return scheme + text


def _names_file(text: str) -> bool:
    """Whether ``text`` is a file the user meant: one that exists, or a name
    with a file suffix (never guessed to be a host)."""
    return Path(text).exists() or text.lower().endswith(_FILE_SUFFIXES)


def _leading_host(text: str) -> str | None:
    """The host ``text`` (no scheme) starts with, when it clearly is one:
    ``host:port``, ``localhost``, an IP address, or a dotted name followed by
    a path."""
    head, slash, _rest = text.partition("/")
    match = _HOST_PORT.match(head)
    if match is None or not _is_clearly_host(match.group("host"), match.group("port"), has_path=bool(slash)):
        return None
    return match.group("host")


def _is_clearly_host(host: str, port: str | None, *, has_path: bool) -> bool:
    """A ``host[:port]`` is clearly one with a port, as a local host, or as
    a dotted name followed by a path (``example.com`` alone may be a file)."""
    return bool(port) or _is_local(host) or ("." in host and has_path)


def check_source_url(url: str) -> None:
    """The plugin's URL policy, before anything is registered: a refused URL
    is an :class:`InsecureUrlError` (exit 2, as for ``request``)."""
    from utcp_http_stream.security import check_url

    check_url(url, what="manual URL")


@dataclass(frozen=True)
class ManualName:
    """A manual name and how it was chosen (said in messages about variables)."""

    value: str
    #: ``"--name"``, ``"its name field"``, ``"the file name demo.json"``, ``"the URL's host"``
    origin: str

    def explain(self) -> str:
        """``the manual name 'x' comes from ...; pass --name to choose another``"""
        if self.origin == "--name":
            return f"the manual name {self.value!r} was given with --name"
        return f"the manual name {self.value!r} comes from {self.origin}; pass --name to choose another"


def _sanitized(name: str) -> str:
    """As UtcpClient registers it: non-word characters become ``_``."""
    return re.sub(r"[^\w]", "_", name) or "manual"


def manual_name(
    explicit: str | None, *, template_name: object = None, path: str | None = None, url: str | None = None
) -> ManualName:
    """The name to register a manual under: ``--name``; else a call template's
    ``name``; else a manual file's name without its suffix; else the URL's host."""
    if explicit:
        return ManualName(_sanitized(explicit), "--name")
    if isinstance(template_name, str) and template_name:
        return ManualName(_sanitized(template_name), "the call template's name field")
    if path is not None:
        return ManualName(_sanitized(Path(path).stem), f"the file name {path}, as a UTCP manual has no name field")
    if url is not None:
        return ManualName(name_from_url(url), f"the URL's host {urlsplit(url).netloc}")
    return ManualName("manual", "the default")


def name_from_url(url: str) -> str:
    """A short name for a manual at ``url``: the telling label of its host
    (``api.openai.com`` -> ``openai``, ``tools.example.com`` -> ``tools``), or
    ``local`` plus the port for loopback and IP addresses (``local8765``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or _is_local(host):
        return _sanitized(f"local{_port(parts) or ''}")
    return _sanitized(_telling_label(host))


def _telling_label(host: str) -> str:
    """The first label of ``host`` that is neither generic (``api``) nor the
    top-level domain; the first label when every one is generic."""
    labels = host.split(".")[:-1] or [host]  # without the top-level domain, unless that is all there is
    return next((label for label in labels if label not in _GENERIC_LABELS), labels[0])


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _is_local(host: str) -> bool:
    """``localhost`` or an IP address: a host without a telling name."""
    return host == "localhost" or _is_ip(host)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
