"""The one Content-Type -> framing map, and the Accept header per framing."""

from __future__ import annotations

import pytest

from utcp_http_stream.decoders import FRAMINGS, accept_header_for, charset_of, framing_for_content_type
from utcp_http_stream.decoders import framing as framing_module


@pytest.mark.parametrize(
    ("content_type", "framing"),
    [
        ("application/x-ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/json-lines", "ndjson"),
        ("application/x-jsonlines", "ndjson"),
        ("Application/X-NDJSON; charset=utf-8", "ndjson"),
        ("text/event-stream", "sse"),
        ("text/event-stream;charset=UTF-8", "sse"),
        (" TEXT/EVENT-STREAM ", "sse"),
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("application/problem+json", "json"),
        ("application/vnd.api+json; ext=bulk", "json"),
        ("text/x-custom+json", "json"),  # the suffix wins over text/*
        ("text/plain", "text"),
        ("text/csv; charset=latin-1", "text"),
        ("text/html", "text"),
        ("application/octet-stream", "bytes"),
        ("image/png", "bytes"),
        ("application/xml", "bytes"),
        ("application/jsonx", "bytes"),
        ("", "bytes"),
        (None, "bytes"),
        ("garbage", "bytes"),
    ],
)
def test_framing_for_content_type(content_type: str | None, framing: str) -> None:
    assert framing_for_content_type(content_type) == framing
    assert framing in FRAMINGS


def test_the_table_is_extensible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(framing_module.MEDIA_TYPE_FRAMINGS, "application/x-custom-stream", "ndjson")
    assert framing_for_content_type("application/x-custom-stream; v=2") == "ndjson"


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        ("text/plain; charset=utf-8", "utf-8"),
        ("text/plain;charset=ISO-8859-1", "iso-8859-1"),
        ('text/plain; charset="Shift_JIS"', "shift_jis"),
        ("text/plain; format=flowed; CHARSET = windows-1252 ", "windows-1252"),
        ("text/plain; charset=", None),
        ("text/plain", None),
        ("text/plain; charsetx=utf-8", None),
        ("", None),
        (None, None),
    ],
)
def test_charset_of(content_type: str | None, charset: str | None) -> None:
    assert charset_of(content_type) == charset


def test_accept_headers() -> None:
    assert accept_header_for("sse") == "text/event-stream"
    assert accept_header_for("ndjson").startswith("application/x-ndjson, application/jsonl;q=0.9")
    assert accept_header_for("ndjson").endswith("application/json;q=0.5")
    assert accept_header_for("json") == "application/json"
    assert accept_header_for("text") == "text/plain, text/*;q=0.9"
    assert accept_header_for("bytes") == "application/octet-stream, */*;q=0.5"
    assert accept_header_for("auto") == "*/*"
    for framing in FRAMINGS:
        assert accept_header_for(framing)


def test_every_accepted_media_type_maps_back_to_its_framing() -> None:
    for framing in ("sse", "ndjson", "json"):
        first = accept_header_for(framing).split(",")[0]
        assert framing_for_content_type(first) == framing


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown stream_format 'xml'"):
        accept_header_for("xml")


def test_framings() -> None:
    assert FRAMINGS == ("ndjson", "sse", "json_seq", "json", "text", "bytes")
