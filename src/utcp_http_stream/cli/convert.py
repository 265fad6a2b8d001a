"""``convert``: the UTCP manual an OpenAPI document converts to, written out
so it can be reviewed, edited and committed; and the OpenAPI side of
``validate`` and ``discover`` (what an OpenAPI file converts to, which
variables a tool's auth reads)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

from utcp_http_stream.cli.console import Console, plural
from utcp_http_stream.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["VALIDATE_ORIGIN", "auth_summary", "manual_dict", "run_convert", "validate_openapi_file"]

#: What ``validate`` resolves relative server URLs against: a file has no URL.
#: A loopback origin, so servers on this machine (local development) are not
#: reported; a document fetched from a remote origin may not name them.
VALIDATE_ORIGIN = "http://localhost/"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_AUTH_FIELDS = ("api_key", "username", "password", "client_id", "client_secret")


def run_convert(args: argparse.Namespace, console: Console) -> int:
    """Fetch or read SPEC, convert it, write the manual (stdout or ``-o``)."""
    body, content_type, source_url = _read_spec(args.spec)
    result = _convert(args.spec, body, content_type, args.base_url or source_url)
    for error in result.errors:
        console.warning(error)
    _write_manual(result.manual, args.output, console)
    return EXIT_OK if result.manual.tools else EXIT_FAILED


def _write_manual(manual: Any, output: str | None, console: Console) -> None:
    """The manual as a JSON file: to ``output``, or stdout when that is None or ``-``."""
    text = json.dumps(manual_dict(manual), indent=2, ensure_ascii=False) + "\n"
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
        console.status(f"wrote {plural(len(manual.tools), 'tool')} to {output}", style="green")
    else:
        console.write(text)


def manual_dict(manual: Any) -> dict[str, Any]:
    """The manual as a file a person reads: schemas without their unset
    keywords, call templates with only the fields that differ from the
    defaults (and no generated ``name``: registration sets it)."""
    return {
        "manual_version": manual.manual_version,
        "utcp_version": manual.utcp_version,
        "tools": [_tool_dict(tool) for tool in manual.tools],
    }


def _tool_dict(tool: Any) -> dict[str, Any]:
    template = tool.tool_call_template
    fields = template.model_dump(exclude_defaults=True, exclude={"name", "auth"})
    if template.auth is not None:
        fields["auth"] = template.auth.model_dump()
    data: dict[str, Any] = {"name": tool.name, "description": tool.description, "tags": list(tool.tags)}
    data["inputs"] = tool.inputs.model_dump(by_alias=True, exclude_none=True)
    data["outputs"] = tool.outputs.model_dump(by_alias=True, exclude_none=True)
    data["tool_call_template"] = {"call_template_type": template.call_template_type, **fields}
    return data


def validate_openapi_file(path: Path, console: Console) -> int | None:
    """``validate`` for an OpenAPI file: its conversion problems as warnings
    and a summary; ``None`` when the file is not an OpenAPI document."""
    document = _openapi_document(path)
    if document is None:
        return None
    from utcp_http_stream.openapi import convert_openapi

    try:
        result = convert_openapi(document, source_url=VALIDATE_ORIGIN)
    except ValueError as exc:
        console.error(f"{path}: {exc}")
        return EXIT_USAGE
    for error in result.errors:
        console.warning(f"{path}: {error}")
    version = document.get("openapi") or f"Swagger {document.get('swagger')}"
    console.line(f"OK {path}: OpenAPI {version} document, {plural(len(result.manual.tools), 'tool')}", style="green")
    return EXIT_OK


def auth_summary(auth: Any) -> str:
    """``api_key Authorization (set ${APIKEYAUTH})``: the auth kind and the
    variables it reads, never a value."""
    kind = getattr(auth, "auth_type", "auth")
    where = getattr(auth, "var_name", None)
    names = _auth_variables(auth)
    text = f"{kind} {where}" if where else str(kind)
    return text + (f" (set {', '.join('${' + name + '}' for name in names)})" if names else "")


def _auth_variables(auth: Any) -> list[str]:
    """The ``${VAR}`` names the auth's credential fields hold, in field order."""
    return [name for field in _AUTH_FIELDS for name in _PLACEHOLDER.findall(str(getattr(auth, field, "") or ""))]


def _openapi_document(path: Path) -> dict[str, Any] | None:
    """The OpenAPI document in ``path``; None when the file is unreadable
    (the JSON path reports it) or holds no OpenAPI document."""
    from utcp_http_stream.documents import DocumentError, load_document
    from utcp_http_stream.openapi import is_openapi

    try:
        body = path.read_bytes()
    except OSError:
        return None
    try:
        document = load_document(body)
    except DocumentError:
        return None
    return document if is_openapi(document) else None


def _convert(spec: str, body: bytes, content_type: str | None, source_url: str | None) -> Any:
    from utcp_http_stream.openapi import convert_openapi

    document = _load_openapi(spec, body, content_type)
    try:
        return convert_openapi(document, source_url=source_url)
    except ValueError as exc:
        raise UsageError(f"{spec}: {exc}") from None


def _load_openapi(spec: str, body: bytes, content_type: str | None) -> dict[str, Any]:
    """SPEC's document, which must be OpenAPI or Swagger (a usage error otherwise)."""
    from utcp_http_stream.documents import DocumentError, load_document
    from utcp_http_stream.openapi import is_openapi

    try:
        document = load_document(body, content_type)
    except DocumentError as exc:
        raise UsageError(f"{spec}: {exc}") from None
    if not is_openapi(document):
        raise UsageError(f"{spec}: not an OpenAPI or Swagger document (no top-level 'openapi' or 'swagger' key)")
    return document


def _read_spec(spec: str) -> tuple[bytes, str | None, str | None]:
    """(body, Content-Type, URL) of a URL, or (bytes, None, None) of a file."""
    if spec.startswith(("http://", "https://")):
        return asyncio.run(_fetch(spec))
    return _read_file(spec), None, None


def _read_file(spec: str) -> bytes:
    """The bytes of the file ``spec``; an unreadable one is a usage error."""
    try:
        return Path(spec).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{spec}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{spec}: {exc.strerror or exc}") from None


async def _fetch(spec: str) -> tuple[bytes, str | None, str]:
    from utcp_http_stream.template import StreamableHttpCallTemplate
    from utcp_http_stream.transport import StreamClient

    template = StreamableHttpCallTemplate(url=spec)
    async with StreamClient() as client:
        return await client.fetch_document(template, limit=template.max_item_bytes)
