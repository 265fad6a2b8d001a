"""Small helpers shared by test modules."""

from __future__ import annotations


def manual_template(base: str, name: str = "svc", **extra):
    from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

    return StreamableHttpCallTemplateSerializer().validate_dict(
        {"name": name, "call_template_type": "streamable_http", "url": base + "/utcp", **extra}
    )
