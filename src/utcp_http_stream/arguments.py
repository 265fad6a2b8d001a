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


# Checked in order: bool before int (a bool is an int to isinstance), None
# last (the rarest argument).
_PYTHON_TO_JSON: tuple[tuple[Any, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (Mapping, "object"),
    (list | tuple, "array"),
    (type(None), "null"),
)

#: The allowed types of a schema whose ``type`` is one name (the usual case).
_SINGLE_TYPES = {name: frozenset({name}) for name in JSON_TYPES}
_NULL = frozenset({"null"})


def json_type_of(value: Any) -> str:
    """The JSON type name of a Python value (``bool`` is ``boolean``, never
    ``integer``); a value JSON cannot hold gets its Python type name."""
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
    types = _SINGLE_TYPES.get(declared) if isinstance(declared, str) else _type_list(declared)
    if types is not None and prop.get("nullable") is True:
        types |= _NULL
    return types


def _type_list(declared: Any) -> frozenset[str] | None:
    """The types of a ``type`` list (not empty, every item a name this module
    knows), else None."""
    if isinstance(declared, list) and declared and all(name in JSON_TYPES for name in declared):
        return frozenset(declared)
    return None


def _matches(value: Any, types: frozenset[str] | None) -> bool:
    """True when ``value`` has one of ``types``, or ``types`` is None (no constraint)."""
    if types is None:
        return True
    actual = json_type_of(value)
    return actual in types or _number_matches(actual, value, types)


def _number_matches(actual: str, value: Any, types: frozenset[str]) -> bool:
    """JSON Schema's number rules: an integer is a number, and a float with
    no fractional part an integer."""
    if actual == "integer":
        return "number" in types
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
    properties, required = _fields(schema)
    problems = [_missing(name, properties) for name in required if name not in args]
    for name, value in args.items():
        types = allowed_types(properties.get(name))
        if not _matches(value, types):
            problems.append(_wrong_type(name, value, types))
    return problems


def _fields(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """(properties, required names) of an object schema: the names its
    ``required`` lists (strings only, in order); each empty when absent or
    malformed."""
    properties = schema.get("properties")
    required = schema.get("required")
    names = [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
    return (properties if isinstance(properties, Mapping) else {}), names


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
    properties, required = _fields(schema)
    required_names = set(required)
    parts = [_describe_input(name, prop, name in required_names) for name, prop in properties.items()]
    parts.extend(f"{name} (required)" for name in sorted(required_names - set(properties)))
    return ", ".join(parts) or "none"


def _describe_input(name: str, prop: Any, required: bool) -> str:
    """``name (integer 1|2|3, required)``: the types, the enum values, whether required."""
    types = allowed_types(prop)
    kind = (_type_text(types) if types else "any") + _enum_text(prop)
    return f"{name} ({kind}{', required' if required else ''})"


def _enum_text(prop: Any) -> str:
    """`` 1|2|3`` for a property with an ``enum`` list, else empty."""
    enum = prop.get("enum") if isinstance(prop, Mapping) else None
    if isinstance(enum, list) and enum:
        return " " + "|".join(str(item) for item in enum)
    return ""


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
        return _not_json(text, types)
    if not _matches(value, types):
        raise ValueError(f"expects {_type_text(types)}, got {json_type_of(value)} {_shown(value)}")
    return value


def _not_json(text: str, types: frozenset[str] | None) -> str:
    """What text that is no JSON stands for: itself when no type is declared,
    else a ``ValueError`` saying what was expected."""
    if types is None:
        return text
    raise ValueError(f"expects {_type_text(types)}, got {printable_excerpt(text, _VALUE_EXCERPT)!r}") from None
