"""Host names and addresses as the network will see them. Pure: no I/O.

A host is judged after it has been put in the one form every resolver agrees
on (ARCHITECTURE section 6): the IDNA/UTS-46 mapping (``localhost`` spelled
with U+217C SMALL ROMAN NUMERAL FIFTY, in fullwidth letters or with soft hyphens all become
``localhost``), trailing dots dropped (``。`` included), every IPv4 spelling
the C library accepts (``127.1``, ``0x7f.0.0.1``, ``2130706433``, octal
``0177.0.0.1``) written as a dotted quad, IPv6 compressed and IPv4-mapped IPv6
written as its IPv4 address. What the connection may reach is then a rule on
(name, address): :func:`check_connect_address`.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import idna

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.settings import ENV_PREFIX

__all__ = [
    "LOCAL_ADDRESSES_HINT",
    "canonical_host",
    "check_connect_address",
    "host_address",
    "is_local_address",
    "is_loopback_name",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: How the user lifts the address rule (one wording, used by every message).
LOCAL_ADDRESSES_HINT = (
    f"for local development set the client setting allow_local_addresses ({ENV_PREFIX}ALLOW_LOCAL_ADDRESSES=1)"
)

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# One part of an inet_aton spelling; the group that matched names its base.
_IPV4_PART = re.compile(r"^(?:0[xX](?P<hex>[0-9a-fA-F]*)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))$")
_IPV4_BASES = {"hex": 16, "oct": 8, "dec": 10}
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f/\\?#@%\[\]<>^|]")
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def _ipv4_number(part: str) -> int:
    """The number one part of an IPv4 spelling stands for (decimal, octal
    ``0...`` or hex ``0x...``); ``ValueError`` when it is none of them."""
    match = _IPV4_PART.match(part)
    if match is None:
        raise ValueError(part)
    base = match.lastgroup
    return int(match[base] or "0", _IPV4_BASES[base])


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of an IPv4 spelling ``inet_aton`` accepts (1 to 4 parts,
    decimal, octal or hex), or None when ``host`` is not one."""
    parts = host.split(".")
    if len(parts) > 4:
        return None
    try:
        *head, last = map(_ipv4_number, parts)
        # Each leading part is one byte; the last one fills the bytes left.
        packed = bytes(head) + last.to_bytes(5 - len(parts), "big")
    except (ValueError, OverflowError):
        return None
    return ipaddress.IPv4Address(packed)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)
def canonical_host(host: str) -> str:
    """The host as resolvers see it: lower-case ASCII (A-labels), no trailing
    dot, IPv4 as a dotted quad, IPv6 compressed without brackets or zone.

    Raises ``ValueError`` for a host no resolver should be given (empty,
    spaces, control characters, labels IDNA refuses).
    """
    text = host.strip()
    if ":" in text or text.startswith("["):  # IPv6, bracketed or not (urlsplit's hostname drops them)
        return _canonical_ipv6(host, text)
    return _canonical_name(host, _mapped_name(host, text))


def _mapped_name(host: str, text: str) -> str:
    """``text`` (``host`` stripped) after the UTS-46 mapping: lower case,
    every full stop a ``.``, no trailing dot; ``ValueError`` when IDNA
    refuses it or it is empty or holds a character no host may have."""
    try:
        mapped = idna.uts46_remap(text.translate(_DOTS), std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise ValueError(f"{host!r} is not a valid host name ({exc})") from None
    mapped = mapped.translate(_DOTS).lower().rstrip(".")
    if not mapped or _FORBIDDEN.search(mapped):
        raise ValueError(f"{host!r} is not a valid host name")
    return mapped


def _canonical_name(host: str, mapped: str) -> str:
    """A mapped host as a dotted quad when it spells an IPv4 address, else
    as A-labels; ``ValueError`` for a name ending in a number."""
    address = _parse_ipv4(mapped)
    if address is not None:
        return str(address)
    if _NUMERIC_LABEL.match(mapped.rsplit(".", 1)[-1]):
        # Ends in a number but is no IPv4 address (WHATWG: a failure): a
        # resolver would guess, so nothing is guessed here.
        raise ValueError(f"{host!r} is neither an IPv4 address nor a host name")
    return ".".join(_a_label(host, label) for label in mapped.split("."))


def _canonical_ipv6(host: str, text: str) -> str:
    """An IPv6 literal (``text``, in brackets or not) compressed, without its
    zone; an IPv4-mapped one as the IPv4 address."""
    bracketed = text.startswith("[") and text.endswith("]")
    literal = text[1:-1] if bracketed else text
    try:
        return str(_unmapped(ipaddress.IPv6Address(literal.split("%", 1)[0])))
    except ValueError:
        raise ValueError(f"{host!r} is not {'an IPv6 address' if bracketed else 'a valid host'}") from None


def _a_label(host: str, label: str) -> str:
    """One label of an already mapped host name in ASCII (its A-label)."""
    if not label:
        raise ValueError(f"{host!r} has an empty label")
    if label.isascii():
        return label
    try:
        return idna.alabel(label).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{host!r} is not a valid host name ({exc})") from None


def host_address(host: str) -> IPAddress | None:
    """The IP address a canonical host spells, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_name(host: str | None) -> bool:
    """True for ``localhost`` and loopback literals, whatever their spelling."""
    if not host:
        return False
    try:
        canonical = canonical_host(host)
    except ValueError:
        return False
    return _is_loopback_canonical(canonical)


def _is_loopback_canonical(host: str) -> bool:
    """A canonical host that is ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    address = host_address(host)
    return address is not None and address.is_loopback


def is_local_address(address: IPAddress) -> bool:
    """Loopback, unspecified (``0.0.0.0/8``, ``::``) or link-local (cloud
    metadata at 169.254.169.254, fe80::/10): the addresses only a loopback
    name may lead to (and, for the latter two, none at all)."""
    address = _unmapped(address)
    if address.is_loopback or address.is_unspecified or address.is_link_local:
        return True
    return isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK


def check_connect_address(requested_host: str, ip: str, allow_local: bool) -> None:
    """Refuse a connection from ``requested_host`` (as written in the URL) to
    ``ip`` (what resolved it, DNS-cache hits included) when a non-loopback
    name would reach a loopback, unspecified or link-local address.

    Private ranges (10/8, 172.16/12, 192.168/16) stay allowed. The message is
    the same whatever the port, so a refusal tells a remote manual nothing
    about which local ports are open.
    """
    if allow_local:
        return
    try:
        address = _unmapped(ipaddress.ip_address(ip.split("%", 1)[0]))
    except ValueError:
        raise InsecureUrlError(f"refused to connect to host {requested_host!r}: unusable address") from None
    if _may_reach(requested_host, address):
        return
    raise InsecureUrlError(
        f"refused to connect to host {requested_host!r}: it leads to a loopback, unspecified or link-local "
        "address, which only localhost, 127.x or [::1] written in the URL may reach (DNS rebinding and "
        f"server-side request forgery guard); {LOCAL_ADDRESSES_HINT}"
    )


def _may_reach(requested_host: str, address: IPAddress) -> bool:
    """The address rule: True unless ``address`` is local; a loopback address
    only from a loopback name, an unspecified or link-local one never."""
    return not is_local_address(address) or (address.is_loopback and is_loopback_name(requested_host))
