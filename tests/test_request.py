import json
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utcp_http_stream.errors import InsecureUrlError, TemplateError
from utcp_http_stream.request import _quote, _urlencode, build_request, find_unresolved, redirect_request
from utcp_http_stream.template import StreamableHttpCallTemplate


def make(**kw):
    kw.setdefault("url", "https://api.example.com/v1/items/{item}")
    return StreamableHttpCallTemplate(**kw)


def query(url):
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_path_parameters_are_percent_encoded_including_slash():
    r = build_request(make(), {"item": "a/b c?d#e"})
    assert urlsplit(r.url).path == "/v1/items/a%2Fb%20c%3Fd%23e"


@pytest.mark.parametrize("value,encoded", [(".", "%2E"), ("..", "%2E%2E"), ("...", "..."), ("a.b", "a.b")])
def test_dot_segments_never_collapse(value, encoded):
    r = build_request(make(), {"item": value})
    assert r.url == f"https://api.example.com/v1/items/{encoded}"


def test_missing_path_parameter_is_a_template_error_naming_it():
    with pytest.raises(TemplateError, match="missing path parameter 'item'"):
        build_request(make(), {})


def test_empty_and_none_path_parameters_refused():
    with pytest.raises(TemplateError, match="empty"):
        build_request(make(), {"item": ""})
    with pytest.raises(TemplateError, match="None"):
        build_request(make(), {"item": None})


def test_query_parameter_mapping():
    r = build_request(
        make(url="https://api.example.com/s?fixed=1"),
        {"flag": True, "off": False, "skip": None, "tags": ["a", "b"], "filt": {"k": [1, 2]}, "n": 3, "f": 0.5},
    )
    assert query(r.url) == [
        ("fixed", "1"), ("flag", "true"), ("off", "false"), ("tags", "a"), ("tags", "b"),
        ("filt", '{"k":[1,2]}'), ("n", "3"), ("f", "0.5"),
    ]


def test_mapping_order_path_body_headers_query():
    t = make(url="https://h.example/u/{id}", body_field="payload", header_fields=["X-Req"], http_method="POST")
    r = build_request(t, {"id": 7, "payload": {"a": 1}, "X-Req": "r1", "q": "rest"})
    assert r.url == "https://h.example/u/7?q=rest"
    assert r.body == b'{"a":1}'
    assert r.headers["X-Req"] == "r1"
    assert r.headers["Content-Type"] == "application/json"
    assert r.method == "POST"


def test_list_body_is_json_and_explicit_json_type_kept():
    t = make(url="https://h.example/u", body_field="b", content_type="application/vnd.x+json")
    r = build_request(t, {"b": [1, "x"]})
    assert json.loads(r.body) == [1, "x"]
    assert r.headers["Content-Type"] == "application/vnd.x+json"


def test_form_body_only_when_asked():
    t = make(url="https://h.example/u", body_field="b", content_type="application/x-www-form-urlencoded")
    r = build_request(t, {"b": {"a": "1 2", "l": ["x", "y"], "t": True}})
    assert r.body == b"a=1%202&l=x&l=y&t=true"
    with pytest.raises(TemplateError, match="form bodies must be objects"):
        build_request(t, {"b": [1, 2]})


def test_str_and_bytes_bodies_sent_as_is():
    t = make(url="https://h.example/u", body_field="b", content_type="text/plain")
    assert build_request(t, {"b": "héllo"}).body == "héllo".encode()
    assert build_request(t, {"b": b"\x00\x01"}).body == b"\x00\x01"
    assert build_request(t, {"b": "x"}).headers["Content-Type"] == "text/plain"


def test_accept_header_follows_expected_framing_unless_set():
    assert "text/event-stream" in build_request(make(stream_format="sse"), {"item": 1}).headers["Accept"]
    assert "ndjson" in build_request(make(stream_format="ndjson"), {"item": 1}).headers["Accept"]
    r = build_request(make(headers={"accept": "application/x-custom"}), {"item": 1})
    assert r.headers["accept"] == "application/x-custom"
    assert "Accept" not in r.headers


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "a\nb", "a\x00b"])
def test_header_injection_refused_from_arguments(bad):
    t = make(url="https://h.example/u", header_fields=["X-User"])
    with pytest.raises(TemplateError, match="CR, LF or NUL"):
        build_request(t, {"X-User": bad})


def test_header_injection_refused_in_static_headers_and_names():
    with pytest.raises(TemplateError):
        build_request(make(url="https://h.example/u", headers={"X-A": "v\r\n"}), {})
    with pytest.raises(TemplateError, match="not a valid HTTP token"):
        build_request(make(url="https://h.example/u", headers={"X A": "v"}), {})


