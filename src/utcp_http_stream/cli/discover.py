"""``discover``: register a manual through UtcpClient and list its tools."""

from __future__ import annotations

import argparse
import json
from typing import Any

from utcp_http_stream.cli.arguments import client_config, document_kind, load_json, manual_name
from utcp_http_stream.cli.console import Console
from utcp_http_stream.cli.failures import CallFailed, UsageError

__all__ = ["run_discover"]


async def run_discover(args: argparse.Namespace, console: Console) -> int:
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.data.utcp_manual import UtcpManualSerializer
    from utcp.utcp_client import UtcpClient

    if args.source.startswith(("http://", "https://")):
        template_dict: dict[str, Any] = {"call_template_type": "streamable_http", "url": args.source}
        default_name = "manual"
    else:
        document = load_json(args.source)
        kind = document_kind(document)
        if kind == "legacy_provider":
            from utcp_http_stream.manual import upgrade_legacy_provider

            document = upgrade_legacy_provider(document)
        elif kind != "call_template":
            raise UsageError(
                f"{args.source}: discover needs a /utcp URL or a manual call template file; "
                "to inspect a manual file use 'utcp-http-stream validate'"
            )
        template_dict = dict(document)
        default_name = str(document.get("name") or "manual")
    template_dict["name"] = manual_name(args.name or default_name)

    client = await UtcpClient.create(config=client_config(args.env_file))
    try:
        template = CallTemplateSerializer().validate_dict(template_dict)
        result = await client.register_manual(template)
    finally:
        await client.close()
    if not result.success:
        reason = "; ".join(str(error) for error in result.errors) or "unknown reason"
        raise CallFailed(f"could not register manual {template.name!r}: {reason}")
    name = template.name
    for tool in result.manual.tools:
        tool.name = tool.name.removeprefix(name + ".")
    for error in result.errors:
        console.warning(f"skipped {error}")

    if args.json:
        console.write(json.dumps(UtcpManualSerializer().to_dict(result.manual), indent=2, ensure_ascii=False) + "\n")
        return 0

    tools = result.manual.tools
    source = getattr(template, "url", args.source)
    console.line(f"manual {name!r} from {source}: {len(tools)} tool{'s' if len(tools) != 1 else ''}", style="bold")
    for tool in tools:
        console.line("")
        console.line(f"{name}.{tool.name}", style="bold cyan")
        if tool.description:
            console.line(f"  {tool.description}")
        console.line(f"  inputs: {describe_inputs(tool.inputs)}")
        console.line(f"  call:   {describe_template(tool.tool_call_template)}", style="dim")
    return 0


def describe_inputs(schema: Any) -> str:
    """``prompt (string, required), max_tokens (integer)``"""
    properties = getattr(schema, "properties", None) or {}
    required = set(getattr(schema, "required", None) or [])
    if not properties:
        return "none"
    parts = []
    for key, prop in properties.items():
        kind = prop.type if isinstance(prop.type, str) else "/".join(prop.type or []) or "any"
        if prop.enum:
            kind += " " + "|".join(str(value) for value in prop.enum)
        parts.append(f"{key} ({kind}{', required' if key in required else ''})")
    return ", ".join(parts)


def describe_template(template: Any) -> str:
    kind = template.call_template_type
    url = getattr(template, "url", None)
    if url is None:
        return kind
    from utcp_http_stream.security import redact_url

    text = f"{getattr(template, 'http_method', 'GET')} {redact_url(url)}  [{kind}"
    fmt = getattr(template, "stream_format", None)
    if fmt:
        text += f", {fmt}"
    select = getattr(template, "select", None)
    if select:
        text += f", select {select}"
    if getattr(template, "auth", None) is not None:
        from utcp_http_stream.cli.convert import auth_summary

        text += f", auth {auth_summary(template.auth)}"
    return text + "]"
