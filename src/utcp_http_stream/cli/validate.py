"""``validate``: every problem of a manual or call template, with its JSON path;
and the upgrade of legacy v0.1 ``http_stream`` providers to v1 templates.

Problems are collected, not raised one at a time: a file with five mistakes
gets five lines (``tools[2].tool_call_template.http_method: ...``), so it can
be fixed in one pass. Templates of this plugin's types are checked field by
field with its own model (plus the URL policy when the URL holds no
``${VAR}``); templates of other protocols go through utcp's registered
serializers. Literal secrets are reported as warnings.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utcp_http_stream.cli.arguments import MANUAL_KINDS, document_kind, load_json
from utcp_http_stream.cli.console import Console, plural
from utcp_http_stream.cli.convert import validate_openapi_file
from utcp_http_stream.cli.failures import EXIT_OK, EXIT_USAGE, CliError, describe

__all__ = ["Report", "check_document", "run_validate", "upgrade_document"]

_OUR_TYPES = ("streamable_http", "http_stream")
_VARIABLE = re.compile(r"\$\{?[A-Za-z0-9_]")
#: what :func:`_v1_manual` writes itself (v0.1's ``version`` becomes ``manual_version``)
_V1_MANUAL_KEYS = ("version", "manual_version", "utcp_version", "tools")
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}


@dataclass
class Report:
    kind: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: str = ""


# -- upgrading ---------------------------------------------------------------------------


def upgrade_document(document: Any) -> tuple[Any, bool]:
    """The v1 equivalent of a legacy v0.1 document, and whether anything changed.

    A provider becomes a call template, a list of providers a list of
    templates (what a client config's ``manual_call_templates`` holds), and a
    v0.1 manual (``version``, tools with ``tool_provider``) a v1 manual.
    Unknown keys are kept; key order is preserved.
    """
    kind = document_kind(document)
    if kind == "legacy_provider":
        return _upgrade_provider(document), True
    if kind == "provider_list":
        return [_upgrade_provider(item) for item in document], True
    if kind not in MANUAL_KINDS:
        return document, False
    return _upgrade_manual(document, legacy=kind == "legacy_manual")


def _upgrade_manual(document: dict[str, Any], *, legacy: bool) -> tuple[dict[str, Any], bool]:
    """:func:`upgrade_document` of a manual."""
    tools, tools_changed = _upgrade_tools(document.get("tools") or [])
    if not (tools_changed or legacy):
        return document, False
    return _v1_manual(document, tools), True


def _v1_manual(document: dict[str, Any], tools: list[Any]) -> dict[str, Any]:
    """The manual with v1 version fields first, then its other keys, then ``tools``."""
    manual = _version_fields(document)
    manual.update((k, v) for k, v in document.items() if k not in _V1_MANUAL_KEYS)
    manual["tools"] = tools
    return manual


def _version_fields(document: dict[str, Any]) -> dict[str, Any]:
    """v1's ``manual_version`` (v0.1's ``version``) and ``utcp_version``, defaulted."""
    return {
        "manual_version": str(document.get("manual_version") or document.get("version") or "1.0.0"),
        "utcp_version": document.get("utcp_version") or "1.0.0",
    }


def _upgrade_tools(tools: list[Any]) -> tuple[list[Any], bool]:
    """The tools with legacy providers upgraded, and whether any was."""
    upgraded = [_upgrade_tool(tool) if isinstance(tool, dict) else tool for tool in tools]
    return upgraded, any(new is not old for new, old in zip(upgraded, tools, strict=True))


def _upgrade_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """``tool`` itself when it holds nothing legacy, else a copy (key order
    kept) whose ``tool_provider`` became an upgraded ``tool_call_template``."""
    return _upgrade_tool_template(_rename_tool_provider(tool))


def _rename_tool_provider(tool: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``tool`` with v0.1's ``tool_provider`` key renamed (in its
    place) to ``tool_call_template``; ``tool`` itself when there is none to rename."""
    if "tool_provider" not in tool or "tool_call_template" in tool:
        return tool
    return {("tool_call_template" if key == "tool_provider" else key): value for key, value in tool.items()}


