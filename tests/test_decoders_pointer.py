"""RFC 6901 JSON Pointers (the select field)."""

from __future__ import annotations

import pickle

import pytest

from utcp_http_stream.decoders import MISSING, Pointer, compile_pointer

# The example document of RFC 6901, section 5.
RFC_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RFC_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc_6901_examples(text: str, expected: object) -> None:
    assert compile_pointer(text).resolve(RFC_DOC) == expected


def test_escapes_are_decoded_in_the_right_order() -> None:
    # "~01" is "~1" (a tilde then "1"), not "/".
    doc = {"~1": "tilde-one", "/": "slash", "~": "tilde"}
    assert compile_pointer("/~01").resolve(doc) == "tilde-one"
    assert compile_pointer("/~1").resolve(doc) == "slash"
    assert compile_pointer("/~0").resolve(doc) == "tilde"


@pytest.mark.parametrize(
    ("text", "doc", "expected"),
    [
        ("/0", [10, 20], 10),
        ("/1", [10, 20], 20),
        ("/2", [10, 20], MISSING),  # out of range
        ("/-", [10, 20], MISSING),  # the element after the last one: nothing
        ("/01", [10, 20], MISSING),  # leading zeros are not an index
        ("/-1", [10, 20], MISSING),
        ("/+1", [10, 20], MISSING),
        ("/1.0", [10, 20], MISSING),
        ("/\u0661", [10, 20], MISSING),  # only ASCII digits
        ("/" + "9" * 5000, [1], MISSING),  # too many digits for any list
        ("/01", {"01": "key"}, "key"),  # on an object, any token is a key
        ("/0", {"0": "zero"}, "zero"),
        ("/a", {"b": 1}, MISSING),
        ("/a/b", {"a": None}, MISSING),  # a step on a non-container
        ("/a/b", {"a": "text"}, MISSING),
        ("/a/0", {"a": 5}, MISSING),
        ("/a", {"a": None}, None),  # null is a value, not MISSING
        ("/a/b/1/c", {"a": {"b": [0, {"c": False}]}}, False),
        ("", None, None),
        ("/x", "a string", MISSING),
    ],
)
def test_resolution(text: str, doc: object, expected: object) -> None:
    assert compile_pointer(text).resolve(doc) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "must be empty or start with '/'.*'/foo'"),
        ("/a~", "'~' at offset 2 must be followed by '0'"),
        ("/a~2", "'~' at offset 2 must be followed by '0'"),
        ("/~/", "'~' at offset 1"),
    ],
)
def test_invalid_syntax(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_pointer(text)


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        compile_pointer(1)  # type: ignore[arg-type]


def test_pointer_value_semantics() -> None:
    pointer = compile_pointer("/a~1b/0")
    assert isinstance(pointer, Pointer)
    assert pointer.text == "/a~1b/0"
    assert repr(pointer) == "Pointer('/a~1b/0')"
    assert pointer == compile_pointer("/a~1b/0") and hash(pointer) == hash(compile_pointer("/a~1b/0"))
    assert repr(MISSING) == "MISSING"
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
