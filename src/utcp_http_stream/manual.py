"""Turning a discovery document into a UTCP manual. Pure: no I/O.

Accepts a UTCP v1 manual and the legacy v0.1 shape (``version`` plus tools
carrying ``tool_provider``), upgrading the latter so servers written for the
v0.1 HTTP Stream provider keep working. Tools are validated one by one: one
broken tool is reported, not allowed to sink the whole manual.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlsplit

from utcp.data.tool import ToolSerializer
from utcp.data.utcp_manual import UtcpManual
from utcp.exceptions import UtcpSerializerValidationError

from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.json_values import as_dict, as_list
from utcp_http_stream.security import check_url, is_loopback_host, printable_excerpt

__all__ = ["ManualParseResult", "is_legacy_manual", "parse_manual", "upgrade_legacy_provider"]

#: v0.1 provider_type -> v1 call_template_type
_LEGACY_TYPES = {"http_stream": "streamable_http", "streamable_http": "streamable_http", "http": "http", "sse": "sse"}
_OUR_TYPES = ("streamable_http", "http_stream")
_V1_VERSION_KEYS = ("utcp_version", "manual_version")


class ManualParseResult:
    __slots__ = ("errors", "manual")

    def __init__(self, manual: UtcpManual, errors: list[str]) -> None:
        self.manual = manual
        self.errors = errors


def is_legacy_manual(document: Any) -> bool:
    """True for the v0.1 shape: a tool carries ``tool_provider``, or the
    manual has ``version`` and none of v1's version keys."""
    if not isinstance(document, dict):
        return False
    legacy_version = "version" in document and document.keys().isdisjoint(_V1_VERSION_KEYS)
    return _has_provider_tool(document.get("tools")) or legacy_version


def _has_provider_tool(tools: Any) -> bool:
    """True when ``tools`` is a list in which a tool carries a v0.1 ``tool_provider``."""
    return any("tool_provider" in as_dict(tool) for tool in as_list(tools))


def upgrade_legacy_provider(provider: dict[str, Any]) -> dict[str, Any]:
    """A v0.1 provider dict as a v1 call template dict."""
    template = dict(provider)
    template.pop("provider_type", None)
    provider_type = provider.get("provider_type", provider.get("call_template_type", "http_stream"))
    if not isinstance(provider_type, str):
        raise ValueError(f"provider_type must be a string, got {type(provider_type).__name__}")
    template["call_template_type"] = _LEGACY_TYPES.get(provider_type, provider_type)
    return template


def parse_manual(document: Any, *, source_url: str | None = None) -> ManualParseResult:
    """Validate a discovery document into a manual, tool by tool.

    ``source_url`` is where the document came from: when it is not loopback,
    tools of this protocol whose URL is loopback are refused (a remote manual
    may not aim the client at local services).
    """
    if not isinstance(document, dict):
        raise ValueError(f"a UTCP manual is a JSON object, got {type(document).__name__}")
    tools = document.get("tools")
    if not isinstance(tools, list):
        raise ValueError("the manual has no 'tools' list")

    remote = source_url is not None and not is_loopback_host(_host(source_url))
    errors: list[str] = []
    valid = _valid_tools(tools, remote, errors)
    return ManualParseResult(UtcpManual(tools=valid, **_manual_fields(document)), errors)


def _valid_tools(tools: list[Any], remote: bool, errors: list[str]) -> list[Any]:
    """The tools that validate, the first of each name; what is wrong with
    the others appended to ``errors``."""
    valid: dict[str, Any] = {}
    for index, raw in enumerate(tools):
        label = _tool_label(index, raw)
        parsed = _parse_tool_or_report(raw, remote, label, errors)
        if parsed is None:
            continue
        if parsed.name in valid:
            shown = printable_excerpt(parsed.name, 80)
            errors.append(f"{label}: a tool named {shown!r} came earlier; the first is kept, this one dropped")
            continue
        valid[parsed.name] = parsed
    return list(valid.values())


