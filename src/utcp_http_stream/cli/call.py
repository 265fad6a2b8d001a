"""``call`` (one tool of a manual) and ``request`` (an ad-hoc streaming request).

Two ways to reach a tool, picked by what MANUAL is:

- a UTCP manual file (``{"tools": [...]}``, v1 or legacy v0.1): the file is
  validated, the tool's template gets its ``${VAR}``s resolved by utcp's own
  variable substitutor (``--env-file`` through utcp's dotenv loader, manual
  name as the namespace, exactly as UtcpClient does), and the call goes
  through :class:`~utcp_http_stream.transport.StreamClient`, which also knows
  the response's framing and length (for the progress bar);
- a manual call template (a file with ``call_template_type``, a legacy
  provider, or a ``/utcp`` URL): the manual is registered with a
  ``UtcpClient`` (plugins loaded through their entry points) and the tool is
  called with ``call_tool_streaming``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from utcp_http_stream.cli.arguments import (
    client_config,
    document_kind,
    load_json,
    manual_name,
    parse_tool_args,
)
from utcp_http_stream.cli.console import Console
from utcp_http_stream.cli.failures import CallFailed, UsageError
from utcp_http_stream.cli.streaming import StreamRenderer

__all__ = ["run_call", "run_request"]

_OUR_TYPES = ("streamable_http", "http_stream")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


async def run_call(args: argparse.Namespace, console: Console) -> int:
    tool_args = parse_tool_args(args.args, args.pairs)
    config = client_config(args.env_file)
    if _is_url(args.manual):
        name = manual_name(args.name or "manual")
        template = {"name": name, "call_template_type": "streamable_http", "url": args.manual}
        return await _call_through_client(args, console, template, tool_args, config)

    document = load_json(args.manual)
    kind = document_kind(document)
    if kind in ("manual", "legacy_manual"):
        name = manual_name(args.name or Path(args.manual).stem)
        return await _call_direct(args, console, document, name, tool_args, config)
    if kind in ("call_template", "legacy_provider"):
        from utcp_http_stream.manual import upgrade_legacy_provider

        template = upgrade_legacy_provider(document) if kind == "legacy_provider" else dict(document)
        template["name"] = manual_name(args.name or str(template.get("name") or Path(args.manual).stem))
        return await _call_through_client(args, console, template, tool_args, config)
    raise UsageError(
        f"{args.manual}: not a UTCP manual (an object with 'tools') nor a manual call template "
        "(an object with 'call_template_type'); see 'utcp-http-stream validate'"
    )


def _renderer(args: argparse.Namespace, console: Console, *, tokens: bool, label: str) -> StreamRenderer:
    return StreamRenderer(
        console, json_lines=args.json, output=args.output, lines=args.lines, tokens=tokens, label=label
    )


# -- a manual file: StreamClient ---------------------------------------------------------


async def _call_direct(
    args: argparse.Namespace,
    console: Console,
    document: dict[str, Any],
    name: str,
    tool_args: dict[str, Any],
    config: dict[str, Any],
) -> int:
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.data.utcp_client_config import UtcpClientConfigSerializer
    from utcp.implementations.default_variable_substitutor import DefaultVariableSubstitutor

    from utcp_http_stream.manual import parse_manual

    try:
        parsed = parse_manual(document)
    except ValueError as exc:
        raise UsageError(f"{args.manual}: {exc}") from None
    wanted = _short_tool_name(args.tool, name)
    tool = next((t for t in parsed.manual.tools if t.name == wanted), None)
    if tool is None:
        broken = [error for error in parsed.errors if f"({wanted!r})" in error]
        if broken:
            raise UsageError(f"{args.manual}: tool {wanted!r} is invalid: {broken[0]}")
        raise UsageError(_no_such_tool(wanted, [t.name for t in parsed.manual.tools], args.manual))
    template = tool.tool_call_template
    if template.call_template_type not in _OUR_TYPES:
        raise UsageError(
            f"tool {wanted!r} uses call_template_type {template.call_template_type!r}; this command calls "
            "streamable_http tools (register the manual with a UtcpClient for other protocols)"
        )
    _check_required(tool, tool_args)

    # Resolve ${VAR} the way UtcpClient does: its substitutor, its config
    # (with utcp's dotenv loader), the manual name as namespace.
    client_config_obj = UtcpClientConfigSerializer().validate_dict(config)
    serializer = CallTemplateSerializer()
    with _variables_of(name):
        substitutor = DefaultVariableSubstitutor()
        resolved = substitutor.substitute(serializer.to_dict(template), client_config_obj, name)
    template = serializer.validate_dict(resolved)

    tokens = bool(getattr(template, "select", None))
    return await _stream_and_render(args, console, template, tool_args, tokens=tokens, label=wanted, namespace=name)


# -- a manual call template: UtcpClient ------------------------------------------------------


async def _call_through_client(
    args: argparse.Namespace,
    console: Console,
    template_dict: dict[str, Any],
    tool_args: dict[str, Any],
    config: dict[str, Any],
) -> int:
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create(config=config)
    try:
        with _variables_of(str(template_dict["name"])):
            await _stream_registered(client, args, console, template_dict, tool_args)
    finally:
        await client.close()
    return 0


async def _stream_registered(
    client: Any,
    args: argparse.Namespace,
    console: Console,
    template_dict: dict[str, Any],
    tool_args: dict[str, Any],
) -> None:
    from utcp.data.call_template import CallTemplateSerializer

    template = CallTemplateSerializer().validate_dict(template_dict)
    result = await client.register_manual(template)
    if not result.success:
        reason = "; ".join(str(error) for error in result.errors) or "unknown reason"
        raise CallFailed(f"could not register manual {template.name!r}: {reason}")
    name = template.name
    wanted = _short_tool_name(args.tool, name)
    full_name = f"{name}.{wanted}"
    tool = next((t for t in result.manual.tools if t.name == full_name), None)
    if tool is None:
        names = [t.name.removeprefix(name + ".") for t in result.manual.tools]
        raise UsageError(_no_such_tool(wanted, names, args.manual))
    _check_required(tool, tool_args)
    tokens = bool(getattr(tool.tool_call_template, "select", None))
    with _renderer(args, console, tokens=tokens, label=wanted) as renderer:
        stream = client.call_tool_streaming(full_name, tool_args)
        try:
            async for item in stream:
                renderer.feed(item)
        finally:
            await stream.aclose()


# -- request ----------------------------------------------------------------------------


async def run_request(args: argparse.Namespace, console: Console) -> int:
    from pydantic import ValidationError

    from utcp_http_stream.template import StreamableHttpCallTemplate, format_validation_error

    headers: dict[str, str] = {}
    for header in args.header:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"--header {header!r} is not Name:value")
        headers[key.strip()] = value.strip()

    template: dict[str, Any] = {
        "name": "request",
        "call_template_type": "streamable_http",
        "url": args.url,
        "http_method": args.method,
        "stream_format": args.format,
        "timeout": args.timeout,
        "connect_timeout": args.connect_timeout,
    }
    if args.idle_timeout is not None:
        template["idle_timeout"] = args.idle_timeout
    if headers:
        template["headers"] = headers
    if args.select:
        template["select"] = args.select
    tool_args: dict[str, Any] = {}
    if args.body is not None:
        body, content_type = _body(args.body)
        template["body_field"] = "body"
        template["content_type"] = args.content_type or content_type
        tool_args["body"] = body
    try:
        parsed = StreamableHttpCallTemplate.model_validate(template)
    except ValidationError as exc:
        raise UsageError(format_validation_error(exc)) from None

    label = urlsplit(args.url).path.rstrip("/").rsplit("/", 1)[-1] or "response"
    return await _stream_and_render(args, console, parsed, tool_args, tokens=bool(args.select), label=label)


async def _stream_and_render(
    args: Any,
    console: Any,
    template: Any,
    tool_args: dict[str, Any],
    *,
    tokens: bool,
    label: str,
    namespace: str | None = None,
) -> int:
    """Stream one call through StreamClient (so the framing and Content-Length
    are known) and render every item as it arrives."""
    from utcp_http_stream.transport import StreamClient

    client = StreamClient()
    try:
        with _renderer(args, console, tokens=tokens, label=label) as renderer:
            async with client.stream(template, tool_args, variable_namespace=namespace) as response:
                _show_response(args, console, response)
                renderer.begin(framing=response.framing, total=_content_length(response))
                async for item in response:
                    renderer.feed(item)
    finally:
        await client.close()
    return 0


def _body(text: str) -> tuple[Any, str]:
    """The body and its default Content-Type: a JSON object or array is sent
    as JSON; anything else (other JSON, plain text, a file's bytes) as it is.
    ``@path`` reads the body from a file."""
    raw: str | bytes = text
    if text.startswith("@"):
        try:
            raw = Path(text[1:]).read_bytes()
        except OSError as exc:
            raise UsageError(f"--body {text}: {exc.strerror or exc}") from None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if isinstance(raw, bytes):
            return raw, "application/octet-stream"
        return raw, "text/plain; charset=utf-8"
    if isinstance(value, dict | list):
        return value, "application/json"
    return raw, "application/json"


# -- shared helpers ------------------------------------------------------------------------


@contextlib.contextmanager
def _variables_of(name: str) -> Iterator[None]:
    """An unset ``${VAR}`` as a usage error naming both spellings of it."""
    from utcp.exceptions import UtcpVariableNotFound

    try:
        yield
    except UtcpVariableNotFound as exc:
        full = exc.variable_name
        short = full.removeprefix(name.replace("_", "__") + "_")
        raise UsageError(
            f"variable {short} of manual {name!r} is not set: define {full} in the environment or in a file "
            f"passed with --env-file (UtcpClient prefixes a manual's variables with its name)"
        ) from None


def _short_tool_name(tool: str, name: str) -> str:
    return tool.removeprefix(name + ".")


def _no_such_tool(wanted: str, names: list[str], source: str) -> str:
    available = ", ".join(sorted(names)) or "none"
    return f"no tool {wanted!r} in {source} (available: {available})"


def _check_required(tool: Any, tool_args: dict[str, Any]) -> None:
    inputs = tool.inputs
    required = list(inputs.required or []) if inputs is not None else []
    missing = [key for key in required if key not in tool_args]
    if missing:
        described = []
        for key, schema in (inputs.properties or {}).items():
            kind = schema.type if isinstance(schema.type, str) else "/".join(schema.type or []) or "any"
            described.append(f"{key} ({kind}{', required' if key in required else ''})")
        raise UsageError(
            f"tool {tool.name!r} needs argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"pass key=value (it takes: {', '.join(described)})"
        )


def _content_length(response: Any) -> int | None:
    headers = response.headers
    if headers.get("Content-Encoding", "identity").lower() != "identity":
        return None  # the length on the wire, not of what we write
    try:
        return int(headers.get("Content-Length", ""))
    except ValueError:
        return None


def _show_response(args: argparse.Namespace, console: Console, response: Any) -> None:
    if not getattr(args, "include", False):
        return
    console.status(f"HTTP {response.status} {response.reason}  ({response.framing} framing)", style="bold")
    from utcp_http_stream.security import redact_headers

    for key, value in redact_headers(dict(response.headers)).items():
        console.status(f"{key}: {value}", style="dim")
    console.status("")
