"""Host normalisation and the address rule (``hosts.py``), and a fuzz test of
the URL policy with hostile hosts."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.hosts import canonical_host, check_connect_address, is_local_address, is_loopback_name
from utcp_http_stream.request import PreparedRequest, redirect_request
from utcp_http_stream.security import check_url


@pytest.mark.parametrize(
    "host,canonical",
    [
        ("\u217cocalhost", "localhost"),
        ("\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("localhost\u3002", "localhost"),
        ("local\u00adhost", "localhost"),
        ("lo\u200bcalhost", "localhost"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("\uff11\uff12\uff17.0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("B\u00fccher.Example", "xn--bcher-kva.example"),
        ("api.example.com", "api.example.com"),
        ("a_b.example", "a_b.example"),
    ],
)
def test_canonical_host(host, canonical):
    assert canonical_host(host) == canonical


@pytest.mark.parametrize(
    "host", ["", " ", "a b", "a\x00b", "a/b", "[::1", "[nothex]", "256.256.256.256.", ".", "1.2.3.4.5", "a.0x"]
)
def test_unusable_hosts_are_refused(host):
    with pytest.raises(ValueError):
        canonical_host(host)


def test_ipv4_spellings_agree_with_the_c_library():
    for spelling in ("127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "10.0x10.1", "0xa.1.2", "017777777777"):
        assert canonical_host(spelling) == socket.inet_ntoa(socket.inet_aton(spelling))


@pytest.mark.parametrize(
    "host,ip,allowed",
    [
        ("localhost", "127.0.0.1", True),
        ("localhost", "::1", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("\u217cocalhost", "127.0.0.1", True),  # the same name, spelled otherwise
        ("api.example.com", "93.184.216.34", True),
        ("intranet.corp", "10.1.2.3", True),  # private ranges stay allowed
        ("intranet.corp", "192.168.1.1", True),
        ("intranet.corp", "172.16.0.1", True),
        ("evil.example", "127.0.0.1", False),
        ("evil.example", "127.9.9.9", False),
        ("evil.example", "::1", False),
        ("evil.example", "::ffff:127.0.0.1", False),
        ("evil.example", "0.0.0.0", False),
        ("evil.example", "0.1.2.3", False),
        ("evil.example", "::", False),
        ("evil.example", "169.254.169.254", False),
        ("evil.example", "fe80::1%2", False),
        ("localhost", "169.254.169.254", False),
        ("localhost", "0.0.0.0", False),
        ("localhost.evil.example", "127.0.0.1", False),
        ("", "127.0.0.1", False),
    ],
)
def test_check_connect_address(host, ip, allowed):
    if allowed:
        check_connect_address(host, ip, allow_local=False)
    else:
        with pytest.raises(InsecureUrlError, match="allow_local_addresses"):
            check_connect_address(host, ip, allow_local=False)
    check_connect_address(host, ip, allow_local=True)  # the setting lifts the rule


def test_refusal_does_not_name_the_address():
    with pytest.raises(InsecureUrlError) as caught:
        check_connect_address("evil.example", "127.0.0.1", allow_local=False)
    assert "127.0.0.1" not in str(caught.value)


# -- fuzz: hostile hosts against the URL policy -----------------------------------------------

_DANGEROUS = ["localhost", "127.0.0.1", "127.0.0.2", "127.255.255.254", "0.0.0.0", "169.254.169.254", "169.254.0.1"]
_CONFUSABLE = {
    "l": ["l", "\u217c", "\uff4c", "L", "\uff2c"],
    "o": ["o", "\uff4f", "O", "\u2092"],
    "c": ["c", "\uff43", "\u217d", "C"],
    "a": ["a", "\uff41", "A", "\u00aa"],
    "h": ["h", "\uff48", "\u02b0", "H"],
    "s": ["s", "\uff53", "\u02e2", "S"],
    "t": ["t", "\uff54", "T", "\u209c"],
    ".": [".", "\u3002", "\uff0e", "\uff61"],
    "0": ["0", "\uff10"],
    "1": ["1", "\uff11", "\u2460"],
}


@st.composite
def ipv4_spelling(draw, address: ipaddress.IPv4Address) -> str:
    """One of the spellings inet_aton accepts for ``address``."""
    value = int(address)
    parts = draw(st.integers(1, 4))
    numbers = [(value >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    numbers.append(value & ((1 << (8 * (5 - parts))) - 1))
    out = []
    for number in numbers:
        form = draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
        out.append({"dec": str(number), "hex": hex(number), "HEX": "0X" + format(number, "X"),
                    "oct": "0" + format(number, "o")}[form])
    return ".".join(out)


@st.composite
def hostile_host(draw) -> str:
    kind = draw(st.sampled_from(["name", "ipv4", "ipv6"]))
    if kind == "name":
        host = draw(st.sampled_from(["localhost", "127.0.0.1", "0.0.0.0", "169.254.169.254"]))
        host = "".join(draw(st.sampled_from(_CONFUSABLE.get(ch, [ch]))) for ch in host)
        for _ in range(draw(st.integers(0, 2))):  # invisible characters UTS-46 removes
            at = draw(st.integers(0, len(host)))
            host = host[:at] + draw(st.sampled_from(["\u00ad", "\u200b", "\u2060", "\ufeff"])) + host[at:]
    elif kind == "ipv4":
        address = ipaddress.IPv4Address(draw(st.sampled_from(_DANGEROUS[1:])))
        host = draw(ipv4_spelling(address))
    else:
        v4 = ipaddress.IPv4Address(draw(st.sampled_from(_DANGEROUS[1:])))
        address = draw(st.sampled_from([
            "::1", "0:0:0:0:0:0:0:1", "::", "0::0", "fe80::1", "FE80::abcd", "febf::1",
            f"::ffff:{v4}", f"::FFFF:{int(v4) >> 16:x}:{int(v4) & 0xFFFF:x}", "0000:0000::0001",
        ]))
        zone = draw(st.sampled_from(["", "%25eth0", "%251"]))
        return f"[{address}{zone}]"
    dots = draw(st.sampled_from(["", ".", "\u3002", "\uff0e"]))
    return host + dots


@given(host=hostile_host(), scheme=st.sampled_from(["http", "https"]), port=st.sampled_from(["", ":8080", ":443"]))
@settings(max_examples=200, deadline=None)
def test_no_hostile_host_reaches_local_addresses_from_a_remote_origin(host, scheme, port):
    url = f"{scheme}://{host}{port}/admin"
    with pytest.raises(InsecureUrlError):
        check_url(url, loopback_allowed=False, what="tool URL")
    # Nor as a redirect from a remote origin.
    remote = PreparedRequest("GET", "https://evil.example/start", {})
    with pytest.raises(InsecureUrlError):
        redirect_request(remote, 302, url)


@given(host=hostile_host())
@settings(max_examples=200, deadline=None)
def test_a_hostile_host_is_either_refused_or_canonical_local(host):
    """Whatever spelling gets through normalisation is recognised for what it is."""
    try:
        canonical = canonical_host(host)
    except ValueError:
        return
    try:
        address = ipaddress.ip_address(canonical)
    except ValueError:
        assert canonical == "localhost"
        assert is_loopback_name(host)
        return
    assert is_local_address(address)


@given(label=st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True))
@settings(max_examples=100, deadline=None)
def test_ordinary_remote_hosts_stay_accepted(label):
    url = f"https://{label}.example.com/x"
    assert check_url(url, loopback_allowed=False) == url