def _tool_label(index: int, raw: Any) -> str:
    """How errors name a tool: its index, and its name when it has one."""
    name = as_dict(raw).get("name")
    if isinstance(name, str) and name:
        return f"tools[{index}] ({printable_excerpt(name, 80)!r})"
    return f"tools[{index}]"


def _parse_tool_or_report(raw: Any, remote: bool, label: str, errors: list[str]) -> Any | None:
    """:func:`_parse_tool`, or None with what is wrong appended to ``errors``."""
    try:
        return _parse_tool(raw, remote)
    except RecursionError:
        errors.append(f"{label}: nested too deeply to validate")
    except (UtcpSerializerValidationError, ValueError, KeyError, TypeError, InsecureUrlError) as exc:
        errors.append(f"{label}: {_short(exc)}")
    except Exception as exc:  # one tool, however broken, never sinks the manual
        errors.append(f"{label}: {type(exc).__name__}: {_short(exc)}")
    return None


def _manual_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The manual's own fields: its version (a legacy manual's ``version``)
    and, when given, ``utcp_version``."""
    fields: dict[str, Any] = {"manual_version": _manual_version(document)}
    if isinstance(document.get("utcp_version"), str):
        fields["utcp_version"] = document["utcp_version"]
    return fields


def _manual_version(document: dict[str, Any]) -> str:
    """A legacy manual's ``version``, else ``manual_version``, else 1.0.0."""
    version_key = "version" if is_legacy_manual(document) else "manual_version"
    return str(document.get(version_key) or document.get("manual_version") or "1.0.0")


def _parse_tool(raw: Any, remote: bool) -> Any:
    """One tool document as a ``Tool``; raises what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("a tool must be an object")
    parsed = ToolSerializer().validate_dict(_upgrade_legacy_tool(copy.deepcopy(raw)))
    if remote:
        _refuse_loopback(parsed.tool_call_template)
    return parsed


def _refuse_loopback(call_template: Any) -> None:
    """A remote manual may not aim this protocol's tools at loopback."""
    if call_template.call_template_type in _OUR_TYPES:
        try:
            check_url(getattr(call_template, "url", ""), loopback_allowed=False, what="tool URL")
        except InsecureUrlError as exc:
            raise InsecureUrlError(f"refused: {exc}") from None


def _upgrade_legacy_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """``tool`` (a copy) with a v0.1 ``tool_provider``, or a call template
    still in the provider shape, upgraded to a v1 ``tool_call_template``."""
    if "tool_provider" in tool and "tool_call_template" not in tool:
        provider = tool.pop("tool_provider")
        tool["tool_call_template"] = upgrade_legacy_provider(provider) if isinstance(provider, dict) else provider
    elif _in_provider_shape(tool.get("tool_call_template")):
        tool["tool_call_template"] = upgrade_legacy_provider(tool["tool_call_template"])
    return tool


def _in_provider_shape(template: Any) -> bool:
    """True for a call template written as a v0.1 provider (``provider_type``, no ``call_template_type``)."""
    return isinstance(template, dict) and "provider_type" in template and "call_template_type" not in template


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


_EXC_LINE = re.compile(r"^[\w.]+(?:Error|Exception): (.*)$")


def _short(exc: BaseException) -> str:
    """The innermost message of a serializer error: utcp embeds whole
    tracebacks in its messages, which nobody should have to read."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = _innermost_message(lines) or type(exc).__name__
    return text.removeprefix("Invalid CallTemplate: ")[:400]


def _innermost_message(lines: list[str]) -> str:
    """The message from the last ``SomeError: message`` line on, else all the lines."""
    starts = [index for index, line in enumerate(lines) if _EXC_LINE.match(line)]
    return _from_last_exception_line(lines, starts[-1]) if starts else " ".join(lines)


def _from_last_exception_line(lines: list[str], start: int) -> str:
    """The message of the ``SomeError: message`` line at ``start`` and the
    lines after it, without pydantic's "For further information" links."""
    first = _EXC_LINE.match(lines[start]).group(1)  # type: ignore[union-attr]
    rest = [line for line in lines[start + 1 :] if not line.startswith("For further information")]
    return " ".join([first, *rest])
