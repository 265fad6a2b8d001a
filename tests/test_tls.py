"""TLS: a private CA through ca_bundle (added to the system store), mutual
TLS, and every certificate failure as a TlsError that names the problem and
the fix. Real HTTPS servers on 127.0.0.1, certificates made by trustme."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from tests.tls_support import Pki, alerting_tls_server, https_server, json_app, make_pki
from utcp_http_stream import HttpStreamError, StreamClient, TemplateError, TlsError
from utcp_http_stream.settings import ClientSettings
from utcp_http_stream.transport.tls import describe_tls_failure, find_ssl_error, ssl_context, tls_error_for

PAYLOAD = {"hello": "tls"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tool(base: str) -> dict:
    return {"name": "t", "call_template_type": "streamable_http", "url": base + "/data", "stream_format": "json"}


async def call(base: str, **settings) -> object:
    async with StreamClient(**settings) as client:
        return await client.call(tool(base))


async def failure(base: str, **settings) -> TlsError:
    with pytest.raises(TlsError) as info:
        await call(base, **settings)
    error = info.value
    assert isinstance(error, ConnectionError) and isinstance(error, HttpStreamError)
    assert "is the server running" not in str(error)
    assert len(str(error)) < 1000
    assert error.__cause__ is None and error.__suppress_context__
    return error


# -- trusting a private CA ----------------------------------------------------


async def test_private_ca_through_ca_bundle(pki):
    async with https_server(json_app(PAYLOAD), pki.server_context()) as base:
        assert await call(base, ca_bundle=pki.ca_pem) == PAYLOAD


async def test_private_ca_through_the_environment(pki, monkeypatch):
    monkeypatch.setenv("UTCP_HTTP_STREAM_CA_BUNDLE", pki.ca_pem)
    async with https_server(json_app(PAYLOAD), pki.server_context()) as base:
        assert await call(base) == PAYLOAD


def test_ca_bundle_adds_to_the_system_store(pki):
    plain = ssl_context(ClientSettings())
    extended = ssl_context(ClientSettings(ca_bundle=pki.ca_pem))
    system = plain.get_ca_certs()
    if not system:
        pytest.skip("this machine's default context loads no CA certificates to compare")
    assert extended.cert_store_stats()["x509_ca"] == plain.cert_store_stats()["x509_ca"] + 1
    with_bundle = extended.get_ca_certs()
    assert all(cert in with_bundle for cert in system)
    assert extended.verify_mode == ssl.CERT_REQUIRED and extended.check_hostname


async def test_untrusted_certificate_names_ca_bundle(pki):
    async with https_server(json_app(PAYLOAD), pki.server_context()) as base:
        error = await failure(base)
    message = str(error)
    assert "not trusted" in message and "127.0.0.1" in message
    assert "ca_bundle" in message and "UTCP_HTTP_STREAM_CA_BUNDLE" in message


async def test_certificate_from_another_ca_is_untrusted(pki):
    stranger = trustme.CA().issue_cert("127.0.0.1")
    async with https_server(json_app(PAYLOAD), pki.server_context(stranger)) as base:
        error = await failure(base, ca_bundle=pki.ca_pem)
    assert "not trusted" in str(error) and "ca_bundle" in str(error)


def leaf_only_context(leaf: trustme.LeafCert, directory: Path) -> ssl.SSLContext:
    """A server context that sends its own certificate and not the intermediate that
    issued it: a common misconfiguration that browsers hide (they fetch the
    missing intermediate themselves; Python does not)."""
    cert, key = directory / "leaf.pem", directory / "leaf.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def bundle_with(pki: Pki, intermediate: trustme.CA, directory: Path) -> str:
    """A ca_bundle of the root and the intermediate."""
    bundle = directory / "with-intermediate.pem"
    bundle.write_bytes(Path(pki.ca_pem).read_bytes() + intermediate.cert_pem.bytes())
    return str(bundle)


async def test_a_server_that_omits_its_intermediate_says_so(pki, tmp_path):
    intermediate = pki.ca.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1")
    async with https_server(json_app(PAYLOAD), leaf_only_context(leaf, tmp_path)) as base:
        error = await failure(base, ca_bundle=pki.ca_pem)
        message = str(error)
        assert "not trusted" in message and "not sending its intermediate" in message and "full chain" in message
        # The advice works: the intermediate added to ca_bundle completes the chain.
        assert await call(base, ca_bundle=bundle_with(pki, intermediate, tmp_path)) == PAYLOAD
    # The same server sending its chain is trusted with the root alone.
    context = pki.server_context(leaf)
    async with https_server(json_app(PAYLOAD), context) as base:
        assert await call(base, ca_bundle=pki.ca_pem) == PAYLOAD


async def test_hostname_mismatch_says_so(pki):
    elsewhere = pki.ca.issue_cert("api.example.org")
    async with https_server(json_app(PAYLOAD), pki.server_context(elsewhere)) as base:
        error = await failure(base, ca_bundle=pki.ca_pem)
    message = str(error)
    assert "another host name" in message and "127.0.0.1" in message
    assert "ca_bundle cannot fix" in message


async def test_expired_certificate_says_so(pki):
    old = pki.ca.issue_cert(
        "127.0.0.1",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    )
    async with https_server(json_app(PAYLOAD), pki.server_context(old)) as base:
        error = await failure(base, ca_bundle=pki.ca_pem)
    assert "has expired" in str(error)


async def test_https_to_a_plain_http_port_says_so(serve):
    app = web.Application()
    base = await serve(app)
    error = await failure(base.replace("http://", "https://"))
    assert "did not answer in TLS" in str(error) and "scheme" in str(error)


# -- mutual TLS ------------------------------------------------------------------


async def test_mutual_tls_with_client_cert(pki):
    context = pki.server_context(require_client=True)
    async with https_server(json_app(PAYLOAD), context) as base:
        result = await call(base, ca_bundle=pki.ca_pem, client_cert=pki.client_cert_pem, client_key=pki.client_key_pem)
    assert result == PAYLOAD


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls1.3", "tls1.2"])
async def test_mutual_tls_without_client_cert_is_tls_error(pki, version):
    context = pki.server_context(require_client=True)
    context.maximum_version = version
    with alerting_tls_server(context) as base:
        assert await call(
            base, ca_bundle=pki.ca_pem, client_cert=pki.client_cert_pem, client_key=pki.client_key_pem
        ) == {"ok": True}
        error = await failure(base, ca_bundle=pki.ca_pem)
    message = str(error)
    assert "requires a client certificate" in message
    assert "client_cert" in message and "UTCP_HTTP_STREAM_CLIENT_KEY" in message


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls1.3", "tls1.2"])
async def test_client_cert_the_server_does_not_trust_is_refused(pki, tmp_path, version):
    stranger = trustme.CA().issue_cert("intruder@example.org")
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    context = pki.server_context(require_client=True)
    context.maximum_version = version
    with alerting_tls_server(context) as base:
        error = await failure(base, ca_bundle=pki.ca_pem, client_cert=str(cert), client_key=str(key))
    assert "refused the client certificate" in str(error)


# -- settings that cannot be loaded ------------------------------------------


def test_unreadable_ca_bundle_names_the_setting(tmp_path):
    with pytest.raises(TemplateError, match="ca_bundle"):
        StreamClient(ca_bundle=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TemplateError, match="ca_bundle"):
        StreamClient(ca_bundle=str(junk))


def test_unreadable_ca_bundle_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("UTCP_HTTP_STREAM_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(TemplateError, match="ca_bundle"):
        StreamClient()


def test_unreadable_client_cert_names_the_setting(pki, tmp_path):
    with pytest.raises(TemplateError, match="client_cert"):
        StreamClient(client_cert=str(tmp_path / "missing.pem"))
    with pytest.raises(TemplateError, match="client_cert"):
        StreamClient(client_cert=pki.client_cert_pem, client_key=pki.ca_pem)  # a certificate is not a key


def test_encrypted_client_key_is_refused_not_prompted(pki, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(pki.client_key_pem).read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"hunter2"),
        )
    )
    with pytest.raises(TemplateError, match="not encrypted"):
        StreamClient(client_cert=pki.client_cert_pem, client_key=str(locked))


# -- the mapping, pure ----------------------------------------------------------


class _Wrapper(ConnectionError):
    """Stands for aiohttp's connector errors: the cause in ``os_error``."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.os_error = inner


