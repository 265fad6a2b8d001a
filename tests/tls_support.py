"""Real HTTPS servers on 127.0.0.1 with a private CA made by trustme.

Two kinds: an aiohttp server (what most tests need), and a small threaded
stdlib server for mutual TLS failures. The second exists because an asyncio
server drops the connection without sending the TLS alert when it refuses a
client certificate; nginx, Go or Node send it, and so does this one (it
sends the alert, half-closes and drains what the client sent, the way a
lingering close does), so the client sees what it sees in the field.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from aiohttp import web


@dataclass
class Pki:
    """A private CA, a server certificate for 127.0.0.1/localhost, a client
    certificate the CA issued, and their PEM files."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_pem: str
    client_cert_pem: str
    client_key_pem: str

    def server_context(self, cert: trustme.LeafCert | None = None, *, require_client: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (cert or self.server).configure_cert(context)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context


def make_pki(directory: Path) -> Pki:
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("tool-client@example.org")
    ca_pem = directory / "ca.pem"
    cert_pem = directory / "client.pem"
    key_pem = directory / "client.key"
    ca.cert_pem.write_to_path(str(ca_pem))
    client.cert_chain_pems[0].write_to_path(str(cert_pem))
    client.private_key_pem.write_to_path(str(key_pem))
    return Pki(ca, server, str(ca_pem), str(cert_pem), str(key_pem))


def json_app(payload: object) -> web.Application:
    """``GET /data`` answers ``payload`` as JSON; ``GET /utcp`` a manual whose
    one tool, ``data``, points back at ``/data`` on the same origin."""

    async def data(request: web.Request) -> web.Response:
        return web.json_response(payload)

    async def manual(request: web.Request) -> web.Response:
        base = f"https://{request.host}"
        tool = {
            "name": "data",
            "description": "the payload",
            "inputs": {"type": "object", "properties": {}},
            "tool_call_template": {"call_template_type": "streamable_http", "url": base + "/data"},
        }
        return web.json_response({"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": [tool]})

    app = web.Application()
    app.router.add_get("/data", data)
    app.router.add_get("/utcp", manual)
    return app


@asynccontextmanager
async def https_server(app: web.Application, context: ssl.SSLContext) -> AsyncIterator[str]:
    """Run ``app`` over TLS on 127.0.0.1; yields ``https://127.0.0.1:<port>``."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class _AlertingTlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except OSError:  # the alert is sent; let the client read it before the close
            _linger(tls)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


def _linger(tls: ssl.SSLSocket) -> None:
    try:
        tls.shutdown(socket.SHUT_WR)
        tls.settimeout(1.0)
        while tls.recv(65536):
            pass
    except OSError:
        pass
    finally:
        tls.close()


@contextmanager
def alerting_tls_server(context: ssl.SSLContext):
    """A threaded HTTPS server that answers ``{"ok": true}``; yields its base URL."""
    server = _AlertingTlsServer(context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
