"""``call`` (one tool of a manual) and ``request`` (an ad-hoc streaming request).

MANUAL is one of:

- a UTCP manual file (``{"tools": [...]}``, v1 or legacy v0.1): validated
  here; it has no name field, so its file name is the manual name;
- a manual call template file (``call_template_type``, or a legacy
  provider) or a ``/utcp`` URL (with or without its scheme): the manual is
  registered with a ``UtcpClient`` (plugins loaded through their entry
  points), so discovery works exactly as in an application.

Either way the tool's arguments are checked against its ``inputs`` (``key=value``
values converted to the schema's types), its ``${VAR}``s resolved by utcp's
own substitutor (``--env-file`` through utcp's dotenv loader, the manual name
as the namespace), and a tool of this plugin is called through
:class:`~utcp_http_stream.transport.StreamClient`, which also knows the
response's status, headers, framing and length (``-i``, the progress bar).
A registered tool of another protocol is called with ``call_tool_streaming``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from utcp_http_stream.cli.arguments import (
    MANUAL_KINDS,
    TEMPLATE_KINDS,
    client_config,
    document_kind,
    load_json,
    parse_tool_args,
    split_pairs,
)
from utcp_http_stream.cli.console import Console
from utcp_http_stream.cli.failures import UsageError
from utcp_http_stream.cli.manuals import (
    file_template,
    parse_manual_file,
    register_template,
    url_template,
)
from utcp_http_stream.cli.sources import ManualName, manual_name, source_url
from utcp_http_stream.cli.streaming import StreamRenderer
from utcp_http_stream.cli.variables import resolve_template, variables_of

__all__ = ["run_call", "run_request"]

_OUR_TYPES = ("streamable_http", "http_stream")


async def run_call(args: argparse.Namespace, console: Console) -> int:
    split_pairs(args.pairs)  # a malformed pair is reported before any network work
    config = client_config(args.env_file)
    url = source_url(args.manual)
    if url is not None:
        template, name = url_template(url, args.name)
        return await _call_through_client(args, console, template, name, config)

    document = load_json(args.manual)
    kind = document_kind(document)
    if kind in MANUAL_KINDS:
        name = manual_name(args.name, path=args.manual)
        tool = _tool_of_manual_file(args, document, name)
        return await _call_tool(args, console, tool, name, config)
    if kind in TEMPLATE_KINDS:
        template, name = file_template(document, kind, args.name, args.manual)
        return await _call_through_client(args, console, template, name, config)
    raise UsageError(
        f"{args.manual}: not a UTCP manual (an object with 'tools') nor a manual call template "
        "(an object with 'call_template_type'); see 'utcp-http-stream validate'"
    )


def _renderer(args: argparse.Namespace, console: Console, *, tokens: bool, label: str) -> StreamRenderer:
    return StreamRenderer(
        console, json_lines=args.json, output=args.output, lines=args.lines, tokens=tokens, label=label
    )


def _tool_of_manual_file(args: argparse.Namespace, document: dict[str, Any], name: ManualName) -> Any:
    parsed = parse_manual_file(args.manual, document)
    wanted = _short_tool_name(args.tool, name.value)
    tool = next((t for t in parsed.manual.tools if t.name == wanted), None)
    if tool is None:
        raise UsageError(_missing_tool(wanted, parsed, args.manual))
    return tool


def _missing_tool(wanted: str, parsed: Any, manual: str) -> str:
    """Why the manual file has no usable tool ``wanted``: invalid, or absent."""
    broken = [error for error in parsed.errors if f"({wanted!r})" in error]
    if broken:
        return f"{manual}: tool {wanted!r} is invalid: {broken[0]}"
    return _no_such_tool(wanted, [t.name for t in parsed.manual.tools], manual)


async def _call_through_client(
    args: argparse.Namespace,
    console: Console,
    template_dict: dict[str, Any],
    name: ManualName,
    config: dict[str, Any],
) -> int:
    """Register the manual with a UtcpClient, then call its tool."""
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create(config=config)
    try:
        result = await register_template(client, template_dict, name)
        tool = _registered_tool(result.manual.tools, _short_tool_name(args.tool, name.value), name, args.manual)
        return await _call_tool(args, console, tool, name, config, client=client)
    finally:
        await client.close()


def _registered_tool(tools: list[Any], wanted: str, name: ManualName, source: str) -> Any:
    """Tool ``wanted`` of the manual registered as ``name`` (its tools
    carry the ``name.`` prefix); a usage error when it has none."""
    tool = next((t for t in tools if t.name == f"{name.value}.{wanted}"), None)
    if tool is None:
        raise UsageError(_no_such_tool(wanted, [_short_tool_name(t.name, name.value) for t in tools], source))
    return tool


async def _call_tool(
    args: argparse.Namespace,
    console: Console,
    tool: Any,
    name: ManualName,
    config: dict[str, Any],
    *,
    client: Any = None,
) -> int:
    """Check the arguments, resolve the variables and stream the call."""
    from utcp_http_stream.arguments import check_arguments
    from utcp_http_stream.settings import ClientSettings

    schema = tool.inputs.model_dump(by_alias=True, exclude_none=True)
    tool_args = parse_tool_args(args.args, args.pairs, schema)
    short = _short_tool_name(tool.name, name.value)
    if ClientSettings.load().validate_arguments:
        check_arguments(short, schema, tool_args)
    template = tool.tool_call_template
    tokens = bool(getattr(template, "select", None))
    if template.call_template_type not in _OUR_TYPES:
        if client is None:
            raise UsageError(
                f"tool {short!r} uses call_template_type {template.call_template_type!r}; this command calls "
                "streamable_http tools of a manual file (register the manual with a UtcpClient for other protocols)"
            )
        with _renderer(args, console, tokens=tokens, label=short) as renderer:
            await _feed_client_stream(client, f"{name.value}.{short}", tool_args, renderer)
        return 0
    with variables_of(name):
        template = resolve_template(template, config, name.value)
    return await _stream_and_render(
        args, console, template, tool_args, tokens=tokens, label=short, namespace=name.value
    )


async def _feed_client_stream(client: Any, tool: str, tool_args: dict[str, Any], renderer: StreamRenderer) -> None:
    """Render a tool of another protocol as UtcpClient streams it."""
    stream = client.call_tool_streaming(tool, tool_args)
    try:
        async for item in stream:
            renderer.feed(item)
    finally:
        await stream.aclose()


# -- request ----------------------------------------------------------------------------


async def run_request(args: argparse.Namespace, console: Console) -> int:
    headers = _header_options(args.header)
    args.url = source_url(args.url) or args.url  # 127.0.0.1:8765/x works as in discover and call
    template, tool_args = _request_template(args, headers)
    parsed = _validated(template)
    label = urlsplit(args.url).path.rstrip("/").rsplit("/", 1)[-1] or "response"
    return await _stream_and_render(args, console, parsed, tool_args, tokens=bool(args.select), label=label)


def _validated(template: dict[str, Any]) -> Any:
    """``request``'s call template as this plugin's model; invalid options are a usage error."""
    from pydantic import ValidationError

    from utcp_http_stream.template import StreamableHttpCallTemplate, format_validation_error

    try:
        return StreamableHttpCallTemplate.model_validate(template)
    except ValidationError as exc:
        raise UsageError(format_validation_error(exc)) from None


def _request_template(args: argparse.Namespace, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call template ``request``'s options describe, and the tool
    arguments (the body, when one is given)."""
    template: dict[str, Any] = {
        "name": "request",
        "call_template_type": "streamable_http",
        "url": args.url,
        "http_method": args.method,
        "stream_format": args.format,
        "timeout": args.timeout,
    }
    if args.connect_timeout is not None:
        template["connect_timeout"] = args.connect_timeout
    if args.idle_timeout is not None:
        template["idle_timeout"] = args.idle_timeout
    if headers:
        template["headers"] = headers
    if args.select:
        template["select"] = args.select
    body_fields, tool_args = _body_options(args)
    template.update(body_fields)
    return template, tool_args


