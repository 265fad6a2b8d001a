"""A UtcpClient (no plugin-specific code) trusts a private CA through the
UTCP_HTTP_STREAM_CA_BUNDLE variable, and without it says which setting to use."""

from __future__ import annotations

import pytest
from utcp.utcp_client import UtcpClient

from tests.support import manual_template
from tests.tls_support import https_server, json_app, make_pki

PAYLOAD = {"hello": "utcp over tls"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_private_ca_from_the_environment(pki, monkeypatch):
    monkeypatch.setenv("UTCP_HTTP_STREAM_CA_BUNDLE", pki.ca_pem)
    async with https_server(json_app(PAYLOAD), pki.server_context()) as base:
        client = await UtcpClient.create()
        try:
            result = await client.register_manual(manual_template(base))
            assert result.success, result.errors
            assert await client.call_tool("svc.data", {}) == PAYLOAD
        finally:
            await client.close()


async def test_untrusted_manual_names_the_setting(pki, monkeypatch):
    monkeypatch.delenv("UTCP_HTTP_STREAM_CA_BUNDLE", raising=False)
    async with https_server(json_app(PAYLOAD), pki.server_context()) as base:
        client = await UtcpClient.create()
        try:
            result = await client.register_manual(manual_template(base))
        finally:
            await client.close()
    assert not result.success
    assert "UTCP_HTTP_STREAM_CA_BUNDLE" in " ".join(result.errors)
