"""Unknown keys of a call template: found, with the field meant, and warned about once."""

from __future__ import annotations

import logging

from utcp.data.call_template import CallTemplateSerializer

from utcp_http_stream.template import StreamableHttpCallTemplate, StreamableHttpCallTemplateSerializer
from utcp_http_stream.template_fields import UnknownField, unknown_fields

KNOWN = StreamableHttpCallTemplate.model_fields


def test_misspellings_get_the_field_meant():
    found = unknown_fields(
        {"url": "https://x", "stream_fromat": "sse", "idle_timout": 5, "Stream-Format": "sse", "methd": "GET"}, KNOWN
    )
    assert [(field.name, field.suggestion) for field in found] == [
        ("stream_fromat", "stream_format"),
        ("idle_timout", "idle_timeout"),
        ("Stream-Format", "stream_format"),
        ("methd", "http_method"),
    ]
    assert found[0].advice() == "unknown field 'stream_fromat' (did you mean 'stream_format'?)"


def test_settings_a_manual_may_not_make_say_where_they_live():
    verify, proxy, retries = unknown_fields({"verify": False, "proxies": {}, "max_retries": 3}, KNOWN)
    assert verify.suggestion is None and "ca_bundle" in verify.advice()
    assert "trust_env" in proxy.advice()
    assert "reconnect" in retries.advice()


def test_unrelated_keys_are_named_without_a_guess_and_known_keys_pass():
    assert unknown_fields({"zzzz": 1}, KNOWN) == [UnknownField("zzzz", None, None)]
    assert unknown_fields({"zzzz": 1}, KNOWN)[0].advice() == "unknown field 'zzzz', ignored"
    every_field = dict.fromkeys(KNOWN, None)
    assert unknown_fields(every_field, KNOWN) == []


def test_the_serializer_warns_once_per_unknown_key_and_utcps_round_trip_stays_quiet(caplog):
    caplog.set_level(logging.WARNING, logger="utcp_http_stream")
    template = StreamableHttpCallTemplateSerializer().validate_dict(
        {"name": "svc", "call_template_type": "streamable_http", "url": "https://a.example/x", "stream_fromat": "sse"}
    )
    assert template.stream_format == "auto"  # ignored, as before; but not silently
    warnings = [r.getMessage() for r in caplog.records if r.name == "utcp_http_stream.template"]
    assert warnings == ["call template 'svc': unknown field 'stream_fromat' (did you mean 'stream_format'?)"]

    caplog.clear()
    serializer = CallTemplateSerializer()  # what UtcpClient does to substitute variables, on every call
    again = serializer.validate_dict(serializer.to_dict(template))
    assert again == template
    assert [r for r in caplog.records if r.name == "utcp_http_stream.template"] == []
