"""JSON Schemas out of an OpenAPI document: local ``$ref`` resolution with
cycles cut, shaped so UTCP's ``JsonSchema`` model accepts them. Pure: no I/O.

Resolution inlines every local reference (``#/components/schemas/Pet``,
``#/definitions/Pet``, any JSON Pointer into the document). A reference met
again while it is being resolved (a tree of nodes, a linked list) is cut:
it becomes ``{"description": "recursive reference to ..."}``, so a schema is
always finite. A reference resolved without any cut below it is resolved
once per :class:`SchemaResolver` and shared: a document that names the same
large schema in hundreds of places costs it once. External references
(another file or URL) are refused with a :class:`SchemaError`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

__all__ = ["SchemaError", "SchemaResolver"]

#: Keywords whose value is one schema / a list of schemas / a map of schemas.
_ONE = (
    "items", "not", "if", "then", "else", "contains", "propertyNames", "additionalItems", "unevaluatedItems",
    "contentSchema",
)  # fmt: skip
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
#: Keywords whose value is walked as a schema (or a list of schemas) -> the
#: type it must have to be; a value of another type is a plain value.
_WALKED = {**dict.fromkeys(_ONE, object), **dict.fromkeys(_MANY, list), "additionalProperties": dict}
_NUMBERS = ("minimum", "maximum")
_INTEGERS = ("minLength", "maxLength")
_LISTS = ("examples", "enum")

#: Expanded schema nodes a resolver builds before it refuses a schema (a
#: document whose references multiply would otherwise expand exponentially).
MAX_SCHEMA_NODES = 200_000


class SchemaError(ValueError):
    """A reference that cannot be resolved, or a schema past the size budget."""


class SchemaResolver:
    """Resolves schemas of one document; shares resolved references."""

    __slots__ = ("_budget", "_cuts", "_document", "_done", "_max_nodes", "_stack")

    def __init__(self, document: dict[str, Any], max_nodes: int = MAX_SCHEMA_NODES) -> None:
        self._document = document
        self._done: dict[str, Any] = {}  # ref -> resolved schema with no cut inside
        self._stack: list[str] = []
        self._cuts = 0  # recursive references cut so far
        self._max_nodes = max_nodes
        self._budget = max_nodes

    def resolve(self, node: Any) -> Any:
        """``node`` (a schema or any object holding ``$ref``) with its local
        references inlined; raises :class:`SchemaError`. Each call may build
        up to ``max_nodes`` new nodes (shared references cost nothing twice)."""
        self._budget = self._max_nodes
        return self._walk(node)

    def lookup(self, ref: str) -> Any:
        """The object a local reference points at (not resolved further)."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(f"$ref {str(ref)[:200]!r} is not local (only '#/...' references are resolved)")
        node: Any = self._document
        for raw in ref[1:].split("/")[1:]:  # "#" itself: no token
            key = unquote(raw).replace("~1", "/").replace("~0", "~")
            node = _step(node, key, ref)
        return node

    def deref(self, node: Any) -> Any:
        """Follow ``$ref`` chains of a non-schema object (a parameter, a
        response) to the object itself, without resolving inside it."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise SchemaError(f"$ref {ref!r} refers to itself")
            seen.add(ref)
            node = self.lookup(ref)
        return node

    # -- the walk ------------------------------------------------------------------------

    def _walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return self._reference(node)
            return self._object(node)
        if isinstance(node, list):
            return self._list(node)
        return node

    def _reference(self, node: dict[str, Any]) -> Any:
        ref = node["$ref"]
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string")
        if ref in self._stack:
            self._cuts += 1
            return {"description": f"recursive reference to {ref} (not expanded)"}
        resolved = self._target(ref)
        siblings = dict(node)
        del siblings["$ref"]
        return self._with_siblings(resolved, siblings)

    def _with_siblings(self, resolved: Any, siblings: dict[str, Any]) -> Any:
        """A resolved reference with the keywords written beside its ``$ref``
        laid over it (when it is an object)."""
        if not siblings:
            return resolved
        extra = self._object(siblings)
        return {**resolved, **extra} if isinstance(resolved, dict) else resolved

    def _target(self, ref: str) -> Any:
        """The schema ``ref`` points at, resolved; shared when no recursion
        was cut inside it (a cut one depends on where the walk entered)."""
        done = self._done.get(ref)
        if done is not None:
            return done
        cuts = self._cuts
        self._stack.append(ref)
        try:
            resolved = self._walk(self.lookup(ref))
        finally:
            self._stack.pop()
        if self._cuts == cuts:
            self._done[ref] = resolved
        return resolved

    def _object(self, node: dict[str, Any]) -> dict[str, Any]:
        self._spend(len(node))
        out: dict[str, Any] = {}
        for key, value in node.items():
            key = str(key)
            kept = self._keyword(key, value)
            if kept is not _DROP:
                out[key] = kept
        return out

    def _keyword(self, key: str, value: Any) -> Any:
        """One keyword's value: the schemas it holds resolved, a plain value checked."""
        if key in _MAP and isinstance(value, dict):
            return self._map(value)
        if isinstance(value, _WALKED.get(key, ())):  # () matches nothing: not a schema keyword
            return self._walk(value)
        return _checked(key, value)

    def _list(self, node: list[Any]) -> list[Any]:
        self._spend(len(node))
        return [self._walk(item) for item in node]

    def _map(self, node: dict[Any, Any]) -> dict[str, Any]:
        return {str(key): self._walk(value) for key, value in node.items()}

    def _spend(self, nodes: int) -> None:
        self._budget -= nodes + 1
        if self._budget < 0:
            raise SchemaError(f"the schema expands to more than {self._max_nodes} nodes once references are inlined")


_DROP = object()


def _checked(key: str, value: Any) -> Any:
    """A keyword's value not walked as schemas, or ``_DROP`` when its type is one UTCP's
    ``JsonSchema`` model would refuse (OpenAPI 3.0's ``examples`` map, a
    ``required: true`` from Swagger habits): losing an annotation is better
    than losing the tool."""
    check = _CHECKS.get(key)
    return value if check is None or check(value) else _DROP


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


#: A keyword's value of another type is dropped (see _checked); a schema
#: list or map of the wrong type too.
_CHECKS = {
    "type": lambda value: _is_str(value) or _is_str_list(value),
    "required": _is_str_list,
    **dict.fromkeys((*_LISTS, *_MANY), _is_list),
    **dict.fromkeys(_MAP, _is_dict),
    **dict.fromkeys(_NUMBERS, _is_number),
    **dict.fromkeys(_INTEGERS, _is_int),
    **dict.fromkeys(("title", "description", "format", "pattern", "$schema", "$id"), _is_str),
}


_MISSING = object()


def _step(node: Any, key: str, ref: str) -> Any:
    """The child of ``node`` one JSON Pointer token names."""
    child = _member(node, key) if isinstance(node, dict) else _item(node, key)
    if child is _MISSING:
        raise SchemaError(f"$ref {ref[:200]!r} points at nothing in the document")
    return child


def _member(node: dict[Any, Any], key: str) -> Any:
    """``node[key]``, or ``_MISSING``; YAML turns `200:` into an int key."""
    if key in node:
        return node[key]
    if key.isdigit() and int(key) in node:
        return node[int(key)]
    return _MISSING


def _item(node: Any, key: str) -> Any:
    """``node[int(key)]`` when ``node`` is a list that long, else ``_MISSING``."""
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return _MISSING
