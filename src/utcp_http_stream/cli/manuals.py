"""Getting a manual for ``discover`` and ``call``: parsing a manual file, or
registering a call template (a URL's, or a file's) through UtcpClient."""

from __future__ import annotations

from typing import Any

from utcp_http_stream.cli.failures import CallFailed, UsageError
from utcp_http_stream.cli.sources import ManualName, check_source_url, manual_name
from utcp_http_stream.cli.variables import variables_of

__all__ = ["file_template", "parse_manual_file", "register_template", "url_template"]


def url_template(url: str, explicit: str | None) -> tuple[dict[str, Any], ManualName]:
    """The manual call template of a ``/utcp`` URL (refused by the URL
    policy before anything is registered) and the manual's name."""
    check_source_url(url)
    name = manual_name(explicit, url=url)
    return {"name": name.value, "call_template_type": "streamable_http", "url": url}, name


def file_template(
    document: dict[str, Any], kind: str, explicit: str | None, path: str
) -> tuple[dict[str, Any], ManualName]:
    """The manual call template of a file (a legacy provider upgraded) under
    the name it is registered as, and that name."""
    from utcp_http_stream.manual import upgrade_legacy_provider

    template = upgrade_legacy_provider(document) if kind == "legacy_provider" else dict(document)
    name = manual_name(explicit, template_name=template.get("name"), path=path)
    template["name"] = name.value
    return template, name


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
