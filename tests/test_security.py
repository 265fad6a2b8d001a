import pytest

from utcp_http_stream.errors import InsecureUrlError, TemplateError
from utcp_http_stream.security import (
    check_header,
    check_url,
    is_loopback_host,
    origin_of,
    printable_excerpt,
    redact_headers,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    "host,expected",
    [
        ("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.255.0.9", True), ("::1", True),
        ("[::1]", True), ("::ffff:127.0.0.1", True), ("localhost.evil.example", False), ("evil-localhost", False),
        ("128.0.0.1", False), ("0.0.0.0", False), ("10.0.0.1", False), ("", False), (None, False),
    ],
)
def test_loopback(host, expected):
    assert is_loopback_host(host) is expected


def test_check_url_policy():
    assert check_url("https://example.com/x")
    assert check_url("http://127.0.0.1:8080/")
    with pytest.raises(InsecureUrlError, match="plain http"):
        check_url("http://example.com/")
    with pytest.raises(InsecureUrlError, match="loopback"):
        check_url("http://127.0.0.1/", loopback_allowed=False)
    with pytest.raises(InsecureUrlError, match="not an absolute"):
        check_url("file:///etc/passwd")


def test_origin_fills_default_ports():
    assert origin_of("https://A.example/x") == ("https", "a.example", 443)
    assert origin_of("http://h:81/") == ("http", "h", 81)


def test_redaction():
    url = redact_url("https://u:pw@h.example/p?api_key=S1&x=1&Token=S2&mine=S3", extra_keys=["mine"])
    for s in ("S1", "S2", "S3", "pw"):
        assert s not in url
    assert "x=1" in url
    assert redact_headers({"Authorization": "x", "X-Custom": "y", "k": "z"}, ["K"]) == {
        "Authorization": "***", "X-Custom": "y", "k": "***"}
    assert redact_text("key is SECRETVALUE ok", ["SECRETVALUE"]) == "key is *** ok"


def test_header_guard():
    check_header("X-Ok", "fine value")
    with pytest.raises(TemplateError):
        check_header("X-Bad", "a\rb")
    with pytest.raises(TemplateError):
        check_header("Bad Name", "v")


def test_printable_excerpt_bounded_and_clean():
    text = printable_excerpt(b"line1\r\n\x1b[31mred\x00" + b"x" * 1000, limit=50)
    assert "\x1b" not in text and "\n" not in text and "\x00" not in text
    assert len(text) <= 51 and text.endswith("…")
