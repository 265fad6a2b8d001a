"""Getting a manual for ``discover`` and ``call``: parsing a manual file, or
registering a call template through UtcpClient."""

from __future__ import annotations

from typing import Any

from utcp_http_stream.cli.failures import CallFailed, UsageError
from utcp_http_stream.cli.sources import ManualName
from utcp_http_stream.cli.variables import variables_of

__all__ = ["parse_manual_file", "register_template"]


def parse_manual_file(path: str, document: Any) -> Any:
    """The :class:`ManualParseResult` of a UTCP manual file (a document that
    is no manual at all is a :class:`UsageError`)."""
    from utcp_http_stream.manual import parse_manual

    try:
        return parse_manual(document)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None


async def register_template(client: Any, template_dict: dict[str, Any], name: ManualName) -> Any:
    """Register the manual ``template_dict`` describes with ``client``, its
    variables resolved as manual ``name``'s; the registration result
    (:class:`CallFailed` when it did not succeed)."""
    from utcp.data.call_template import CallTemplateSerializer

    with variables_of(name):
        template = CallTemplateSerializer().validate_dict(template_dict)
        result = await client.register_manual(template)
    if not result.success:
        reason = "; ".join(str(error) for error in result.errors) or "unknown reason"
        raise CallFailed(f"could not register manual {name.value!r}: {reason}")
    return result