def _upgrade_tool_template(tool: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``tool`` with its v0.1 provider upgraded to a call template;
    ``tool`` itself when its call template is no provider."""
    template = tool.get("tool_call_template")
    if not (isinstance(template, dict) and "provider_type" in template):
        return tool
    return {**tool, "tool_call_template": _upgrade_provider(template)}


def _upgrade_provider(provider: dict[str, Any]) -> dict[str, Any]:
    """A v0.1 provider as a v1 call template, ``call_template_type`` first
    (after ``name``), as v1 files are written."""
    from utcp_http_stream.manual import upgrade_legacy_provider

    template = upgrade_legacy_provider(provider)
    ordered: dict[str, Any] = {}
    if "name" in template:
        ordered["name"] = template["name"]
    ordered["call_template_type"] = template["call_template_type"]
    ordered.update((k, v) for k, v in template.items() if k not in ordered)
    return ordered


# -- checking ------------------------------------------------------------------------------


def check_document(document: Any) -> Report:
    """Every problem of a v1 document (upgrade legacy ones first)."""
    kind = document_kind(document)
    report = Report(kind)
    _CHECKS.get(kind, _check_unknown)(document, report)
    return report


def _check_unknown(document: Any, report: Report) -> None:
    report.errors.append(
        "(document): not a UTCP manual (an object with 'tools'), a call template (an object with "
        "'call_template_type'), nor a legacy provider (with 'provider_type')"
    )


def _check_one_template(document: dict[str, Any], report: Report) -> None:
    _check_template(document, "", report)
    report.summary = f"{document.get('call_template_type')} call template"


def _check_template_list(document: list[Any], report: Report) -> None:
    for index, item in enumerate(document):
        _check_template(item, f"[{index}]", report)
    report.summary = f"{len(document)} call templates"


def _check_manual(document: dict[str, Any], report: Report) -> None:
    _check_versions(document, report)
    tools = document.get("tools")
    if not isinstance(tools, list):
        report.errors.append(f"tools: must be a list of tools, got {type(tools).__name__}")
        return
    if not tools:
        report.warnings.append("tools: the manual has no tools")
    report.summary = _manual_summary(len(tools), _check_tools(tools, report))


def _check_versions(document: dict[str, Any], report: Report) -> None:
    for key in ("manual_version", "utcp_version"):
        if key in document and not isinstance(document[key], str):
            report.errors.append(f'{key}: must be a string like "1.0.0", got {json.dumps(document[key])}')


def _check_tools(tools: list[Any], report: Report) -> dict[str, int]:
    """Check every tool; how many call templates of each type they have."""
    seen: dict[str, int] = {}
    types: dict[str, int] = {}
    for index, tool in enumerate(tools):
        kind = _check_tool(tool, index, seen, report)
        if kind is not None:
            types[kind] = types.get(kind, 0) + 1
    return types


def _manual_summary(count: int, types: dict[str, int]) -> str:
    """``UTCP manual, 3 tools (1 http, 2 streamable_http)``."""
    by_type = ", ".join(f"{number} {kind}" for kind, number in sorted(types.items()))
    return f"UTCP manual, {plural(count, 'tool')}" + (f" ({by_type})" if by_type else "")


def _check_tool(tool: Any, index: int, seen: dict[str, int], report: Report) -> str | None:
    """Check ``tools[index]`` (``seen``: the first index of each name so far);
    the type of its call template when it has an object as one."""
    path = f"tools[{index}]"
    if not isinstance(tool, dict):
        report.errors.append(f"{path}: a tool must be an object, got {type(tool).__name__}")
        return None
    _check_tool_fields(tool, path, report)
    _check_unique_name(tool.get("name"), index, seen, report)
    template = tool.get("tool_call_template")
    if template is None:
        report.errors.append(f"{path}.tool_call_template: missing (every tool needs a call template)")
        return None
    _check_template(template, f"{path}.tool_call_template", report)
    return str(template.get("call_template_type")) if isinstance(template, dict) else None


def _check_unique_name(name: Any, index: int, seen: dict[str, int], report: Report) -> None:
    """A name an earlier tool has is an error; ``seen`` keeps each name's first index."""
    if not isinstance(name, str):
        return
    if name in seen:
        report.errors.append(f"tools[{index}].name: duplicate tool name {name!r} (also tools[{seen[name]}])")
    seen.setdefault(name, index)


def _check_tool_fields(tool: dict[str, Any], path: str, report: Report) -> None:
    """The tool's own fields (name, inputs, outputs, tags, ...), by utcp's model."""
    from pydantic import ValidationError
    from utcp.data.tool import Tool

    from utcp_http_stream.template import StreamableHttpCallTemplate

    stand_in = StreamableHttpCallTemplate(url="https://example.invalid/")
    candidate = {**tool, "tool_call_template": stand_in}
    candidate.pop("tool_provider", None)
    try:
        Tool.model_validate(candidate)
    except ValidationError as exc:
        report.errors.extend(_pydantic_problems(exc, path))


def _check_template(template: Any, path: str, report: Report) -> None:
    if not isinstance(template, dict):
        report.errors.append(f"{_where(path)}: a call template must be an object, got {type(template).__name__}")
        return
    kind = template.get("call_template_type")
    if kind is None:
        report.errors.append(_missing_type(template, path))
        return
    if kind in _OUR_TYPES:
        _check_our_template(template, path, report)
    else:
        _check_other_template(template, path, report)
    _check_placeholders(template, path, report)


def _missing_type(template: dict[str, Any], path: str) -> str:
    """The error for a template without ``call_template_type`` (a hint when it is a provider)."""
    hint = " (a legacy provider_type? run validate on the file to upgrade it)" if "provider_type" in template else ""
    return f"{_join(path, 'call_template_type')}: missing{hint}"


def _check_our_template(template: dict[str, Any], path: str, report: Report) -> None:
    from pydantic import ValidationError

    from utcp_http_stream.template import StreamableHttpCallTemplate

    _check_unknown_fields(template, path, report)
    candidate = dict(template)
    auth = candidate.get("auth")
    if auth is not None and not _check_auth(auth, _join(path, "auth"), report):
        candidate["auth"] = None  # reported already; check the rest
    try:
        parsed = StreamableHttpCallTemplate.model_validate(candidate)
    except ValidationError as exc:
        report.errors.extend(_pydantic_problems(exc, path))
        return
    _check_urls(parsed.url, auth, path, report)
    _check_literal_secrets(template, path, report)


def _check_unknown_fields(template: dict[str, Any], path: str, report: Report) -> None:
    """Fields this plugin's template does not have, each with advice (a likely misspelling)."""
    from utcp_http_stream.template import StreamableHttpCallTemplate
    from utcp_http_stream.template_fields import unknown_fields

    for unknown in unknown_fields(template, StreamableHttpCallTemplate.model_fields):
        report.errors.append(f"{_join(path, unknown.name)}: {unknown.advice()}")


def _check_urls(url: str, auth: Any, path: str, report: Report) -> None:
    """The URL policy on the template's ``url`` and its auth's ``token_url``."""
    _check_literal_url(url.split("?", 1)[0], url.replace("{", "x").replace("}", "x"), _join(path, "url"), report)
    token_url = auth.get("token_url") if isinstance(auth, dict) else None
    if isinstance(token_url, str):
        _check_literal_url(token_url, token_url, _join(path, "auth.token_url"), report)


def _check_literal_url(written: str, url: str, where: str, report: Report) -> None:
    """The URL policy on ``url`` (the field at ``where``, as ``written``)
    unless it holds a ``${VAR}``, which only the client can resolve."""
    from utcp_http_stream.errors import InsecureUrlError
    from utcp_http_stream.security import check_url

    if _VARIABLE.search(written):
        return
    try:
        check_url(url, what=where.rpartition(".")[2])
    except InsecureUrlError as exc:
        report.errors.append(f"{where}: {exc}")


def _check_auth(auth: Any, path: str, report: Report) -> bool:
    from pydantic import ValidationError
    from utcp.data.auth_implementations import ApiKeyAuth, BasicAuth, OAuth2Auth

    models = {"api_key": ApiKeyAuth, "basic": BasicAuth, "oauth2": OAuth2Auth}
    if not isinstance(auth, dict):
        report.errors.append(f"{path}: must be an object with auth_type, got {type(auth).__name__}")
        return False
    model = models.get(auth.get("auth_type"))  # type: ignore[arg-type]
    if model is None:
        report.errors.append(
            f"{path}.auth_type: {json.dumps(auth.get('auth_type'))} is not one of api_key, basic, oauth2"
        )
        return False
    try:
        model.model_validate(auth)
    except ValidationError as exc:
        report.errors.extend(_pydantic_problems(exc, path))
        return False
    return True


def _check_other_template(template: dict[str, Any], path: str, report: Report) -> None:
    """A template of another protocol: utcp's registered serializer decides."""
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.plugins.plugin_loader import ensure_plugins_initialized

    ensure_plugins_initialized()  # the installed plugins' template types (utcp-http's "http"...)
    known = CallTemplateSerializer.call_template_serializers
    kind = template.get("call_template_type")
    if kind not in known:
        report.errors.append(
            f"{_join(path, 'call_template_type')}: {json.dumps(kind)} is not a registered protocol "
            f"(installed: {', '.join(sorted(known))})"
        )
        return
    try:
        CallTemplateSerializer().validate_dict(copy.deepcopy(template))
    except Exception as exc:  # a foreign serializer may raise anything
        report.errors.extend(_serializer_problems(exc, path))


def _serializer_problems(exc: Exception, path: str) -> list[str]:
    """What a serializer's exception says: each problem of the pydantic
    ValidationError it wrapped, else one line."""
    cause = _validation_error_in(exc)
    if cause is not None:
        return _pydantic_problems(cause, path)
    message, _code = describe(exc)
    return [f"{_where(path)}: {message}"]


def _validation_error_in(exc: BaseException) -> Any:
    """The pydantic ValidationError a serializer wrapped, if any."""
    from pydantic import ValidationError

    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, ValidationError):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _check_placeholders(value: Any, path: str, report: Report) -> None:
    """A ``${...}`` utcp can never fill (``${API-KEY}``): say what to rename it to."""
    if isinstance(value, str):
        _check_placeholder_names(value, path, report)
    for item_path, item in _members(value, path):
        _check_placeholders(item, item_path, report)


