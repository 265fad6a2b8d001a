"""Reading what the user typed: JSON files, ``key=value`` tool arguments,
``--args``, ``--env-file``, and what kind of document a file holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from utcp_http_stream.cli.failures import UsageError

__all__ = [
    "MANUAL_KINDS",
    "TEMPLATE_KINDS",
    "client_config",
    "document_kind",
    "load_json",
    "parse_json_text",
    "parse_tool_args",
    "split_pairs",
]

#: :func:`document_kind` of a UTCP manual
MANUAL_KINDS = ("manual", "legacy_manual")
#: :func:`document_kind` of a manual call template
TEMPLATE_KINDS = ("call_template", "legacy_provider")


def load_json(path: str | Path) -> Any:
    """The parsed file; a missing or malformed file is a usage error that
    says where the syntax breaks."""
    path = Path(path)
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _read_text(path: Path) -> str:
    """The file's text (a BOM dropped); an unreadable file is a usage error."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text, expected a JSON file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def parse_json_text(text: str, what: str) -> Any:
    """``text`` as JSON, or ``@file`` to read it from a file."""
    if text.startswith("@"):
        return load_json(text[1:])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at column {exc.colno}") from None


def parse_tool_args(args_json: str | None, pairs: list[str], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``--args`` (an object) overlaid with ``key=value`` pairs.

    A value becomes the type the tool's ``inputs`` schema gives its key: a
    string property keeps the text as typed (``job_id=42`` is ``"42"``), an
    integer/number/boolean/object/array property parses it as JSON and must
    get that type. A key the schema does not type is JSON when it parses
    (``n=3``, ``tags=["a","b"]``), otherwise a string (``prompt=hello world``).
    """
    from utcp_http_stream.arguments import value_from_text

    result = _args_object(args_json)
    properties = _schema_properties(schema)
    for key, value in split_pairs(pairs):
        try:
            result[key] = value_from_text(value, properties.get(key))
        except ValueError as exc:
            raise UsageError(f"tool argument {key}={value}: the tool {exc}") from None
    return result


def _args_object(args_json: str | None) -> dict[str, Any]:
    """``--args`` as a dict (empty when not given); it must be a JSON object."""
    if args_json is None:
        return {}
    parsed = parse_json_text(args_json, "--args")
    if not isinstance(parsed, dict):
        raise UsageError(f"--args must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _schema_properties(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The ``properties`` of an ``inputs`` schema (empty when it has none)."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    return properties if isinstance(properties, Mapping) else {}


def split_pairs(pairs: list[str]) -> list[tuple[str, str]]:
    """``key=value`` arguments as (key, text); a malformed one is a usage error."""
    split = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"tool argument {pair!r} is not key=value")
        split.append((key, value))
    return split


def client_config(env_file: str | None) -> dict[str, Any]:
    """The UtcpClient config: ``--env-file`` becomes utcp's own dotenv
    variable loader, so ``${VAR}`` resolves exactly as in UtcpClient."""
    config: dict[str, Any] = {}
    if env_file is not None:
        path = Path(env_file)
        if not path.is_file():
            raise UsageError(f"--env-file {env_file}: no such file")
        config["load_variables_from"] = [{"variable_loader_type": "dotenv", "env_file_path": str(path)}]
    return config


def document_kind(document: Any) -> str:
    """``manual``, ``legacy_manual``, ``call_template``, ``legacy_provider``,
    ``provider_list`` (v0.1 providers), ``template_list`` or ``unknown``."""
    if isinstance(document, list):
        return _list_kind(document)
    if isinstance(document, dict):
        return _object_kind(document)
    return "unknown"


def _object_kind(document: dict[str, Any]) -> str:
    """:func:`document_kind` of a JSON object."""
    from utcp_http_stream.manual import is_legacy_manual

    if "tools" in document:
        return "legacy_manual" if is_legacy_manual(document) else "manual"
    if "call_template_type" in document:
        return "call_template"
    if "provider_type" in document:
        return "legacy_provider"
    return "unknown"


def _list_kind(document: list[Any]) -> str:
    """``provider_list`` or ``template_list`` when every item is one, else ``unknown``."""
    for key, kind in (("provider_type", "provider_list"), ("call_template_type", "template_list")):
        if document and _all_have(document, key):
            return kind
    return "unknown"


def _all_have(document: list[Any], key: str) -> bool:
    """Whether every item is an object with ``key``."""
    return all(isinstance(item, dict) and key in item for item in document)
