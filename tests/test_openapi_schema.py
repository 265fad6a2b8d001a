"""openapi_schema.py: local $ref resolution, cycles cut, shared results, budget."""

from __future__ import annotations

import pytest

from utcp_http_stream.openapi_schema import SchemaError, SchemaResolver

DOCUMENT = {
    "components": {
        "schemas": {
            "Pet": {"type": "object", "properties": {"tag": {"$ref": "#/components/schemas/Tag"}}},
            "Tag": {"type": "string", "maxLength": 10},
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}},
            "A": {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
            "B": {"type": "array", "items": {"$ref": "#/components/schemas/A"}},
            "a/b~c": {"type": "integer"},
        }
    }
}


def test_refs_are_inlined_and_shared() -> None:
    resolver = SchemaResolver(DOCUMENT)
    pet = resolver.resolve({"$ref": "#/components/schemas/Pet"})
    assert pet == {"type": "object", "properties": {"tag": {"type": "string", "maxLength": 10}}}
    assert resolver.resolve({"$ref": "#/components/schemas/Pet"}) is pet


def test_escaped_pointer_and_sibling_keywords() -> None:
    resolver = SchemaResolver(DOCUMENT)
    assert resolver.resolve({"$ref": "#/components/schemas/a~1b~0c", "description": "n"}) == {
        "type": "integer",
        "description": "n",
    }


def test_cycles_are_cut() -> None:
    resolver = SchemaResolver(DOCUMENT)
    node = resolver.resolve({"$ref": "#/components/schemas/Node"})
    assert node["properties"]["next"] == {
        "description": "recursive reference to #/components/schemas/Node (not expanded)"
    }
    a = resolver.resolve({"$ref": "#/components/schemas/A"})
    assert a["anyOf"][0]["items"]["description"] == "recursive reference to #/components/schemas/A (not expanded)"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("#/components/schemas/Missing", "points at nothing"),
        ("other.yaml#/Pet", "is not local"),
        ("https://example.com/s.json", "is not local"),
    ],
)
def test_unresolvable_refs(ref: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        SchemaResolver(DOCUMENT).resolve({"type": "object", "properties": {"x": {"$ref": ref}}})


def test_exponential_expansion_is_refused() -> None:
    schemas = {"S0": {"type": "string"}}
    for n in range(1, 30):
        ref = {"$ref": f"#/components/schemas/S{n - 1}"}
        schemas[f"S{n}"] = {"type": "object", "properties": {"a": ref, "b": ref}}
    resolver = SchemaResolver({"components": {"schemas": schemas}}, max_nodes=10_000)
    # Shared results make the DAG itself cheap...
    resolver.resolve({"$ref": "#/components/schemas/S29"})
    # ...but a document whose references are cut every time cannot hide behind sharing.
    with pytest.raises(SchemaError, match="more than 10"):
        SchemaResolver({"components": {"schemas": schemas}}, max_nodes=10).resolve({"$ref": "#/components/schemas/S3"})
