"""The pure half of redirect handling: what the next hop's request is."""

import pytest

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.request import build_request, redirect_request
from utcp_http_stream.template import StreamableHttpCallTemplate


def prepared(**kw):
    args = kw.pop("_args", {})
    kw.setdefault("url", "https://a.example/start")
    return build_request(StreamableHttpCallTemplate(**kw), args)


def test_same_origin_keeps_credentials():
    r = prepared(auth={"auth_type": "api_key", "api_key": "K", "var_name": "X-Key"})
    nxt = redirect_request(r, 307, "/next?x=1")
    assert nxt.url == "https://a.example/next?x=1" and nxt.headers["X-Key"] == "K"


def test_cross_origin_drops_every_credential():
    r = prepared(url="https://a.example/s", headers={"Cookie": "c=1"},
                 auth={"auth_type": "api_key", "api_key": "K", "var_name": "key", "location": "query"})
    nxt = redirect_request(r, 302, "https://a.example:8443/s2")  # other port: other origin
    assert "K" not in nxt.url and "Cookie" not in nxt.headers
    b = prepared(auth={"auth_type": "basic", "username": "u", "password": "p"})
    assert "Authorization" not in redirect_request(b, 308, "https://b.example/").headers


@pytest.mark.parametrize(
    "status,method,expected",
    [(301, "POST", "GET"), (302, "POST", "GET"), (303, "PUT", "GET"), (303, "HEAD", "HEAD"),
     (307, "POST", "POST"), (308, "PATCH", "PATCH"), (302, "PUT", "PUT")],
)
def test_method_rewrites(status, method, expected):
    r = prepared(http_method=method, body_field="b", content_type="text/plain", _args={"b": "x"})
    nxt = redirect_request(r, status, "/n")
    assert nxt.method == expected
    assert (nxt.body is None) == (expected == "GET" and method != "GET")


def test_hops_are_revalidated():
    with pytest.raises(InsecureUrlError, match="refused to follow a redirect"):
        redirect_request(prepared(), 302, "http://b.example/")
    with pytest.raises(InsecureUrlError, match="loopback"):
        redirect_request(prepared(), 302, "https://127.0.0.1/")
    local = prepared(url="http://127.0.0.1:9/x")
    assert redirect_request(local, 302, "http://localhost:10/y").url == "http://localhost:10/y"
