"""``discover``: a manual's tools, with their inputs and the variables to set.

SOURCE is a ``/utcp`` URL (with or without its scheme) or a manual call
template file, registered through UtcpClient exactly as an application
registers it; or a UTCP manual file, read as it is. Each tool is listed with
its inputs, its call, and every ``${VAR}`` it needs under the exact name to
set (namespaced by the manual name, which the header line says the origin of).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from utcp_http_stream.cli.arguments import MANUAL_KINDS, TEMPLATE_KINDS, client_config, document_kind, load_json
from utcp_http_stream.cli.console import Console, plural
from utcp_http_stream.cli.failures import UsageError
from utcp_http_stream.cli.manuals import (
    file_template,
    parse_manual_file,
    register_template,
    url_template,
)
from utcp_http_stream.cli.sources import ManualName, manual_name, source_url
from utcp_http_stream.cli.variables import is_set, required_variables

__all__ = ["describe_template", "run_discover"]


async def run_discover(args: argparse.Namespace, console: Console) -> int:
    name, manual, errors, origin = await _discover(args)
    for error in errors:
        console.warning(f"skipped {error}")
    tools = manual.tools
    for tool in tools:
        tool.name = tool.name.removeprefix(name.value + ".")

    if args.json:
        console.write(json.dumps(_manual_json(manual), indent=2, ensure_ascii=False) + "\n")
        return 0
    _print_tools(console, tools, name, origin, args.env_file)
    return 0


async def _discover(args: argparse.Namespace) -> tuple[ManualName, Any, list[str], str]:
    """(manual name, manual, per-tool errors, origin) of SOURCE, a URL or a file."""
    url = source_url(args.source)
    if url is not None:
        return await _discover_url(args, url)
    return await _discover_file(args)


async def _discover_url(args: argparse.Namespace, url: str) -> tuple[ManualName, Any, list[str], str]:
    """(manual name, manual, per-tool errors, origin) of a manual served at ``url``."""
    template_dict, name = url_template(url, args.name)
    manual, errors = await _register(template_dict, name, args.env_file)
    return name, manual, errors, url


async def _discover_file(args: argparse.Namespace) -> tuple[ManualName, Any, list[str], str]:
    """:func:`_discover_url` for a file: a UTCP manual, read as it is, or a
    call template (v1 or legacy provider), registered through UtcpClient."""
    document = load_json(args.source)
    kind = document_kind(document)
    if kind in MANUAL_KINDS:
        manual, errors = _read_manual(args.source, document)
        return manual_name(args.name, path=args.source), manual, errors, args.source
    if kind not in TEMPLATE_KINDS:
        raise UsageError(
            f"{args.source}: discover needs a /utcp URL, a manual call template file or a UTCP manual file"
        )
    template_dict, name = file_template(document, kind, args.name, args.source)
    manual, errors = await _register(template_dict, name, args.env_file)
    return name, manual, errors, str(template_dict.get("url") or args.source)


def _read_manual(path: str, document: Any) -> tuple[Any, list[str]]:
    """The manual and the per-tool errors of a UTCP manual file."""
    parsed = parse_manual_file(path, document)
    return parsed.manual, parsed.errors


async def _register(template_dict: dict[str, Any], name: ManualName, env_file: str | None) -> tuple[Any, list[str]]:
    """The manual and the per-tool errors of a manual registered through UtcpClient."""
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create(config=client_config(env_file))
    try:
        result = await register_template(client, template_dict, name)
    finally:
        await client.close()
    return result.manual, [str(error) for error in result.errors]


def _manual_json(manual: Any) -> dict[str, Any]:
    """The manual as JSON: schemas as the server wrote them (no ``null``
    stand-ins for keys it left out, such as ``"$schema": null``)."""
    from utcp.data.utcp_manual import UtcpManualSerializer

    data = UtcpManualSerializer().to_dict(manual)
    for tool, out in zip(manual.tools, data["tools"], strict=True):
        out["inputs"] = tool.inputs.model_dump(by_alias=True, exclude_unset=True)
        out["outputs"] = tool.outputs.model_dump(by_alias=True, exclude_unset=True)
    return data


def _print_tools(console: Console, tools: list[Any], name: ManualName, origin: str, env_file: str | None) -> None:
    console.line(f"manual {name.value!r} from {origin}: {plural(len(tools), 'tool')}", style="bold")
    if name.origin != "--name":
        console.line(f"{name.explain()[0].upper()}{name.explain()[1:]}.", style="dim")
    for tool in tools:
        _print_tool(console, tool, name, env_file)


def _print_tool(console: Console, tool: Any, name: ManualName, env_file: str | None) -> None:
    """A tool's full name, description, inputs, call and the variables it needs."""
    from utcp_http_stream.arguments import describe_inputs

    console.line("")
    console.line(f"{name.value}.{tool.name}", style="bold cyan")
    if tool.description:
        console.line(f"  {tool.description}")
    console.line(f"  inputs: {describe_inputs(tool.inputs.model_dump(by_alias=True, exclude_none=True))}")
    console.line(f"  call:   {describe_template(tool.tool_call_template)}", style="dim")
    _print_needs(console, tool.tool_call_template, name, env_file)


def _print_needs(console: Console, template: Any, name: ManualName, env_file: str | None) -> None:
    """The variables the call template reads, each marked when not set."""
    variables = required_variables(template, name.value)
    if variables:
        shown = ", ".join(f"{var}{'' if is_set(var, env_file) else ' (not set)'}" for var in variables)
        console.line(f"  needs:  {shown}")


def describe_template(template: Any) -> str:
    """``POST https://host/path  [streamable_http, sse, select ..., auth ...]``;
    just the type for a template without a URL."""
    url = getattr(template, "url", None)
    if url is None:
        return template.call_template_type
    from utcp_http_stream.security import redact_url

    traits = ", ".join(_traits(template))
    return f"{getattr(template, 'http_method', 'GET')} {redact_url(url)}  [{traits}]"


def _traits(template: Any) -> list[str]:
    """A template's type, then its stream format, select and auth when set."""
    traits = [f"{template.call_template_type}"]
    fmt = getattr(template, "stream_format", None)
    if fmt:
        traits.append(f"{fmt}")
    select = getattr(template, "select", None)
    if select:
        traits.append(f"select {select}")
    if getattr(template, "auth", None) is not None:
        from utcp_http_stream.cli.convert import auth_summary

        traits.append(f"auth {auth_summary(template.auth)}")
    return traits