def test_api_key_in_header_query_and_cookie():
    base = "https://h.example/u"
    r = build_request(make(url=base, auth={"auth_type": "api_key", "api_key": "K1", "var_name": "X-Key"}), {})
    assert r.headers["X-Key"] == "K1" and "x-key" in r.credential_headers
    r = build_request(
        make(url=base, auth={"auth_type": "api_key", "api_key": "K2", "var_name": "key", "location": "query"}),
        {"key": "attacker", "q": 1},
    )
    assert query(r.url) == [("q", "1"), ("key", "K2")]
    assert "K2" not in r.safe_url and "K2" not in repr(r)
    r = build_request(
        make(url=base, headers={"Cookie": "a=b"},
             auth={"auth_type": "api_key", "api_key": "K3", "var_name": "sid", "location": "cookie"}), {})
    assert r.headers["Cookie"] == "a=b; sid=K3"


def test_basic_auth_header():
    auth = {"auth_type": "basic", "username": "u", "password": "pw-1"}
    r = build_request(make(url="https://h.example/u", auth=auth), {})
    assert r.headers["Authorization"] == "Basic dTpwdy0x"
    assert "pw-1" in r.secrets and "dTpwdy0x" in r.secrets


@pytest.mark.parametrize(
    "kw,where",
    [
        ({"url": "https://h.example/${PATH_PART}"}, "url"),
        ({"url": "https://h.example/u", "headers": {"X-Key": "${API_KEY}"}}, "headers"),
        ({"url": "https://h.example/u", "auth": {"auth_type": "api_key", "api_key": "${API_KEY}"}}, "auth"),
    ],
)
def test_unresolved_variables_refused_naming_the_variable_to_set(kw, where):
    with pytest.raises(TemplateError) as info:
        build_request(make(**kw), {}, variable_namespace="my_api")
    msg = str(info.value)
    assert msg.startswith(where)
    assert "my__api_" in msg and "never resolved" in msg


def test_find_unresolved_walks_structures():
    assert find_unresolved({"a": ["x", {"b": "${Z}"}]}) == "Z"
    assert find_unresolved({"a": "$plain"}) is None


@pytest.mark.parametrize(
    "url",
    ["http://example.com/x", "http://localhost.evil.example/x", "http://10.0.0.1/x", "http://127.0.0.1.nip.io/"],
)
def test_plain_http_only_to_loopback(url):
    with pytest.raises(InsecureUrlError, match="plain http"):
        build_request(make(url=url), {})


@pytest.mark.parametrize(
    "url", ["http://localhost:1/x", "http://127.0.0.1/x", "http://127.8.9.10/x", "http://[::1]:80/x"]
)
def test_loopback_http_allowed(url):
    assert build_request(make(url=url), {}).url.startswith("http://")


def test_argument_cannot_change_the_host():
    r = build_request(make(url="https://h.example/{p}"), {"p": "@evil.example/x", "host": "evil.example"})
    parts = urlsplit(r.url)
    assert parts.hostname == "h.example"
    assert parts.path == "/%40evil.example%2Fx"


def test_raw_characters_in_the_template_url_are_encoded():
    r = build_request(make(url="https://h.example/a b/ü?q=x y&k=%2F"), {})
    assert r.url == "https://h.example/a%20b/%C3%BC?q=x%20y&k=%2F"
    r = build_request(make(url="https://h.example/x\r\nHost: evil/{p}"), {"p": "v"})
    assert "\r" not in r.url and "\n" not in r.url and " " not in r.url


def test_compiled_template_parts_never_go_stale():
    # Templates are mutable; the per-template cache is keyed by content.
    t = make(url="https://h.example/a", headers={"X-A": "1"})
    assert build_request(t, {}).url == "https://h.example/a"
    t.url = "https://h.example/b/{x}"
    t.headers["X-A"] = "2"
    r = build_request(t, {"x": "y"})
    assert r.url == "https://h.example/b/y" and r.headers["X-A"] == "2"
    t2 = StreamableHttpCallTemplate.model_validate(
        {**t.model_dump(), "auth": {"auth_type": "api_key", "api_key": "k", "var_name": "X-K"}}
    )
    assert build_request(t2, {"x": "y"}).headers["X-K"] == "k"
    t.headers["X-A"] = "bad\r\nvalue"
    with pytest.raises(TemplateError):
        build_request(t, {"x": "y"})


