"""The embedded demo: an aiohttp server with a ``/utcp`` manual and real
streaming tools (SSE token stream, NDJSON job progress, text log tail, a
multi-megabyte download), used by ``utcp-http-stream demo`` / ``serve-demo``,
the examples and the tests.

It needs only aiohttp (a dependency of the plugin anyway); nothing here
prints or configures logging.
"""

from __future__ import annotations

from utcp_http_stream.demo.app import DEMO_STATE, DemoSettings, DemoState, build_manual, create_app
from utcp_http_stream.demo.content import DOWNLOAD_NAME, DOWNLOAD_SIZE, payload
from utcp_http_stream.demo.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DemoServer,
    DemoServerThread,
    base_url_for,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEMO_STATE",
    "DOWNLOAD_NAME",
    "DOWNLOAD_SIZE",
    "DemoServer",
    "DemoServerThread",
    "DemoSettings",
    "DemoState",
    "base_url_for",
    "build_manual",
    "create_app",
    "payload",
]