def _members(value: Any, path: str) -> list[tuple[str, Any]]:
    """The members of a JSON object or array with their paths; none of a scalar."""
    if isinstance(value, dict):
        return [(_join(path, str(key)), item) for key, item in value.items()]
    if isinstance(value, list):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return []


def _check_placeholder_names(text: str, path: str, report: Report) -> None:
    from utcp_http_stream.placeholders import is_usable_name, iter_placeholders, usable_name

    for name in iter_placeholders(text):
        if not is_usable_name(name):
            report.errors.append(
                f"{_where(path)}: placeholder ${{{name}}} can never be filled (utcp substitutes only "
                f"names made of letters, digits and _); rename it to ${{{usable_name(name)}}}"
            )


def _check_literal_secrets(template: dict[str, Any], path: str, report: Report) -> None:
    """Credentials written into the template instead of read from ``${VAR}``s."""
    _check_auth_secrets(template.get("auth"), _join(path, "auth"), report)
    _check_header_secrets(template.get("headers"), _join(path, "headers"), report)


def _check_auth_secrets(auth: Any, path: str, report: Report) -> None:
    if not isinstance(auth, dict):
        return
    for key in ("api_key", "password", "client_secret"):
        if _is_literal(auth.get(key)):
            report.warnings.append(f"{path}.{key}: holds a literal secret; use a ${{VARIABLE}} instead")


