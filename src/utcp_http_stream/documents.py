"""Discovery documents: which URLs to try, bytes -> parsed document ->
manual. Pure: the transport fetches, this module decides what the bytes are.

A document is JSON or YAML (OpenAPI documents are often YAML). YAML is read
with PyYAML's safe loader (its C implementation when available), so no tag
can construct an arbitrary object; dates stay strings, as they would be in
JSON. YAML anchors and aliases share one object between many places, which
is cheap to load but expands when walked (the "billion laughs"): a document
with anchors is first measured event by event, and refused as soon as its
expanded size passes :data:`MAX_EXPANDED_NODES`, before anything is built.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from utcp_http_stream.manual import ManualParseResult, parse_manual
from utcp_http_stream.openapi import convert_openapi, is_openapi

__all__ = ["MAX_EXPANDED_NODES", "DocumentError", "discovery_urls", "load_document", "manual_from_document"]

#: Nodes a YAML document may expand to through its aliases.
MAX_EXPANDED_NODES = 2_000_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s\[\]{},]")


class DocumentError(ValueError):
    """The bytes are not a document this plugin can read."""


class _JsonishLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader, with timestamps kept as the strings they were."""


_JsonishLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def discovery_urls(url: str) -> list[str]:
    """The URLs to try for a manual: a bare origin (empty path or ``/``) means
    ``{origin}/utcp`` then ``{origin}/openapi.json``; any other URL is itself."""
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query:
        return [url]
    return [urlunsplit((parts.scheme, parts.netloc, path, "", "")) for path in ("/utcp", "/openapi.json")]


def load_document(body: bytes, content_type: str | None = None) -> Any:
    """The parsed document: JSON when it parses as JSON, else YAML (safe
    loading, alias expansion bounded). The caller bounds ``body``'s size."""
    text = _text(body)
    if "json" in (content_type or "").lower():
        return _load_declared_json(text)
    if text.lstrip().startswith(("{", "[")):
        with suppress(json.JSONDecodeError):  # not JSON after all: maybe YAML's flow style
            return _load_json(text)
    return _load_yaml_collection(text)


def _load_declared_json(text: str) -> Any:
    """A document served as JSON: it must be JSON."""
    try:
        return _load_json(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _load_json(text: str) -> Any:
    """The JSON document; a nesting too deep for the parser is a :class:`DocumentError`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DocumentError("nested too deeply to read") from None


def _load_yaml_collection(text: str) -> Any:
    """The YAML document, which must be a mapping or a list."""
    document = _load_yaml(text)
    if not isinstance(document, dict | list):
        kind = "nothing" if document is None else f"a {type(document).__name__}"
        raise DocumentError(f"not valid JSON, nor a YAML mapping (YAML reads it as {kind})")
    return document


def manual_from_document(document: Any, *, source_url: str | None = None) -> ManualParseResult:
    """A UTCP manual (v1 or legacy) as it is, an OpenAPI/Swagger document converted."""
    if is_openapi(document):
        return convert_openapi(document, source_url=source_url)
    return parse_manual(document, source_url=source_url)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (invalid byte at position {exc.start})") from None


def _load_yaml(text: str) -> Any:
    try:
        if _ANCHOR.search(text):
            _check_expansion(text)
        return yaml.load(text, Loader=_JsonishLoader)  # a safe loader subclass
    except yaml.YAMLError as exc:
        raise DocumentError(f"neither JSON nor valid YAML: {_yaml_reason(exc)}") from None
    except RecursionError:
        raise DocumentError("nested too deeply to read") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"[:300]


def _check_expansion(text: str) -> None:
    """Walk the parser's events (no objects built) counting the nodes the
    document expands to, each alias counting its anchor's whole size; refuse
    past the budget. O(n) in the events."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, size] per open collection
    total = 0
    for event in yaml.parse(text, Loader=_Loader):
        size = _event_size(event, sizes, stack)
        total += size
        stack[-1][1] += size
        if total > MAX_EXPANDED_NODES:
            raise DocumentError(
                f"its YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes (an alias bomb?); "
                "refused before loading it"
            )


def _event_size(event: Any, sizes: dict[str, int], stack: list[list[Any]]) -> int:
    """The nodes an event adds (an alias: its anchor's whole size); a
    collection counts as it ends, into its parent."""
    if isinstance(event, yaml.AliasEvent):
        return sizes.get(event.anchor, 1)
    if isinstance(event, yaml.CollectionStartEvent):
        stack.append([event.anchor, 1])
        return 0
    if isinstance(event, yaml.CollectionEndEvent):
        _close_collection(sizes, stack)
        return 0
    if isinstance(event, yaml.ScalarEvent):
        _remember(sizes, event.anchor, 1)
        return 1
    return 0


def _close_collection(sizes: dict[str, int], stack: list[list[Any]]) -> None:
    """A collection ended: its whole size is known, and goes to its parent."""
    anchor, size = stack.pop()
    _remember(sizes, anchor, size)
    stack[-1][1] += size


def _remember(sizes: dict[str, int], anchor: str | None, size: int) -> None:
    """Record the size of an anchored node, which each alias of it repeats."""
    if anchor is not None:
        sizes[anchor] = size
