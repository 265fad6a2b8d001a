"""documents.py: which URLs discovery tries, and bytes -> document -> manual."""

from __future__ import annotations

import time

import pytest

from utcp_http_stream.documents import (
    MAX_EXPANDED_NODES,
    DocumentError,
    discovery_urls,
    load_document,
    manual_from_document,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", ["http://127.0.0.1:8000/utcp", "http://127.0.0.1:8000/openapi.json"]),
        ("https://api.example/", ["https://api.example/utcp", "https://api.example/openapi.json"]),
        ("https://api.example/utcp", ["https://api.example/utcp"]),
        ("https://api.example/v1/openapi.yaml", ["https://api.example/v1/openapi.yaml"]),
        ("https://api.example/?key=1", ["https://api.example/?key=1"]),
    ],
)
def test_discovery_urls(url: str, expected: list[str]) -> None:
    assert discovery_urls(url) == expected


def test_json_and_yaml() -> None:
    assert load_document(b'\xef\xbb\xbf{"openapi": "3.1.0"}') == {"openapi": "3.1.0"}
    assert load_document(b"openapi: 3.2.0\ninfo: {version: 1}\n", "application/yaml") == {
        "openapi": "3.2.0",
        "info": {"version": 1},
    }


def test_yaml_dates_stay_strings_and_no_python_tags() -> None:
    assert load_document(b"released: 2025-09-19\n") == {"released": "2025-09-19"}
    with pytest.raises(DocumentError, match="YAML"):
        load_document(b"x: !!python/object/apply:os.system ['echo hi']\n")


def test_json_labelled_document_must_be_json() -> None:
    with pytest.raises(DocumentError, match="not valid JSON: Expecting"):
        load_document(b"openapi: 3.1.0\n", "application/json")


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"just words", b""])
def test_a_scalar_is_not_a_document(body: bytes) -> None:
    with pytest.raises(DocumentError, match="not valid JSON, nor a YAML mapping"):
        load_document(body, "text/html")


def test_invalid_utf8_and_deep_nesting() -> None:
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_document(b"{\xff}")
    with pytest.raises(DocumentError, match="nested too deeply"):
        load_document(b"[" * 100_000 + b"]" * 100_000)


def test_modest_aliases_are_fine() -> None:
    text = b"base: &base {type: string}\na: *base\nb: *base\nlist: &l [1, 2]\nc: *l\n"
    assert load_document(text) == {
        "base": {"type": "string"}, "a": {"type": "string"}, "b": {"type": "string"}, "list": [1, 2], "c": [1, 2],
    }  # fmt: skip


def test_alias_bomb_is_refused_before_it_is_built() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 12)]
    started = time.perf_counter()
    with pytest.raises(DocumentError, match=f"more than {MAX_EXPANDED_NODES} nodes"):
        load_document("\n".join(lines).encode())
    assert time.perf_counter() - started < 1


def test_manual_from_document_dispatches() -> None:
    openapi = {"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}
    result = manual_from_document(openapi, source_url="http://127.0.0.1:1/openapi.json")
    assert [t.name for t in result.manual.tools] == ["get_a"]
    manual = {"tools": [{"name": "t", "tool_call_template": {"call_template_type": "streamable_http",
                                                              "url": "http://127.0.0.1:1/t"}}]}  # fmt: skip
    assert [t.name for t in manual_from_document(manual).manual.tools] == ["t"]