def test_secrets_and_private_headers_follow_the_raw_templates_variables():
    raw = make(url="https://h.example/u?appid=${KEY}&fmt=json",
               headers={"X-Trace": "trace-literal", "X-Custom": "Token ${TOKEN}", "X-Api-Key": "literal-key"})
    resolved = make(url="https://h.example/u?appid=app-secret-1&fmt=json",
                    headers={"X-Trace": "trace-literal", "X-Custom": "Token tok-secret-2",
                             "X-Api-Key": "literal-key"})
    r = build_request(resolved, {}, raw_template=raw)
    assert {"app-secret-1", "tok-secret-2", "Token tok-secret-2", "literal-key"} <= set(r.secrets)
    assert "trace-literal" not in r.secrets and "json" not in r.secrets
    assert {"x-custom", "x-api-key"} <= r.credential_headers and "x-trace" not in r.credential_headers
    assert "app-secret-1" not in r.safe_url and "fmt=json" in r.safe_url
    hop = redirect_request(r, 307, "https://other.example/land")
    assert set(hop.headers) >= {"X-Trace"} and not {"X-Custom", "X-Api-Key"} & set(hop.headers)
    # Without the raw form every header value (but the public ones) and query value is secret.
    bare = build_request(resolved, {})
    assert {"trace-literal", "json", "app-secret-1"} <= set(bare.secrets)
    assert "x-trace" in bare.credential_headers


_TEXT = st.one_of(
    st.text(), st.text(alphabet="AZaz09_.~-", max_size=12), st.sampled_from(["", ".", "..", "a b", "%41"])
)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(st.tuples(_TEXT, _TEXT), max_size=4))
def test_quoting_writes_what_the_standard_library_writes(text: str, pairs: list[tuple[str, str]]) -> None:
    # The fast paths (one match for a text with nothing to escape; one join
    # for the query) must not change a byte of what is sent.
    assert _quote(text) == quote(text, safe="")
    assert _urlencode(pairs) == urlencode(pairs, quote_via=quote)


def test_query_and_form_keys_that_are_not_text_are_written_as_text() -> None:
    template = StreamableHttpCallTemplate(url="https://api.example.com/x")
    assert build_request(template, {1: "a b", 2.5: ["x", None, "y"]}).url == "https://api.example.com/x?1=a%20b&2.5=x&2.5=y"
    form = StreamableHttpCallTemplate(
        url="https://api.example.com/x", http_method="POST", body_field="b",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert build_request(form, {"b": {7: "v~"}}).body == b"7=v~"


def test_a_json_body_is_written_as_compact_json() -> None:
    template = StreamableHttpCallTemplate(url="https://api.example.com/x", http_method="POST", body_field="b")
    value = {"q": "h\u00e9llo \u2603", "n": [1, 2.5, None, True], "big": 10**30}
    request = build_request(template, {"b": value})
    assert request.body == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "https://api.example.com/v1/items"},
        {"url": "https://api.example.com/v1/items?fixed=1&b=%20", "headers": {"X-A": "1", "accept": "text/plain"}},
        {"url": "https://api.example.com/x", "stream_format": "sse", "header_fields": ["X-Trace"], "body_field": "b"},
        {"url": "https://api.example.com/x", "auth": {"auth_type": "api_key", "api_key": "k-1", "var_name": "key",
                                                      "location": "query"}},
        {"url": "https://api.example.com/x?a=1", "auth": {"auth_type": "api_key", "api_key": "k-2",
                                                          "var_name": "sid", "location": "cookie"}},
        {"url": "https://api.example.com/x", "auth": {"auth_type": "basic", "username": "u", "password": "p"}},
    ],
)
def test_a_call_without_arguments_is_the_request_the_template_alone_makes(fields):
    # With no arguments the request is the one worked out when the template
    # was compiled: it must equal what the arguments' path assembles from {}.
    from utcp_http_stream.request import _assemble, _compiled

    template = StreamableHttpCallTemplate.model_validate(fields)
    url, headers, body = _assemble(template, _compiled(template, None), {})
    for args in ({}, None):
        first = build_request(template, args)
        assert (first.url, first.headers, first.body) == (url, headers, body)
        first.headers["X-Changed"] = "by the caller"  # each request has its own headers
        assert "X-Changed" not in build_request(template, args).headers


def test_a_call_without_arguments_still_needs_its_path_parameters():
    with pytest.raises(TemplateError, match="missing path parameter 'item'"):
        build_request(make(), None)


def test_a_template_that_expects_anything_adds_no_accept_header():
    # No Accept means "anything" (RFC 9110 section 12.5.1); aiohttp still
    # writes its own "Accept: */*" (tests/e2e/test_request_wire.py).
    assert "Accept" not in build_request(make(), {"item": 1}).headers
    assert build_request(make(stream_format="json"), {"item": 1}).headers["Accept"] == "application/json"
