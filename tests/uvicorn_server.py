"""uvicorn in a background thread on 127.0.0.1, and a tiny ASGI app for it.

The server runs its own event loop in its own thread, so it outlives any
``asyncio.run`` a test makes and keeps serving while the test's loop is busy.
The app counts the requests it saw; the server counts the TCP connections it
accepted (the client's port is no identity: Linux hands the same ephemeral
ports out again), so a test can tell reused connections from new ones.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["CountingApp", "running_uvicorn"]


@dataclass
class CountingApp:
    """An ASGI app: ``/utcp`` serves a manual with one tool, ``echo`` (a POST
    to ``/echo``); any other path answers ``{"n": <request number>, "method":
    ...}`` as JSON (the request body is read and dropped)."""

    requests: int = 0
    by_path: Counter[str] = field(default_factory=Counter)
    #: TCP connections the server accepted (set by ``running_uvicorn``)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        with self.lock:
            self.requests += 1
            number = self.requests
            self.by_path[scope["path"]] += 1
        while True:  # read the body to its end
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["path"] == "/utcp":
            host, port = scope["server"]
            body = json.dumps(manual(f"http://{host}:{port}")).encode()
        else:
            body = json.dumps({"n": number, "method": scope["method"]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def manual(base: str) -> dict[str, Any]:
    echo = {
        "name": "echo",
        "description": "answers with the request's number",
        "inputs": {"type": "object", "properties": {"body": {"type": "object"}}},
        "tool_call_template": {"call_template_type": "streamable_http", "url": base + "/echo",
                               "http_method": "POST", "body_field": "body", "stream_format": "json"},
    }
    return {"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": [echo]}


def _counting_protocol(app: CountingApp) -> type[AutoHTTPProtocol]:
    class CountingProtocol(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: Any) -> None:
            with app.lock:
                app.connections += 1
            super().connection_made(transport)

    return CountingProtocol


@contextlib.contextmanager
def running_uvicorn(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port in a thread; yields the base URL.
    ``config`` goes to ``uvicorn.Config`` (``timeout_keep_alive=1``...); a
    :class:`CountingApp` also gets the connections counted."""
    if isinstance(app, CountingApp):
        config.setdefault("http", _counting_protocol(app))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **config)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
