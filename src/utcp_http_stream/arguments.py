"""Tool arguments against the tool's ``inputs`` schema, before anything is sent.

Language models often get arguments wrong. The cheapest correction is an
immediate :class:`TemplateError` naming the missing or mistyped argument and
what the schema expects, phrased so the model can fix its next call, instead
of a request the server rejects (or worse, accepts) later.

Deliberately not the whole of JSON Schema: the top-level ``required`` list and
the JSON type of each top-level property, nothing nested, no ``format`` or
ranges. An integer passes for ``number`` (and ``3.0`` for ``integer``, as JSON
Schema says); ``nullable: true`` (OpenAPI 3.0) or a ``null`` type allows
``None``; values are never converted. Pure: no I/O, no new dependency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from utcp_http_stream.errors import TemplateError
from utcp_http_stream.security import printable_excerpt

__all__ = [
    "JSON_TYPES",
    "allowed_types",
    "argument_problems",
    "check_arguments",
    "describe_inputs",
    "json_type_of",
    "value_from_text",
]

#: The JSON Schema type names this module understands.
JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")

# Longest message a model or a person gets; long schemas are cut, not dumped.
_MESSAGE_LIMIT = 1000
_VALUE_EXCERPT = 40


# Checked in order: bool before int (a bool is an int to isinstance).
_PYTHON_TO_JSON: tuple[tuple[Any, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (Mapping, "object"),
    (list | tuple, "array"),
)


def json_type_of(value: Any) -> str:
    """The JSON type name of a Python value (``bool`` is ``boolean``, never
    ``integer``); a value JSON cannot hold gets its Python type name."""
    if value is None:
        return "null"
    for python_type, name in _PYTHON_TO_JSON:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def allowed_types(prop: Any) -> frozenset[str] | None:
    """The JSON types a property schema allows, or None when it does not
    constrain the type (no ``type``, or one this module does not know)."""
    if not isinstance(prop, Mapping):
        return None
    declared = prop.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list) and declared and all(isinstance(item, str) for item in declared):
        types = set(declared)
    else:
        return None
    if not types <= set(JSON_TYPES):
        return None
    if prop.get("nullable") is True:
        types.add("null")
    return frozenset(types)


def _matches(value: Any, types: frozenset[str]) -> bool:
    actual = json_type_of(value)
    if actual in types:
        return True
    if actual == "integer" and "number" in types:
        return True
    return actual == "number" and "integer" in types and float(value).is_integer()


def _type_text(types: frozenset[str]) -> str:
    ordered = [name for name in JSON_TYPES if name in types]
    return " or ".join(ordered)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return printable_excerpt(text, _VALUE_EXCERPT)


def argument_problems(schema: Mapping[str, Any] | None, args: Any) -> list[str]:
    """What is wrong with ``args`` for ``schema``, one phrase per problem
    (empty when nothing is)."""
    if not isinstance(args, Mapping):
        return [f"the arguments must be a JSON object, got {json_type_of(args)}"]
    if not isinstance(schema, Mapping):
        return []
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    problems = [_missing(name, properties) for name in _required_names(schema) if name not in args]
    for name, value in args.items():
        types = allowed_types(properties.get(name))
        if types is not None and not _matches(value, types):
            problems.append(_wrong_type(name, value, types))
    return problems


def _required_names(schema: Mapping[str, Any]) -> list[str]:
    """The names a schema's ``required`` lists (strings only), in order."""
    required = schema.get("required")
    return [name for name in required if isinstance(name, str)] if isinstance(required, list) else []


def _missing(name: str, properties: Mapping[str, Any]) -> str:
    types = allowed_types(properties.get(name))
    kind = f" ({_type_text(types)})" if types else ""
    return f"missing required argument {name!r}{kind}"


def _wrong_type(name: str, value: Any, types: frozenset[str]) -> str:
    if value is None:
        return f"argument {name!r} is null, but it must be {_type_text(types)}"
    return f"argument {name!r} must be {_type_text(types)}, got {json_type_of(value)} {_shown(value)}"


def check_arguments(tool_name: str, schema: Mapping[str, Any] | None, args: Any) -> None:
    """Raise :class:`TemplateError` when ``args`` miss a required argument or
    give one of the wrong JSON type; the message names each problem, lists
    what the tool takes, and says that nothing was sent."""
    problems = argument_problems(schema, args)
    if not problems:
        return
    message = (
        f"invalid arguments for tool {tool_name!r}: {'; '.join(problems)}. "
        f"The tool takes: {describe_inputs(schema)}. Nothing was sent; call the tool again with corrected arguments."
    )
    raise TemplateError(printable_excerpt(message, _MESSAGE_LIMIT))


def describe_inputs(schema: Mapping[str, Any] | None) -> str:
    """``prompt (string, required), max_tokens (integer)``; ``none`` for a
    tool without properties."""
    if not isinstance(schema, Mapping):
        return "none"
    properties = schema.get("properties")
    required_names = set(_required_names(schema))
    if not isinstance(properties, Mapping) or not properties:
        return ", ".join(f"{name} (required)" for name in sorted(required_names)) or "none"
    parts = [_describe_input(name, prop, name in required_names) for name, prop in properties.items()]
    parts.extend(f"{name} (required)" for name in sorted(required_names - set(properties)))
    return ", ".join(parts)


def _describe_input(name: str, prop: Any, required: bool) -> str:
    """``name (integer 1|2|3, required)``: the types, the enum values, whether required."""
    types = allowed_types(prop)
    kind = _type_text(types) if types else "any"
    enum = prop.get("enum") if isinstance(prop, Mapping) else None
    if isinstance(enum, list) and enum:
        kind += " " + "|".join(str(item) for item in enum)
    return f"{name} ({kind}{', required' if required else ''})"


def value_from_text(text: str, prop: Mapping[str, Any] | None) -> Any:
    """A command-line ``key=value`` value as the type the property asks for.

    A string property keeps the text as typed (``job_id=42`` is ``"42"``);
    integer, number, boolean, null, object and array properties parse it as
    JSON and must get that type (a ``ValueError`` saying what was expected
    otherwise). Without a declared type the text is JSON when it parses,
    else a string.
    """
    types = allowed_types(prop)
    if types is not None and "string" in types:
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if types is None:
            return text
        raise ValueError(f"expects {_type_text(types)}, got {printable_excerpt(text, _VALUE_EXCERPT)!r}") from None
    if types is not None and not _matches(value, types):
        raise ValueError(f"expects {_type_text(types)}, got {json_type_of(value)} {_shown(value)}")
    return value
