"""ErrorMap: the one table from foreign exceptions to the contract's errors,
fed exception values (no server): every row, the phase deciding the words,
and what leaves ``with errors:`` (no chained exception, no secret, bounded)."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL as YURL

from utcp_http_stream.decompress import ContentDecoder, CorruptEncoding, TruncatedEncoding
from utcp_http_stream.errors import (
    HttpStatusError,
    HttpStreamError,
    StreamDecodeError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
    TlsError,
)
from utcp_http_stream.proxies import UnusableProxy
from utcp_http_stream.security import MESSAGE_LIMIT
from utcp_http_stream.transport.connection import proxy_for
from utcp_http_stream.transport.error_map import ErrorMap, IdleTimeout
from utcp_http_stream.transport.limits import CallLimits

URL = "https://api.example.org/stream"
SECRET = "sk-live-0123456789abcdef"


def error_map(*, phase: str = "connect", items: int = 0, reused: bool = False, timeout_ms: int = 60_000,
              idle_from_timeout: bool = False, secrets: tuple[str, ...] = (SECRET,), url: str = URL,
              trust_env: bool = False) -> ErrorMap:
    limits = CallLimits(timeout_ms=timeout_ms, connect_ms=5_000, idle_ms=7_000, idle_from_timeout=idle_from_timeout,
                        trust_env=trust_env)
    errors = ErrorMap(url, secrets, limits)
    errors.phase = phase
    errors.items = items
    errors.reused = reused
    return errors


def expired(errors: ErrorMap) -> ErrorMap:
    errors.at = 0.0  # long past on the monotonic clock
    return errors


def connection_key() -> ConnectionKey:
    return ConnectionKey("api.example.org", 443, True, True, None, None, None)


def connector_error(os_error: OSError) -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(connection_key(), os_error)


def untrusted() -> ssl.SSLCertVerificationError:
    failure = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    failure.verify_code = 20
    failure.verify_message = "unable to get local issuer certificate"
    return failure


def truncated() -> TruncatedEncoding:
    decoder = ContentDecoder("gzip")
    list(decoder.feed(gzip.compress(b"x" * 1000)[:-8]))
    with pytest.raises(TruncatedEncoding) as info:
        decoder.close()
    return info.value


def corrupt() -> CorruptEncoding:
    decoder = ContentDecoder("gzip")
    with pytest.raises(CorruptEncoding) as info:
        list(decoder.feed(b"\x1f\x8b\x08\x00" + b"\xff" * 64))
    return info.value


def raised(errors: ErrorMap, exc: BaseException) -> BaseException:
    """What leaves ``with errors:`` when ``exc`` is raised inside it."""
    with pytest.raises(BaseException) as info:
        with errors:
            raise exc
    return info.value


# -- timeouts, by phase ------------------------------------------------------------


def test_timeout_waiting_for_the_pool():
    error = error_map(phase="pool").translate(TimeoutError())
    assert isinstance(error, StreamTimeoutError) and error.phase == "pool"
    assert "max_connections" in str(error) and "pool_timeout" in str(error)


def test_timeout_waiting_for_the_headers():
    error = error_map(phase="connect").translate(TimeoutError())
    assert isinstance(error, StreamTimeoutError) and error.phase == "connect"
    assert "connect_timeout=5000 ms" in str(error) and URL in str(error)
    # A new connection: it may not have been made at all, or the server is slow.
    assert "is the server up and reachable?" in str(error) and "raise connect_timeout" in str(error)


def test_the_header_wait_advice_names_the_client_setting_when_the_template_set_none():
    """A template that sets no connect_timeout (a manual written for
    utcp-http, say) waits the client's; the user may not own the manual."""
    client_setting = "the client setting connect_timeout (UTCP_HTTP_STREAM_CONNECT_TIMEOUT)"
    errors = error_map()
    errors.limits.connect_from_settings = True
    for reused in (False, True):
        errors.reused = reused
        assert client_setting in str(errors.translate(TimeoutError()))
    assert client_setting not in str(error_map().translate(TimeoutError()))  # the template set its own


