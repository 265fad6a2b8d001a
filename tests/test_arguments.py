"""Tool arguments against the tool's ``inputs``: the pure checks."""

from __future__ import annotations

import pytest

from utcp_http_stream.arguments import (
    allowed_types,
    argument_problems,
    check_arguments,
    describe_inputs,
    json_type_of,
    value_from_text,
)
from utcp_http_stream.errors import TemplateError

CHAT = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "description": "what to ask"},
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "stream": {"type": "boolean"},
        "tags": {"type": "array"},
        "options": {"type": "object"},
        "stop": {"type": ["string", "null"]},
        "seed": {"type": "integer", "nullable": True},
        "anything": {"description": "no type"},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "required": ["prompt"],
}


def test_valid_arguments_pass():
    check_arguments("chat", CHAT, {"prompt": "hi"})
    check_arguments(
        "chat",
        CHAT,
        {
            "prompt": "hi",
            "max_tokens": 3,
            "temperature": 1,  # an integer passes for number
            "stream": True,
            "tags": ["a"],
            "options": {"k": 1},
            "stop": None,  # a null type allows None
            "seed": None,  # so does nullable: true
            "anything": object(),  # no declared type: not checked
            "either": 1.5,  # only top-level "type" is checked
            "extra": "not in the schema",
        },
    )
    check_arguments("chat", CHAT, {"prompt": "hi", "max_tokens": 3.0})  # JSON Schema: 3.0 is an integer


def test_missing_required_argument_names_it_and_what_the_tool_takes():
    with pytest.raises(TemplateError) as caught:
        check_arguments("demo.chat", CHAT, {})
    message = str(caught.value)
    assert message.startswith("invalid arguments for tool 'demo.chat': missing required argument 'prompt' (string)")
    assert "The tool takes: prompt (string, required), max_tokens (integer)" in message
    assert "Nothing was sent; call the tool again with corrected arguments." in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"prompt": 42}, "argument 'prompt' must be string, got integer 42"),
        ({"prompt": "x", "max_tokens": "20"}, "argument 'max_tokens' must be integer, got string \"20\""),
        ({"prompt": "x", "max_tokens": True}, "argument 'max_tokens' must be integer, got boolean true"),
        ({"prompt": "x", "max_tokens": 2.5}, "argument 'max_tokens' must be integer, got number 2.5"),
        ({"prompt": "x", "temperature": "hot"}, "argument 'temperature' must be number, got string"),
        ({"prompt": "x", "stream": "yes"}, "argument 'stream' must be boolean, got string"),
        ({"prompt": "x", "tags": "a,b"}, "argument 'tags' must be array, got string"),
        ({"prompt": "x", "options": []}, "argument 'options' must be object, got array []"),
        ({"prompt": None}, "argument 'prompt' is null, but it must be string"),
        ({"prompt": "x", "stop": 3}, "argument 'stop' must be string or null, got integer 3"),
        ({"prompt": "x", "seed": "1"}, "argument 'seed' must be integer or null, got string"),
    ],
)
def test_wrong_types_are_named_with_the_expected_type(args, problem):
    with pytest.raises(TemplateError, match="invalid arguments for tool 'chat'") as caught:
        check_arguments("chat", CHAT, args)
    assert problem in str(caught.value)


def test_every_problem_is_reported_at_once():
    problems = argument_problems(CHAT, {"max_tokens": "a", "stream": 1})
    assert problems == [
        "missing required argument 'prompt' (string)",
        "argument 'max_tokens' must be integer, got string \"a\"",
        "argument 'stream' must be boolean, got integer 1",
    ]


def test_no_schema_or_untyped_schema_checks_nothing():
    check_arguments("t", None, {"a": 1})
    check_arguments("t", {}, {"a": 1})
    check_arguments("t", {"type": "object", "properties": {"a": {"type": "mystery"}}}, {"a": 1})
    with pytest.raises(TemplateError, match="must be a JSON object, got array"):
        check_arguments("t", {}, [1, 2])


def test_required_without_a_property_is_still_required():
    with pytest.raises(TemplateError, match=r"missing required argument 'token'\. The tool takes: token \(required\)"):
        check_arguments("t", {"required": ["token"]}, {})


def test_messages_are_bounded_and_single_line():
    huge = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(500)}, "required": ["p0"]}
    with pytest.raises(TemplateError) as caught:
        check_arguments("t", huge, {"p1": "x\n" * 10_000})
    assert len(str(caught.value)) <= 1001 and "\n" not in str(caught.value)


def test_json_types_and_allowed_types():
    assert [json_type_of(v) for v in (None, True, 1, 1.5, "s", {}, [], (), b"x")] == [
        "null", "boolean", "integer", "number", "string", "object", "array", "array", "bytes",
    ]  # fmt: skip
    assert allowed_types({"type": "string"}) == {"string"}
    assert allowed_types({"type": ["integer", "null"]}) == {"integer", "null"}
    assert allowed_types({"type": "string", "nullable": True}) == {"string", "null"}
    assert allowed_types({"enum": [1]}) is None
    assert allowed_types("not a schema") is None


def test_describe_inputs():
    assert describe_inputs(CHAT).startswith("prompt (string, required), max_tokens (integer), temperature (number)")
    assert "anything (any)" in describe_inputs(CHAT)
    assert describe_inputs({"properties": {"s": {"type": "string", "enum": ["a", "b"]}}}) == "s (string a|b)"
    assert describe_inputs({"type": "object", "properties": {}}) == "none"
    assert describe_inputs(None) == "none"


@pytest.mark.parametrize(
    ("text", "prop", "value"),
    [
        ("42", {"type": "string"}, "42"),  # job_id=42 stays a string
        ("true", {"type": "string"}, "true"),
        ("42", {"type": "integer"}, 42),
        ("4.5", {"type": "number"}, 4.5),
        ("4", {"type": "number"}, 4),
        ("true", {"type": "boolean"}, True),
        ('{"a": 1}', {"type": "object"}, {"a": 1}),
        ('["a"]', {"type": "array"}, ["a"]),
        ("null", {"type": "integer", "nullable": True}, None),
        ("42", None, 42),  # no schema: JSON when it parses
        ("hello world", None, "hello world"),
        ("hello", {"description": "untyped"}, "hello"),
    ],
)
def test_value_from_text_takes_the_schema_type(text, prop, value):
    assert value_from_text(text, prop) == value
    assert type(value_from_text(text, prop)) is type(value)


@pytest.mark.parametrize(
    ("text", "prop", "message"),
    [
        ("oops", {"type": "integer"}, "expects integer, got 'oops'"),
        ("4.5", {"type": "integer"}, "expects integer, got number 4.5"),
        ('"x"', {"type": "boolean"}, 'expects boolean, got string "x"'),
    ],
)
def test_value_from_text_refuses_the_wrong_type(text, prop, message):
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        value_from_text(text, prop)
