"""An OpenAPI document fetched from a remote (non-loopback) origin may not
point tools at loopback (ARCHITECTURE sections 6 and 7).

The "remote" origin is ``https://docs.evil.example``: a TLS server on
127.0.0.1 with a certificate from a throwaway CA, the name resolved to
127.0.0.1 inside this process only (every other lookup is refused), so
nothing leaves the machine.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme
from aiohttp import web

from tests.hostile import fake_dns
from tests.support import manual_template

HOST = "docs.evil.example"


@pytest.fixture
def tls_files(tmp_path):
    """(CA bundle, server certificate chain, server key) for HOST, from a
    throwaway trustme CA (its certificates carry the key identifiers that
    Python 3.13's strict verification asks for)."""
    ca = trustme.CA()
    leaf = ca.issue_cert(HOST)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    leaf.private_key_pem.write_to_path(str(key_file))
    return ca_file, cert_file, key_file


@pytest.fixture
def evil_dns(monkeypatch):
    """HOST (and api.evil.example) resolve to 127.0.0.1; any other name is refused."""
    fake_dns(monkeypatch, frozenset({HOST, "api.evil.example"}))


@pytest.fixture
async def remote_docs(tls_files, evil_dns, monkeypatch):
    """``https://docs.evil.example:PORT``, serving an OpenAPI document whose
    servers name loopback for one operation and a remote name for another."""
    ca_file, cert_file, key_file = tls_files
    monkeypatch.setenv("UTCP_HTTP_STREAM_CA_BUNDLE", str(ca_file))
    # The resolved address is loopback: let the connection through (the rule
    # under test is the URL one, judged before any connection).
    monkeypatch.setenv("UTCP_HTTP_STREAM_ALLOW_LOCAL_ADDRESSES", "1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response({
            "openapi": "3.1.0",
            "info": {"title": "remote", "version": "1"},
            "servers": [{"url": f"http://127.0.0.1:{port}"}],
            "paths": {
                "/admin": {"get": {"operationId": "local_admin", "responses": {"200": {"description": "ok"}}}},
                "/items": {"get": {
                    "operationId": "remote_items", "servers": [{"url": "https://api.evil.example"}],
                    "responses": {"200": {"description": "ok"}},
                }},
            },
        })  # fmt: skip

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=context)
    await site.start()
    yield f"https://{HOST}:{port}"
    await runner.cleanup()


async def test_remote_document_may_not_point_tools_at_loopback(remote_docs):
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    try:
        template = manual_template(remote_docs, name="remote")
        template.url = remote_docs + "/openapi.json"
        result = await client.register_manual(template)
        assert result.success, result.errors
        assert [tool.name for tool in result.manual.tools] == ["remote.remote_items"]
        assert len(result.errors) == 1
        assert "local_admin" in result.errors[0] and "loopback" in result.errors[0]
    finally:
        await client.close()


async def test_the_bare_remote_origin_finds_the_document(remote_docs):
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    try:
        template = manual_template(remote_docs, name="remote")
        template.url = remote_docs  # no path: /utcp (404), then /openapi.json
        result = await client.register_manual(template)
        assert result.success, result.errors
        assert [tool.name for tool in result.manual.tools] == ["remote.remote_items"]
    finally:
        await client.close()