def test_timeout_waiting_for_the_headers_on_an_open_connection_blames_the_slow_answer():
    error = error_map(phase="connect", reused=True).translate(TimeoutError())
    assert isinstance(error, StreamTimeoutError) and error.phase == "connect"
    message = str(error)
    assert "went out on an open connection, but no response headers came within connect_timeout=5000" in message
    assert "needs a larger connect_timeout" in message and "reachable" not in message


def test_aiohttp_timeouts_are_timeouts_too():
    error = error_map(phase="connect").translate(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))
    assert isinstance(error, StreamTimeoutError) and error.phase == "connect"


def test_idle_in_the_body():
    error = error_map(phase="body", items=4).translate(IdleTimeout())
    assert isinstance(error, StreamTimeoutError) and error.phase == "idle"
    message = str(error)
    assert "sent nothing for 7000 ms after 4 item(s)" in message and "raise idle_timeout " in message


def test_idle_defaulting_to_timeout_says_so():
    error = error_map(phase="body", idle_from_timeout=True).translate(IdleTimeout())
    assert error.phase == "idle" and "idle_timeout (defaults to timeout)" in str(error)


def test_a_plain_timeout_in_the_body_is_the_total_limit():
    error = error_map(phase="body", items=2).translate(TimeoutError("the call's deadline passed"))
    assert error.phase == "total"
    assert "exceeded timeout=60000 ms after 2 item(s)" in str(error) and "set it to 0" in str(error)


@pytest.mark.parametrize("phase", ["pool", "connect"])
def test_an_expired_deadline_is_total_in_every_phase(phase):
    error = expired(error_map(phase=phase)).translate(TimeoutError())
    assert error.phase == "total" and "before the response headers arrived" in str(error)


def test_an_expired_deadline_wins_over_idle():
    error = expired(error_map(phase="body", items=3)).translate(IdleTimeout())
    assert error.phase == "total" and "after 3 item(s)" in str(error)


def test_without_a_deadline_a_body_timeout_is_idle():
    error = error_map(phase="body", timeout_ms=0).translate(TimeoutError())
    assert error.phase == "idle"


# -- connection failures ----------------------------------------------------------------


def test_could_not_connect():
    error = error_map().translate(connector_error(ConnectionRefusedError(111, "Connect call failed")))
    assert type(error) is StreamInterruptedError and error.items_yielded == 0
    message = str(error)
    assert message.startswith(f"could not connect to {URL}: ") and "Connect call failed" in message
    assert "is the server running" in message


def test_a_dns_failure_could_not_connect_either():
    dns = aiohttp.ClientConnectorDNSError(connection_key(), OSError(-2, "Name or service not known"))
    error = error_map().translate(dns)
    assert type(error) is StreamInterruptedError and "could not connect" in str(error)


def test_a_failure_going_direct_names_the_proxy_that_trust_env_would_use(monkeypatch):
    """Behind a proxy, a direct connection fails or hangs: say which setting
    would have used the proxy the environment names."""
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw-SENTINEL@proxy.corp:3128")
    hint = ("; HTTPS_PROXY names the proxy http://proxy.corp:3128, which this client does not use unless the "
            "trust_env client setting is on (UTCP_HTTP_STREAM_TRUST_ENV=1)")
    refused = connector_error(OSError(-2, "Name or service not known"))
    assert str(error_map().translate(refused)).endswith(hint)
    assert str(error_map().timeout(TimeoutError())).endswith(hint)  # connect_timeout
    assert str(expired(error_map()).timeout(TimeoutError())).endswith(hint)  # total, before the headers
    assert hint not in str(expired(error_map(phase="body", items=3)).timeout(TimeoutError()))
    assert hint not in str(expired(error_map(phase="pool")).timeout(TimeoutError()))  # waiting for the pool
    assert hint not in str(error_map(trust_env=True).translate(refused))
    assert hint not in str(error_map(url="http://127.0.0.1:9/x").translate(refused))  # loopback: never proxied
    assert "SENTINEL" not in str(error_map().translate(refused))