def _body_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template fields and the tool arguments of ``--body`` (none without it)."""
    if args.body is None:
        return {}, {}
    body, content_type = _body(args.body)
    return {"body_field": "body", "content_type": args.content_type or content_type}, {"body": body}


def _header_options(options: list[str]) -> dict[str, str]:
    """``--header Name:value`` options as headers."""
    headers: dict[str, str] = {}
    for header in options:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"--header {header!r} is not Name:value")
        headers[key.strip()] = value.strip()
    return headers


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
    raw = _body_source(text)
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw, "application/octet-stream" if isinstance(raw, bytes) else "text/plain; charset=utf-8"
    return (value if isinstance(value, dict | list) else raw), "application/json"


def _body_source(text: str) -> str | bytes:
    """``--body`` as typed, or the bytes of the file ``@path`` names."""
    if not text.startswith("@"):
        return text
    try:
        return Path(text[1:]).read_bytes()
    except OSError as exc:
        raise UsageError(f"--body {text}: {exc.strerror or exc}") from None


# -- shared helpers ------------------------------------------------------------------------


def _short_tool_name(tool: str, name: str) -> str:
    return tool.removeprefix(name + ".")


def _no_such_tool(wanted: str, names: list[str], source: str) -> str:
    available = ", ".join(sorted(names)) or "none"
    return f"no tool {wanted!r} in {source} (available: {available})"


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
