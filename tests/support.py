"""Small helpers shared by test modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def manual_template(base: str, name: str = "svc", **extra):
    from utcp_http_stream.template import StreamableHttpCallTemplateSerializer

    return StreamableHttpCallTemplateSerializer().validate_dict(
        {"name": name, "call_template_type": "streamable_http", "url": base + "/utcp", **extra}
    )


def report(record_property: Callable[[str, Any], None], tag: str, name: str, value: float) -> None:
    """Make a measurement visible: in the JUnit XML and with ``-s``/``-rP``."""
    record_property(name, value)
    print(f"[{tag}] {name} = {value:g}")