def test_an_unreachable_proxy_is_named(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw-SENTINEL@proxy.corp:3128")
    key = ConnectionKey("proxy.corp", 3128, False, True, None, None, None)
    exc = aiohttp.ClientProxyConnectionError(key, ConnectionRefusedError(111, "Connect call failed"))
    error = error_map().translate(exc)
    assert type(error) is StreamInterruptedError and error.items_yielded == 0
    message = str(error)
    assert message.startswith(f"could not connect to the proxy http://proxy.corp:3128 that HTTPS_PROXY names for {URL}")
    assert "trust_env" in message and "is the server running" not in message and "SENTINEL" not in message


def test_a_hint_names_all_proxy_when_that_names_the_proxy(monkeypatch):
    monkeypatch.setenv("all_proxy", "http://user:pw-SENTINEL@proxy.corp:3128")
    refused = connector_error(OSError(-2, "Name or service not known"))
    assert str(error_map().translate(refused)).endswith(
        "; all_proxy names the proxy http://proxy.corp:3128, which this client does not use unless the "
        "trust_env client setting is on (UTCP_HTTP_STREAM_TRUST_ENV=1)")


def test_a_socks_proxy_is_not_advised_as_what_trust_env_would_use(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "socks5h://tunnel:pw-SENTINEL@127.0.0.1:1080")
    message = str(error_map().translate(connector_error(OSError(-2, "Name or service not known"))))
    assert message.endswith("; ALL_PROXY names the proxy socks5h://127.0.0.1:1080, which this client cannot use (it "
                            "reaches proxies over http:// or https:// only)")
    assert "SENTINEL" not in message


def test_a_proxy_the_client_cannot_speak_to_is_refused_by_name(monkeypatch):
    """proxy_for raises UnusableProxy for a SOCKS proxy; the map says which
    variable names it and what to do, without its credentials."""
    monkeypatch.setenv("ALL_PROXY", "socks5h://tunnel:pw-SENTINEL@127.0.0.1:1080")
    with pytest.raises(UnusableProxy) as raised:
        proxy_for(URL)
    error = error_map(trust_env=True).translate(raised.value)
    assert type(error) is StreamInterruptedError and error.items_yielded == 0
    assert str(error) == (
        f"ALL_PROXY names the proxy socks5h://127.0.0.1:1080 for {URL}, which this client cannot use: it reaches "
        "proxies over http:// or https:// only, not socks5h://. Name an HTTP proxy in HTTPS_PROXY (it comes before "
        "ALL_PROXY), add the host to NO_PROXY, or turn the trust_env client setting off")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")  # the scheme's own variable comes first
    assert proxy_for(URL) == ("http://proxy.corp:3128", None)


@pytest.mark.parametrize(
    ("status", "words"), [(407, "wants credentials"), (403, "would not open a tunnel to api.example.org")]
)
def test_a_proxy_refusing_the_tunnel_is_its_status_said_of_the_proxy(monkeypatch, status, words):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    info = RequestInfo(YURL(URL), "CONNECT", CIMultiDictProxy(CIMultiDict()))
    exc = aiohttp.ClientHttpProxyError(info, (), status=status, message="Nope")
    error = error_map().translate(exc)
    assert type(error) is HttpStatusError and error.status == status and error.url == URL
    came_from = "the answer came from the proxy http://proxy.corp:3128 (HTTPS_PROXY), not from the tool's server"
    assert came_from in str(error)
    assert words in str(error)


def test_server_disconnected_before_the_headers():
    error = error_map(phase="connect").translate(aiohttp.ServerDisconnectedError())
    assert type(error) is StreamInterruptedError and error.items_yielded == 0
    assert f"the connection to {URL} closed before the response headers arrived (Server disconnected)" == str(error)


def test_server_disconnected_on_a_reused_connection():
    error = error_map(phase="connect", reused=True).translate(aiohttp.ServerDisconnectedError())
    message = str(error)
    assert "closed a reused idle connection before answering" in message
    assert "Idempotency-Key" in message and "keepalive_expiry" in message


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_a_cut_in_the_body_counts_the_items(exc):
    error = error_map(phase="body", items=5, reused=True).translate(exc)
    assert type(error) is StreamInterruptedError and error.items_yielded == 5
    message = str(error)
    assert f"the stream from {URL} was cut off after 5 item(s) before the body was complete" in message
    assert "the partial one was dropped" in message


def test_a_malformed_response():
    info = RequestInfo(YURL(URL), "GET", CIMultiDictProxy(CIMultiDict()))
    exc = aiohttp.ClientResponseError(info, (), status=400, message="Invalid status line 'HTTP/9 x'")
    error = error_map().translate(exc)
    assert type(error) is StreamInterruptedError
    assert "sent a malformed HTTP response (Invalid status line 'HTTP/9 x')" in str(error)


@pytest.mark.parametrize(
    ("parser_message", "expected"),
    [
        ("Got more than 32768 bytes when reading: b'aaaa'.", "a response header line longer than 32768 bytes"),
        ("Too many headers received", "more response header fields than this client reads"),
    ],
)
def test_a_response_head_past_a_limit_names_the_limit(parser_message, expected):
    info = RequestInfo(YURL(URL), "GET", CIMultiDictProxy(CIMultiDict()))
    error = error_map().translate(aiohttp.ClientResponseError(info, (), status=400, message=parser_message))
    assert type(error) is StreamInterruptedError and error.items_yielded == 0
    assert expected in str(error) and "malformed" not in str(error)


def test_an_invalid_url_is_a_template_error():
    error = error_map().translate(aiohttp.InvalidURL("http://[::1"))
    assert type(error) is TemplateError and f"invalid URL {URL!r}" == str(error)


@pytest.mark.parametrize("exc", [ValueError("Newline or carriage return character detected in HTTP headers"),
                                 UnicodeEncodeError("latin-1", "é", 0, 1, "ordinal not in range")])
def test_a_request_aiohttp_refuses_is_a_template_error(exc):
    error = error_map().translate(exc)
    assert type(error) is TemplateError and f"the request to {URL} could not be made: " in str(error)


# -- content encodings ------------------------------------------------------------------


def test_a_truncated_encoding_is_an_interruption():
    error = error_map(phase="body", items=2).translate(truncated())
    assert type(error) is StreamInterruptedError and error.items_yielded == 2
    assert "ended before its compressed stream did" in str(error) and "after 2 item(s)" in str(error)


@pytest.mark.parametrize("exc", [corrupt(), zlib.error("Error -3 while decompressing data: invalid block type")])
def test_a_corrupt_encoding_is_a_decode_error(exc):
    error = error_map(phase="body").translate(exc)
    assert type(error) is StreamDecodeError and "has a corrupt content encoding" in str(error)


# -- TLS ------------------------------------------------------------------------------


def test_an_untrusted_certificate_while_connecting():
    exc = aiohttp.ClientConnectorCertificateError(connection_key(), untrusted())
    error = error_map().translate(exc)
    assert type(error) is TlsError and "not trusted" in str(error) and "ca_bundle" in str(error)


def test_a_tls_error_behind_a_connector_ssl_error():
    failure = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    error = error_map().translate(aiohttp.ClientConnectorSSLError(connection_key(), failure))
    assert type(error) is TlsError and "did not answer in TLS" in str(error)


def test_a_client_certificate_refused_after_the_handshake():
    # A TLS 1.3 server refuses the client certificate after the client's
    # handshake finished: it arrives as a ClientOSError caused by the alert.
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    exc = aiohttp.ClientOSError(1, "ssl error")
    exc.__cause__ = alert
    error = error_map(phase="connect").translate(exc)
    assert type(error) is TlsError and "requires a client certificate" in str(error)


def test_another_ssl_error_after_the_handshake_is_a_broken_connection():
    exc = aiohttp.ClientOSError(1, "ssl error")
    exc.__cause__ = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac")
    error = error_map(phase="body", items=1).translate(exc)
    assert type(error) is StreamInterruptedError and "cut off after 1 item(s)" in str(error)


# -- what is not ours to translate -------------------------------------------------------


@pytest.mark.parametrize("exc", [TypeError("'NoneType' object is not callable"), KeyError("x"),
                                 AttributeError("y"), RuntimeError("z")])
def test_a_bug_is_not_translated(exc):
    assert error_map().translate(exc) is None


def test_a_bug_passes_through_untouched():
    bug = TypeError("unsupported operand")
    try:
        raise KeyError("earlier")
    except KeyError as earlier:
        out = raised(error_map(), bug)
        assert out is bug and out.__context__ is earlier


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt(), GeneratorExit()])
def test_cancellation_and_exits_pass_through(exc):
    assert raised(error_map(), exc) is exc