def _check_header_secrets(headers: Any, path: str, report: Report) -> None:
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if str(name).lower() in _SECRET_HEADERS and _is_literal(value):
            report.warnings.append(f"{path}.{name}: holds a literal credential; use a ${{VARIABLE}} instead")


def _is_literal(value: Any) -> bool:
    """A non-empty string without a ``${VAR}``."""
    return isinstance(value, str) and bool(value) and not _VARIABLE.search(value)


# pydantic names the member of a union that failed (``str``, ``list[str]``,
# ``function-after[...]``) in the error location; those are not JSON keys.
_UNION_TAG = re.compile(r"^(str|int|float|bool|bytes|none|(list|dict|tuple|set)\[.*\]|function-[\w-]+\[.*\])$")


def _pydantic_problems(exc: Any, path: str) -> list[str]:
    """One line per JSON path; a union's per-member messages are merged."""
    merged: dict[str, list[str]] = {}
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        messages = merged.setdefault(_where(_location(path, error.get("loc", ()))), [])
        if message not in messages:
            messages.append(message)
    return [f"{location}: {' / '.join(messages)}" for location, messages in merged.items()]


def _location(path: str, loc: tuple[Any, ...]) -> str:
    """The JSON path of an error's ``loc`` under ``path`` (union member tags left out)."""
    location = path
    for part in loc:
        if isinstance(part, int):
            location = f"{location}[{part}]"
        elif not _UNION_TAG.match(str(part)):
            location = _join(location, str(part))
    return location


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    """``path`` as shown in a message: ``(template)`` for the document itself."""
    return path or "(template)"


