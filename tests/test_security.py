import pytest

from utcp_http_stream.errors import HttpStatusError, InsecureUrlError, StreamDecodeError, TemplateError
from utcp_http_stream.security import (
    MESSAGE_LIMIT,
    bare_token,
    bound_text,
    check_header,
    check_url,
    is_loopback_host,
    origin_of,
    printable_excerpt,
    redact_headers,
    redact_text,
    redact_url,
    scrub_error,
    secret_forms,
    variable_values,
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


# -- issue 11: header rules, secrets, scrubbing ------------------------------------------



@pytest.mark.parametrize(
    "name", ["Content-Length", "transfer-encoding", "Host", "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive",
             "Proxy-Authorization", "proxy-connection"],
)
def test_framing_and_hop_by_hop_headers_are_refused(name):
    with pytest.raises(TemplateError, match="framing and hop-by-hop"):
        check_header(name, "1")


def test_userinfo_is_never_printed_even_with_a_slash_in_the_password():
    for url in ("https://user:pa/ss@h.example/x", "https://u:p@h.example/", "https://tok/en@h.example/?q=1",
                "//user:pw/x@h.example/"):
        shown = redact_url(url)
        assert "pa/ss" not in shown and "p@" not in shown and "tok/en" not in shown and "pw/x" not in shown
        assert "h.example" in shown


def test_bare_tokens_and_encodings_are_secret_forms():
    assert bare_token("Bearer sk-1") == "sk-1" and bare_token("sk-1") is None
    forms = secret_forms(["Bearer a/b+c=="])
    assert {"Bearer a/b+c==", "a/b+c==", "a%2Fb%2Bc%3D%3D"} <= set(forms)
    assert secret_forms(["ab"]) == ()


def test_variable_values_line_up_raw_and_resolved():
    assert variable_values("Bearer ${TOKEN}", "Bearer sk-1") == ["sk-1"]
    assert variable_values("k=$A&j=${B}", "k=1x&j=22") == ["1x", "22"]
    assert variable_values("literal", "literal") == []
    assert variable_values("${A}-x", "something else") == ["something else"]  # cannot line up: all of it


def test_a_secret_cut_by_an_excerpt_leaks_no_prefix():
    secret = "sk-live-0123456789"
    for cut in range(3, len(secret)):
        for marker in ("…", "...", ""):
            text = redact_text(f"body: xxx {secret[:cut]}{marker}", [secret])
            assert secret[:3] not in text, (cut, marker, text)


def test_bound_keeps_head_and_tail():
    text = "head " + "a" * 2_000_000 + " tail: set timeout"
    bounded = bound_text(text)
    assert len(bounded) <= MESSAGE_LIMIT + 10
    assert bounded.startswith("head ") and bounded.endswith("set timeout")


def test_scrub_error_masks_attributes_and_drops_the_chain():
    try:
        try:
            raise OSError("connect to https://h/?key=SECRET-VALUE failed")
        except OSError:
            raise HttpStatusError(400, "Bad", "https://h/?x=SECRET-VALUE", "echo SECRET-VALUE " + "z" * 5000) from None
    except HttpStatusError as exc:
        error = scrub_error(exc, ["SECRET-VALUE"])
    assert "SECRET" not in str(error) + error.url + error.detail
    assert len(str(error)) <= MESSAGE_LIMIT + 10 and len(error.detail) <= MESSAGE_LIMIT
    assert error.__context__ is None and error.__cause__ is None
    decode = scrub_error(StreamDecodeError("bad line: 'SECRET-VAL...'", "line 1", "SECRET-VAL..."), ["SECRET-VALUE"])
    assert "SECRET" not in str(decode) + decode.excerpt