# -- what leaves ``with errors:`` ---------------------------------------------------------


def test_a_translated_error_carries_no_chain():
    foreign = aiohttp.ClientConnectorError(connection_key(), ConnectionRefusedError(111, "refused"))
    try:
        raise RuntimeError("an outer failure being handled")
    except RuntimeError:
        try:
            raise ValueError("cause") from None
        except ValueError as cause:
            foreign.__cause__ = cause
            out = raised(error_map(), foreign)
    assert type(out) is StreamInterruptedError
    assert out.__context__ is None and out.__cause__ is None and out.__suppress_context__


def test_secrets_are_scrubbed_from_translated_errors():
    exc = ValueError(f"header value 'Bearer {SECRET}' has a newline")
    out = raised(error_map(), exc)
    assert isinstance(out, TemplateError) and SECRET not in str(out)
    out = raised(error_map(phase="body"), aiohttp.ClientPayloadError(f"cut while reading token={SECRET}"))
    assert isinstance(out, StreamInterruptedError) and SECRET not in str(out)


def test_our_own_errors_are_scrubbed_and_unchained_too():
    ours = HttpStatusError(401, "Unauthorized", f"{URL}?key={SECRET}", f"bad key {SECRET}")
    try:
        raise OSError("earlier")
    except OSError:
        out = raised(error_map(), ours)
    assert out is ours
    assert SECRET not in str(out) and SECRET not in out.url and SECRET not in out.detail
    assert out.__context__ is None and out.__cause__ is None


def test_a_secret_cut_by_the_bound_is_still_masked():
    long_url = "https://api.example.org/" + "a" * 3000 + SECRET
    out = raised(error_map(url=long_url), TimeoutError())
    assert len(str(out)) <= MESSAGE_LIMIT and SECRET not in str(out)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("x" * 50_000),
        aiohttp.ClientPayloadError("\r\n".join(["evil"] * 5_000)),
        connector_error(OSError(1, "y" * 50_000)),
    ],
)
def test_messages_are_bounded_and_single_line(exc):
    out = raised(error_map(phase="body", url="https://api.example.org/" + "p" * 5_000), exc)
    assert isinstance(out, HttpStreamError)
    message = str(out)
    assert len(message) <= MESSAGE_LIMIT and "\n" not in message and "\r" not in message


def test_follow_switches_url_and_secrets():
    from utcp_http_stream.request import PreparedRequest

    errors = error_map()
    errors.follow(PreparedRequest("GET", "https://other.example.org/next?sig=abc", {}, secrets=("abc",)))
    out = raised(errors, aiohttp.ServerDisconnectedError())
    assert "https://other.example.org/next" in str(out) and "abc" not in str(out)
