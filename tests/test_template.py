import pytest
from pydantic import ValidationError
from utcp.data.call_template import CallTemplateSerializer
from utcp.exceptions import UtcpSerializerValidationError

from utcp_http_stream import register
from utcp_http_stream.template import (
    ReconnectPolicy,
    StreamableHttpCallTemplate,
    StreamableHttpCallTemplateSerializer,
)


def make(**kw):
    kw.setdefault("url", "https://api.example.com/x")
    return StreamableHttpCallTemplate(**kw)


def test_defaults_follow_the_contract():
    t = make()
    assert t.call_template_type == "streamable_http"
    assert t.http_method == "GET"
    assert t.content_type == "application/octet-stream"
    assert t.chunk_size == 4096
    assert t.timeout == 60000
    # Unset: the client's connect_timeout setting applies, 5000 ms unless the user changed it (the contract's
    # default; docs/ARCHITECTURE-NOTES.md).
    assert t.connect_timeout is None
    assert t.idle_timeout is None
    assert t.stream_format == "auto"
    assert t.select is None
    assert t.sse_event_types is None
    assert t.stop_marker == "[DONE]"
    assert t.max_item_bytes == 8 * 1024 * 1024
    assert t.on_malformed == "error"
    assert t.reconnect is None
    assert t.aggregate == "auto"
    assert isinstance(t.name, str) and t.name


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "post", " patch "])
def test_all_six_methods_accepted(method):
    assert make(http_method=method).http_method == method.strip().upper()


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValidationError, match="http_method 'TRACE' is not supported"):
        make(http_method="TRACE")


@pytest.mark.parametrize("field", ["chunk_size", "timeout", "connect_timeout", "max_item_bytes", "idle_timeout"])
def test_negative_sizes_refused(field):
    with pytest.raises(ValidationError, match=field):
        make(**{field: -1})


def test_placeholder_in_host_refused():
    with pytest.raises(ValidationError, match=r"placeholder.*host"):
        make(url="https://{tenant}.example.com/x")


def test_placeholder_in_path_ok_and_listed():
    t = make(url="https://api.example.com/users/{user}/items/{item}?x=1")
    assert t.path_placeholders() == ["user", "item"]


@pytest.mark.parametrize("url", ["ftp://x/y", "not a url", "https:///path", "https://h:99999/"])
def test_bad_urls_refused(url):
    with pytest.raises(ValidationError):
        make(url=url)


def test_url_with_unresolved_variable_in_host_parses():
    # UtcpClient validates before it substitutes variables.
    assert make(url="${BASE_URL}/utcp").url == "${BASE_URL}/utcp"


def test_credentials_in_url_refused():
    with pytest.raises(ValidationError, match="credentials"):
        make(url="https://user:pw@example.com/")


def test_select_must_be_a_json_pointer():
    assert make(select="/choices/0/delta/content").select == "/choices/0/delta/content"
    with pytest.raises(ValidationError, match="select"):
        make(select="choices/0")
    with pytest.raises(ValidationError, match="select"):
        make(select="/a~2b")


def test_select_with_bytes_format_refused():
    with pytest.raises(ValidationError, match="select applies to JSON items"):
        make(select="/a", stream_format="bytes")


def test_reconnect_policy_validated():
    t = make(reconnect={"max_attempts": 2, "initial_delay_ms": 10, "max_delay_ms": 100})
    assert t.reconnect == ReconnectPolicy(max_attempts=2, initial_delay_ms=10, max_delay_ms=100)
    with pytest.raises(ValidationError):
        make(reconnect={"max_attempts": 0})
    with pytest.raises(ValidationError, match="max_delay_ms"):
        make(reconnect={"initial_delay_ms": 100, "max_delay_ms": 10})
    with pytest.raises(ValidationError):
        make(reconnect={"bogus": 1})


@pytest.mark.parametrize("value", ["error", "skip", "raw"])
def test_on_malformed_values(value):
    assert make(on_malformed=value).on_malformed == value


def test_enums_refuse_unknown_values():
    for field, bad in [("on_malformed", "ignore"), ("stream_format", "xml"), ("aggregate", "sum")]:
        with pytest.raises(ValidationError, match=field):
            make(**{field: bad})


def test_body_field_cannot_also_be_a_placeholder_or_header():
    with pytest.raises(ValidationError, match="body_field"):
        make(url="https://h/x/{id}", body_field="id")
    with pytest.raises(ValidationError, match="body_field"):
        make(body_field="a", header_fields=["a"])


def test_legacy_type_name_accepted():
    assert make(call_template_type="http_stream").call_template_type == "http_stream"


def test_serializer_round_trip_and_readable_errors():
    register()
    s = StreamableHttpCallTemplateSerializer()
    t = s.validate_dict({"name": "m", "call_template_type": "streamable_http", "url": "https://a.example/x",
                         "auth": {"auth_type": "basic", "username": "u", "password": "p"}})
    d = s.to_dict(t)
    assert s.validate_dict(d) == t
    assert CallTemplateSerializer().validate_dict(d).url == t.url
    with pytest.raises(UtcpSerializerValidationError) as info:
        s.validate_dict({"call_template_type": "streamable_http", "url": "https://a/x", "http_method": "BREW"})
    assert "http_method" in str(info.value) and "Traceback" not in str(info.value)


def test_repr_never_shows_secrets():
    t = make(
        url="https://h.example/x?api_key=QSECRET",
        headers={"Authorization": "Bearer HSECRET", "X-Trace": "visible"},
        auth={"auth_type": "api_key", "api_key": "KSECRET", "var_name": "X-Key"},
    )
    for text in (repr(t), str(t), repr(t.auth), str(t.auth)):
        for secret in ("QSECRET", "HSECRET", "KSECRET"):
            assert secret not in text
    assert "X-Trace" in repr(t) and "visible" not in repr(t)
    b = make(auth={"auth_type": "basic", "username": "u", "password": "PSECRET"})
    o = make(auth={"auth_type": "oauth2", "token_url": "https://t/", "client_id": "c", "client_secret": "CSECRET"})
    assert "PSECRET" not in repr(b) and "CSECRET" not in repr(o)
    # serialization is unchanged
    assert b.model_dump()["auth"]["password"] == "PSECRET"


def test_numbers_are_strict_and_max_result_bytes_has_its_default():
    assert make().max_result_bytes == 64 * 1024 * 1024
    for field in ("timeout", "connect_timeout", "idle_timeout", "chunk_size", "max_item_bytes", "max_result_bytes"):
        with pytest.raises(ValidationError):
            make(**{field: True})
    with pytest.raises(ValidationError):
        ReconnectPolicy(max_attempts=True)
