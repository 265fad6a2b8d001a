"""openapi.py: the conversion rules of ARCHITECTURE section 7, document in,
manual out, no server needed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utcp_http_stream.openapi import convert_openapi, is_openapi

DOC_URL = "https://api.example.com/specs/openapi.json"


def doc(paths: dict, **top: Any) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "4.5"}, "paths": paths, **top}


def op(**fields: Any) -> dict:
    return {"responses": {"200": {"description": "ok"}}, **fields}


def convert(document: dict, source_url: str | None = DOC_URL):
    return convert_openapi(document, source_url=source_url)


def template(document: dict, source_url: str | None = DOC_URL) -> Any:
    result = convert(document, source_url)
    assert len(result.manual.tools) == 1, result.errors
    return result.manual.tools[0].tool_call_template


def test_detection() -> None:
    assert is_openapi({"openapi": "3.2.0"}) and is_openapi({"swagger": "2.0"})
    assert not is_openapi({"tools": []}) and not is_openapi([1])


def test_names_descriptions_tags_and_version() -> None:
    result = convert(doc({
        "/a/{id}": {"get": op(operationId="getA", summary="Get an A", tags=["x", "y"])},
        "/b/{id}/c": {"delete": op(description="Long text")},
    }))  # fmt: skip
    tools = result.manual.tools
    assert [t.name for t in tools] == ["getA", "delete_b_id_c"]
    assert [t.description for t in tools] == ["Get an A", "Long text"]
    assert tools[0].tags == ["x", "y"] and tools[1].tags == []
    assert result.manual.manual_version == "4.5"


def test_duplicate_names_keep_the_first() -> None:
    result = convert(doc({"/a": {"get": op(operationId="same")}, "/b": {"get": op(operationId="same")}}))
    assert [t.tool_call_template.url for t in result.manual.tools] == ["https://api.example.com/a"]
    assert result.errors == ["GET /b: skipped: a tool named 'same' already exists"]


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        (None, "https://api.example.com/items"),  # no servers means "/"
        ([{"url": "/v2"}], "https://api.example.com/v2/items"),
        ([{"url": "v2/"}], "https://api.example.com/specs/v2/items"),  # a relative reference
        ([{"url": "https://other.example/base/"}], "https://other.example/base/items"),
        (
            [{"url": "https://{region}.example/{v}", "variables": {"region": {"default": "eu"}, "v": {"default": 1}}}],
            "https://eu.example/1/items",
        ),
    ],
)
def test_servers(servers: Any, expected: str) -> None:
    extra = {"servers": servers} if servers is not None else {}
    assert template(doc({"/items": {"get": op()}}, **extra)).url == expected


def test_operation_and_path_servers_override() -> None:
    document = doc(
        {"/a": {"servers": [{"url": "https://p.example"}], "get": op(), "post": op(servers=[{"url": "https://o.example"}])}},
        servers=[{"url": "https://top.example"}],
    )
    urls = [t.tool_call_template.url for t in convert(document).manual.tools]
    assert urls == ["https://p.example/a", "https://o.example/a"]


def test_relative_server_without_a_document_url_is_an_error() -> None:
    result = convert(doc({"/a": {"get": op()}}), source_url=None)
    assert result.manual.tools == [] and "relative" in result.errors[0]


def test_inputs_from_parameters_and_body() -> None:
    document = doc({
        "/shops/{shop}/orders": {
            "parameters": [{"name": "shop", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": op(
                parameters=[
                    {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}, "description": "no effect"},
                    {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
                requestBody={"required": True, "content": {
                    "multipart/form-data": {"schema": {}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Order"}},
                }},
            ),
        }
    }, components={"schemas": {"Order": {"type": "object", "properties": {"n": {"type": "integer"}}}}})  # fmt: skip
    tool = convert(document).manual.tools[0]
    inputs = tool.inputs.model_dump(exclude_none=True)
    assert inputs == {
        "type": "object",
        "properties": {
            "shop": {"type": "string"},
            "dry_run": {"type": "boolean", "description": "no effect"},
            "X-Trace": {"type": "string"},
            "body": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
        "required": ["shop", "X-Trace", "body"],
    }
    t = tool.tool_call_template
    assert (t.url, t.http_method) == ("https://api.example.com/shops/{shop}/orders", "POST")
    assert (t.body_field, t.content_type, t.header_fields) == ("body", "application/json", ["X-Trace"])


def test_form_body_content_type() -> None:
    body = {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
    assert template(doc({"/f": {"post": op(requestBody=body)}})).content_type == "application/x-www-form-urlencoded"


def test_multipart_only_body_is_skipped_and_named() -> None:
    body = {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}
    result = convert(doc({"/up": {"post": op(operationId="up", requestBody=body)}, "/ok": {"get": op()}}))
    assert [t.name for t in result.manual.tools] == ["get_ok"]
    assert result.errors[0].startswith("POST /up: skipped: its request body can only be multipart/form-data")


@pytest.mark.parametrize(
    ("content", "stream_format", "accept"),
    [
        ({"text/event-stream": {}}, "sse", None),
        ({"application/x-ndjson": {}}, "ndjson", None),
        ({"application/jsonl": {}}, "ndjson", None),
        ({"application/json-seq": {}}, "json_seq", None),
        ({"application/json": {}}, "json", None),
        ({"application/json": {}, "application/problem+json": {}}, "json", None),
        ({"text/plain": {}}, "text", None),
        ({"application/octet-stream": {}}, "bytes", None),
        ({"image/png": {}}, "bytes", None),
        ({"*/*": {}}, "auto", None),
        ({}, "auto", None),
        ({"application/json": {}, "text/event-stream": {}}, "auto", "application/json, text/event-stream"),
    ],
)
def test_media_types_to_stream_format(content: dict, stream_format: str, accept: str | None) -> None:
    responses = {"200": {"description": "ok", "content": content}, "400": {"content": {"text/html": {}}}}
    t = template(doc({"/s": {"get": {"responses": responses}}}))
    assert t.stream_format == stream_format
    assert (t.headers or {}).get("Accept") == accept


def test_item_schema_and_json_schema_become_outputs() -> None:
    item = {"type": "object", "properties": {"delta": {"type": "string"}}}
    sse_event = {"type": "object", "properties": {"data": {"type": "string", "contentSchema": item}}}
    result = convert(doc({
        "/jsonl": {"get": {"responses": {"200": {"content": {"application/jsonl": {"itemSchema": item}}}}}},
        "/sse": {"get": {"responses": {"200": {"content": {"text/event-stream": {"itemSchema": sse_event}}}}}},
        "/json": {"get": {"responses": {"200": {"content": {"application/json": {"schema": item}}}}}},
        "/bin": {"get": {"responses": {"200": {"content": {"image/png": {}}}}}},
    }))  # fmt: skip
    outputs = [t.outputs.model_dump(exclude_none=True) for t in result.manual.tools]
    assert outputs == [{"type": "array", "items": item}, {"type": "array", "items": item}, item, {}]


def test_unsupported_method_and_broken_parameter_cost_only_their_operation() -> None:
    result = convert(doc({
        "/t": {"trace": op(), "get": op(parameters=[{"in": "query"}])},
        "/ok": {"get": op()},
    }))  # fmt: skip
    assert [t.name for t in result.manual.tools] == ["get_ok"]
    assert result.errors == [
        "GET /t: skipped: a parameter needs 'name' and 'in'",
        "TRACE /t: skipped: HTTP method TRACE is not supported by streamable_http tools",
    ]


def test_schema_fields_utcp_would_refuse_are_dropped_not_the_tool() -> None:
    schema = {"type": "object", "examples": {"a": {"value": 1}}, "required": True, "minimum": "x", "nullable": True}
    parameter = {"name": "p", "in": "query", "schema": schema}
    tool = convert(doc({"/s": {"get": op(parameters=[parameter])}})).manual.tools[0]
    assert tool.inputs.model_dump(exclude_none=True)["properties"]["p"] == {"type": "object", "nullable": True}


def test_remote_document_may_not_point_tools_at_loopback() -> None:
    document = doc({"/a": {"get": op()}, "/b": {"get": op(servers=[{"url": "https://tools.example"}])}},
                   servers=[{"url": "http://127.0.0.1:8080"}])  # fmt: skip
    result = convert(document, source_url="https://docs.example/openapi.json")
    assert [t.tool_call_template.url for t in result.manual.tools] == ["https://tools.example/b"]
    assert len(result.errors) == 1 and "loopback" in result.errors[0]
    # The same document served from loopback may.
    assert len(convert(document, source_url="http://127.0.0.1:8080/openapi.json").manual.tools) == 2


def test_a_document_without_paths_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'paths'"):
        convert_openapi({"openapi": "3.1.0"})


def test_yaml_integer_response_codes() -> None:
    responses = {200: {"content": {"text/event-stream": {}}}}
    assert template(doc({"/s": {"get": {"responses": responses}}})).stream_format == "sse"


def test_swagger_host_base_path_and_scheme() -> None:
    document = {
        "swagger": "2.0", "info": {"version": "1"}, "host": "api.example.org", "basePath": "/v1",
        "schemes": ["http", "https"], "produces": ["text/event-stream"],
        "paths": {"/s": {"get": {"responses": {"200": {"schema": {"type": "string"}}}}}},
    }  # fmt: skip
    t = template(document)
    assert (t.url, t.stream_format) == ("https://api.example.org/v1/s", "sse")
    del document["host"]
    assert template(document, "https://docs.example/swagger.json").url == "https://docs.example/v1/s"


# -- hostile documents ------------------------------------------------------------------------

_KEYS = st.sampled_from([
    "parameters", "requestBody", "responses", "content", "schema", "itemSchema", "$ref", "servers", "url",
    "variables", "security", "name", "in", "required", "200", "application/json", "text/event-stream",
    "multipart/form-data", "type", "properties", "items", "operationId", "tags", "default", "flows",
])  # fmt: skip
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["#/paths", "#/x", "query", "header", "/"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(operation=st.dictionaries(_KEYS, _VALUES, max_size=6), top=st.dictionaries(_KEYS, _VALUES, max_size=3))
def test_a_malformed_operation_costs_only_itself(operation: dict, top: dict) -> None:
    document = doc({"/bad/{x}": {"get": operation}, "/good": {"get": op(operationId="good")}}, **top)
    result = convert(document)  # never raises
    if not top:
        assert "good" in [tool.name for tool in result.manual.tools]


def test_openapi_32_additional_operations_and_querystring_are_named() -> None:
    querystring = {"name": "filter", "in": "querystring", "required": True, "content": {"application/json": {}}}
    result = convert(doc({
        "/a": {"additionalOperations": {"LINK": op()}, "get": op(parameters=[querystring])},
        "/b": {"query": op()},
        "/ok": {"get": op(parameters=[{"name": "c", "in": "cookie", "schema": {"type": "string"}}])},
    }))  # fmt: skip
    assert [t.name for t in result.manual.tools] == ["get_ok"]
    assert list(result.manual.tools[0].inputs.properties) == []  # an optional cookie is left out
    assert result.errors == [
        "GET /a: skipped: its required querystring parameter 'filter' cannot be sent",
        "LINK /a: skipped: HTTP method LINK is not supported by streamable_http tools",
        "QUERY /b: skipped: HTTP method QUERY is not supported by streamable_http tools",
    ]
