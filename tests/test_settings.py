"""ClientSettings: defaults, UTCP_HTTP_STREAM_* variables, keyword overrides,
and the clamping of a template's limits by the client's ceilings. Pure values."""

from __future__ import annotations

import dataclasses

import pytest

from utcp_http_stream.errors import TemplateError
from utcp_http_stream.settings import ENV_PREFIX, ClientSettings

MiB = 1024 * 1024


def test_defaults():
    s = ClientSettings.load({})
    assert s == ClientSettings()
    assert (s.ca_bundle, s.client_cert, s.client_key) == (None, None, None)
    assert (s.trust_env, s.validate_arguments, s.allow_local_addresses) == (False, True, False)
    assert (s.max_connections, s.max_connections_per_host) == (512, 0)
    assert (s.pool_timeout, s.keepalive_expiry) == (30_000, 4_000)
    assert (s.max_item_bytes_ceiling, s.max_result_bytes_ceiling) == (64 * MiB, 256 * MiB)
    assert (s.connect_timeout_ceiling, s.idle_timeout_ceiling) == (60_000, 300_000)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ClientSettings().max_connections = 1  # type: ignore[misc]


def test_every_setting_has_a_variable():
    env = {
        ENV_PREFIX + "CA_BUNDLE": "/etc/ca.pem",
        ENV_PREFIX + "CLIENT_CERT": "/etc/cert.pem",
        ENV_PREFIX + "CLIENT_KEY": "/etc/key.pem",
        ENV_PREFIX + "TRUST_ENV": "1",
        ENV_PREFIX + "MAX_CONNECTIONS": "8",
        ENV_PREFIX + "MAX_CONNECTIONS_PER_HOST": "2",
        ENV_PREFIX + "POOL_TIMEOUT": "100",
        ENV_PREFIX + "KEEPALIVE_EXPIRY": "0",
        ENV_PREFIX + "VALIDATE_ARGUMENTS": "0",
        ENV_PREFIX + "ALLOW_LOCAL_ADDRESSES": "true",
        ENV_PREFIX + "MAX_ITEM_BYTES_CEILING": "1000",
        ENV_PREFIX + "MAX_RESULT_BYTES_CEILING": "2000",
        ENV_PREFIX + "CONNECT_TIMEOUT_CEILING": "3000",
        ENV_PREFIX + "IDLE_TIMEOUT_CEILING": "4000",
        ENV_PREFIX + "CONNECT_TIMEOUT": "2500",
    }
    assert len(env) == len(dataclasses.fields(ClientSettings))
    s = ClientSettings.load(env)
    assert s == ClientSettings(
        ca_bundle="/etc/ca.pem",
        client_cert="/etc/cert.pem",
        client_key="/etc/key.pem",
        trust_env=True,
        max_connections=8,
        max_connections_per_host=2,
        pool_timeout=100,
        keepalive_expiry=0,
        validate_arguments=False,
        allow_local_addresses=True,
        max_item_bytes_ceiling=1000,
        max_result_bytes_ceiling=2000,
        connect_timeout_ceiling=3000,
        idle_timeout_ceiling=4000,
        connect_timeout=2500,
    )


def test_the_process_environment_is_read_by_default(monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "MAX_CONNECTIONS", "7")
    assert ClientSettings.load().max_connections == 7


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("True", True), ("yes", True),
                                            ("0", False), ("false", False), ("False", False), ("no", False),
                                            (" 1 ", True)])
def test_booleans(raw, value):
    assert ClientSettings.load({ENV_PREFIX + "TRUST_ENV": raw}).trust_env is value


@pytest.mark.parametrize("raw", ["", "   "])
def test_an_empty_variable_is_ignored(raw):
    assert ClientSettings.load({ENV_PREFIX + "POOL_TIMEOUT": raw}).pool_timeout == 30_000


def test_whitespace_around_a_number_is_ignored():
    assert ClientSettings.load({ENV_PREFIX + "POOL_TIMEOUT": " 250\n"}).pool_timeout == 250


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("TRUST_ENV", "maybe", "not a boolean; use 1 or 0"),
        ("VALIDATE_ARGUMENTS", "2", "not a boolean"),
        ("MAX_CONNECTIONS", "many", "not a whole number"),
        ("POOL_TIMEOUT", "1.5", "not a whole number"),
        ("IDLE_TIMEOUT_CEILING", "30s", "not a whole number"),
    ],
)
def test_a_malformed_variable_is_a_template_error_naming_it(name, raw, words):
    with pytest.raises(TemplateError) as info:
        ClientSettings.load({ENV_PREFIX + name: raw})
    message = str(info.value)
    assert ENV_PREFIX + name in message and repr(raw) in message and words in message


