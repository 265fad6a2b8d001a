"""RFC 6901 JSON Pointers, the ``select`` field's language.

A pointer is compiled once per call (syntax errors surface when the template is
used, not at the first item) and resolved once per item, so resolution is a
plain loop over pre-split, pre-unescaped reference tokens.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["MISSING", "Pointer", "compile_pointer"]


class _Missing:
    """Type of :data:`MISSING`: the pointer names nothing in this document."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


#: What :meth:`Pointer.resolve` returns when the document has no such value
#: (distinct from a JSON ``null``, which resolves to ``None``).
MISSING: Final = _Missing()

# RFC 6901 array index: "0" or a decimal number without leading zeros.
_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


class Pointer:
    """A compiled JSON Pointer; :meth:`resolve` applies it to a parsed document."""

    __slots__ = ("_steps", "text")

    def __init__(self, text: str, steps: tuple[tuple[str, int | None], ...]) -> None:
        self.text = text
        # Each step is (object key, array index or None when the token is not
        # a valid index), both derived once from the reference token.
        self._steps = steps

    def __repr__(self) -> str:
        return f"Pointer({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pointer) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def resolve(self, doc: Any) -> Any:
        """The value the pointer names in ``doc``, or :data:`MISSING` when a
        key is absent, an index is out of range or not an index (``-`` names
        the element after the last one, so it never resolves), or a step meets
        something that is neither an object nor an array."""
        for key, index in self._steps:
            if isinstance(doc, dict):
                doc = doc.get(key, MISSING)
                if doc is MISSING:
                    return MISSING
            elif isinstance(doc, list):
                if index is None or index >= len(doc):
                    return MISSING
                doc = doc[index]
            else:
                return MISSING
        return doc


def compile_pointer(text: str) -> Pointer:
    """Validate and compile an RFC 6901 pointer: ``""`` (the whole document) or
    ``/``-separated reference tokens where ``~`` appears only as ``~0`` (``~``)
    or ``~1`` (``/``). Raises :class:`ValueError` naming the problem."""
    _check_syntax(text)
    return Pointer(text, tuple(map(_step, text.split("/")[1:])))


def _check_syntax(text: str) -> None:
    """Raise :class:`TypeError` or :class:`ValueError` naming what makes
    ``text`` no RFC 6901 pointer."""
    if not isinstance(text, str):
        raise TypeError(f"a JSON Pointer is a str, not {type(text).__name__}")
    if text and not text.startswith("/"):
        raise ValueError(
            f"invalid JSON Pointer {text!r}: it must be empty or start with '/' (RFC 6901), for example {'/' + text!r}"
        )
    bad = _BAD_ESCAPE.search(text)
    if bad is not None:
        raise ValueError(
            f"invalid JSON Pointer {text!r}: '~' at offset {bad.start()} must be followed by "
            "'0' (for '~') or '1' (for '/') (RFC 6901)"
        )


def _step(token: str) -> tuple[str, int | None]:
    """A reference token unescaped: (object key, array index or None when
    the token is not a valid index)."""
    key = token.replace("~1", "/").replace("~0", "~")
    # More than 18 digits cannot index any list (and int() would refuse
    # thousands of digits), so such a token is treated as out of range.
    index = int(key) if len(key) <= 18 and _INDEX.fullmatch(key) else None
    return key, index