def verification_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


def test_find_ssl_error_through_wrappers_and_causes():
    inner = verification_error(20, "unable to get local issuer certificate")
    assert find_ssl_error(inner) is inner
    assert find_ssl_error(_Wrapper(inner)) is inner
    outer = ConnectionResetError("reset")
    outer.__cause__ = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    assert find_ssl_error(outer) is outer.__cause__
    assert "requires a client certificate" in str(tls_error_for(outer, "https://x.example", after_handshake=True))
    broken = ConnectionResetError("reset")
    broken.__cause__ = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed")
    assert tls_error_for(broken, "https://x.example", after_handshake=True) is None  # not a certificate problem
    assert tls_error_for(broken, "https://x.example") is not None  # while connecting it is a failed handshake
    assert find_ssl_error(ConnectionRefusedError(111, "refused")) is None
    assert tls_error_for(_Wrapper(ConnectionRefusedError(111, "refused")), "https://x.example") is None


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (18, "self-signed certificate", "not trusted"),
        (19, "self-signed certificate in certificate chain", "not trusted"),
        (20, "unable to get local issuer certificate", "not sending its intermediate certificate"),
        (2, "unable to get issuer certificate", "not trusted"),
        (62, "Hostname mismatch, certificate is not valid for 'x.example'.", "another host name"),
        (10, "certificate has expired", "has expired"),
        (9, "certificate is not yet valid", "clock"),
        (23, "certificate revoked", "revoked"),
        (26, "unsupported certificate purpose", "failed verification"),
        (85, "Missing Authority Key Identifier", "does not meet the X.509 profile (RFC 5280)"),
        (89, "Basic Constraints of CA cert not marked critical", "ca_bundle cannot fix this"),
    ],
)
def test_each_verification_failure_is_named(code, text, expected):
    message = describe_tls_failure(verification_error(code, text), "https://x.example/tool")
    assert expected in message and "https://x.example/tool" in message and text in message


@pytest.mark.parametrize(
    ("reason", "client_cert", "expected"),
    [
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", False, "requires a client certificate"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", False, "requires a client certificate"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", True, "refused the client certificate"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", True, "may not accept the client certificate"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", False, "no TLS version in common"),
        ("WRONG_VERSION_NUMBER", False, "did not answer in TLS"),
        ("SOMETHING_NEW", False, "ca_bundle"),
    ],
)
def test_each_handshake_failure_is_named(reason, client_cert, expected):
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()} (_ssl.c:1006)")  # reason read from the text
    assert expected in describe_tls_failure(error, "https://x.example", client_cert=client_cert)