def test_a_negative_variable_is_refused_naming_the_setting():
    with pytest.raises(TemplateError, match="client setting pool_timeout must be >= 0, got -1"):
        ClientSettings.load({ENV_PREFIX + "POOL_TIMEOUT": "-1"})


def test_a_negative_keyword_is_refused():
    with pytest.raises(TemplateError, match="max_connections must be >= 0"):
        ClientSettings.load({}, max_connections=-3)


def test_keywords_override_the_environment():
    env = {ENV_PREFIX + "MAX_CONNECTIONS": "8", ENV_PREFIX + "TRUST_ENV": "1"}
    s = ClientSettings.load(env, max_connections=16, trust_env=False)
    assert (s.max_connections, s.trust_env) == (16, False)


def test_a_keyword_of_none_leaves_the_environment_in_charge():
    s = ClientSettings.load({ENV_PREFIX + "MAX_CONNECTIONS": "8"}, max_connections=None, ca_bundle=None)
    assert s.max_connections == 8 and s.ca_bundle is None


def test_a_keyword_overrides_a_malformed_variable():
    s = ClientSettings.load({ENV_PREFIX + "POOL_TIMEOUT": "soon"}, pool_timeout=5)
    assert s.pool_timeout == 5


def test_unknown_settings_are_a_type_error():
    with pytest.raises(TypeError, match="unknown client setting\\(s\\): max_conections, timeout"):
        ClientSettings.load({}, timeout=1, max_conections=3)


def test_unknown_variables_are_ignored():
    assert ClientSettings.load({ENV_PREFIX + "NOT_A_SETTING": "x"}) == ClientSettings()


def test_client_key_needs_client_cert():
    with pytest.raises(TemplateError, match="client_key needs client_cert"):
        ClientSettings.load({ENV_PREFIX + "CLIENT_KEY": "/etc/key.pem"})
    # A certificate alone is fine: its PEM file may hold the key too.
    assert ClientSettings.load({}, client_cert="/etc/both.pem").client_key is None


# -- clamping a template's limits ----------------------------------------------------


def test_item_and_result_bytes_are_clamped():
    s = ClientSettings(max_item_bytes_ceiling=100, max_result_bytes_ceiling=1000)
    assert (s.item_bytes(50), s.item_bytes(100), s.item_bytes(10**12)) == (50, 100, 100)
    assert (s.result_bytes(999), s.result_bytes(10**12)) == (999, 1000)


def test_connect_timeout_is_clamped():
    s = ClientSettings(connect_timeout_ceiling=2000)
    assert (s.connect_ms(1), s.connect_ms(2000), s.connect_ms(600_000)) == (1, 2000, 2000)


def test_a_template_without_connect_timeout_gets_the_clients():
    """A manual written for utcp-http sets no connect_timeout: the user decides
    how long its tools may take to start answering, within the ceiling."""
    assert ClientSettings().connect_ms(None) == 5_000
    assert ClientSettings(connect_timeout=30_000).connect_ms(None) == 30_000
    assert ClientSettings(connect_timeout=30_000).connect_ms(1_000) == 1_000  # the template's own value wins
    assert ClientSettings(connect_timeout_ceiling=40_000).connect_ms(600_000) == 40_000  # a template's: clamped


def test_a_connect_timeout_above_its_ceiling_is_refused_not_cut():
    with pytest.raises(TemplateError, match="connect_timeout \\(90000 ms\\) is above connect_timeout_ceiling"):
        ClientSettings.load({ENV_PREFIX + "CONNECT_TIMEOUT": "90000"})
    raised = ClientSettings.load({ENV_PREFIX + "CONNECT_TIMEOUT": "90000",
                                  ENV_PREFIX + "CONNECT_TIMEOUT_CEILING": "90000"})
    assert raised.connect_ms(None) == 90_000
    lowered = ClientSettings.load({ENV_PREFIX + "CONNECT_TIMEOUT_CEILING": "300"})  # the default: clamped
    assert lowered.connect_ms(None) == 300


def test_connect_timeout_zero_is_refused():
    with pytest.raises(TemplateError, match="connect_timeout must be > 0 ms"):
        ClientSettings.load({ENV_PREFIX + "CONNECT_TIMEOUT": "0"})


@pytest.mark.parametrize(("asked", "idle"), [(None, 300_000), (0, 300_000), (1, 1), (300_000, 300_000),
                                             (10**9, 300_000)])
def test_idle_is_always_bounded(asked, idle):
    assert ClientSettings().idle_ms(asked) == idle