#: what :func:`check_document` checks a document of each kind with
_CHECKS = {
    "manual": _check_manual,
    "legacy_manual": _check_manual,
    "call_template": _check_one_template,
    "template_list": _check_template_list,
}


# -- the command -------------------------------------------------------------------------------


def run_validate(args: argparse.Namespace, console: Console) -> int:
    code = EXIT_OK
    for name in args.files:
        try:
            code = max(code, _validate_file(Path(name), args, console))
        except CliError as exc:
            console.error(str(exc))
            code = max(code, exc.code)
    return code


def _validate_file(path: Path, args: argparse.Namespace, console: Console) -> int:
    openapi = validate_openapi_file(path, console)
    if openapi is not None:
        return openapi
    upgraded, changed = upgrade_document(load_json(path))
    report = check_document(upgraded)
    _print_problems(path, report, console)
    if report.errors:
        return EXIT_USAGE
    if not changed:
        note = "; already v1, nothing to write" if args.write else ""
        console.line(f"OK {path}: {report.summary}{note}", style="green")
        return EXIT_OK
    _output_upgrade(path, upgraded, report.summary, console, write=args.write)
    return EXIT_OK


def _print_problems(path: Path, report: Report, console: Console) -> None:
    """The report's warnings, then its errors and how many there are."""
    for warning in report.warnings:
        console.warning(f"{path}: {warning}")
    if not report.errors:
        return
    for problem in report.errors:
        console.error(f"{path}: {problem}")
    console.status(f"{path}: {plural(len(report.errors), 'problem')}; not valid", style="red")


def _output_upgrade(path: Path, upgraded: Any, summary: str, console: Console, *, write: bool) -> None:
    """The upgraded document: saved over ``path`` (the original kept as
    ``.bak``) with ``--write``, else printed."""
    text = json.dumps(upgraded, indent=2, ensure_ascii=False) + "\n"
    if write:
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
        _write_atomically(path, text)
        console.line(f"OK {path}: upgraded legacy v0.1 to v1 ({summary}); backup in {backup}", style="green")
    else:
        console.write(text)
        console.status(
            f"OK {path}: legacy v0.1 document, upgraded to v1 above ({summary}); "
            "pass --write to save it (the original is kept as .bak)",
            style="green",
        )


def _write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
