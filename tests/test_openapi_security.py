"""openapi_security.py: security schemes become auth with placeholder
variables (ARCHITECTURE section 7), through the whole conversion."""

from __future__ import annotations

import pytest

from tests.test_openapi import convert, doc, op
from utcp_http_stream.openapi_security import placeholder_name


@pytest.mark.parametrize(
    ("scheme", "variable"),
    [("inventory_key", "INVENTORY_KEY"), ("api-key", "API_KEY"), ("ApiKeyAuth", "APIKEYAUTH"), ("a.b c", "A_B_C")],
)
def test_placeholder_names(scheme: str, variable: str) -> None:
    assert placeholder_name(scheme) == variable


@pytest.mark.parametrize(
    ("scheme", "auth"),
    [
        ({"type": "apiKey", "in": "header", "name": "X-Key"},
         {"auth_type": "api_key", "api_key": "${MY_SCHEME}", "var_name": "X-Key", "location": "header"}),
        ({"type": "apiKey", "in": "query", "name": "key"},
         {"auth_type": "api_key", "api_key": "${MY_SCHEME}", "var_name": "key", "location": "query"}),
        ({"type": "apiKey", "in": "cookie", "name": "sid"},
         {"auth_type": "api_key", "api_key": "${MY_SCHEME}", "var_name": "sid", "location": "cookie"}),
        ({"type": "http", "scheme": "bearer"},
         {"auth_type": "api_key", "api_key": "Bearer ${MY_SCHEME}", "var_name": "Authorization",
          "location": "header"}),
        ({"type": "http", "scheme": "Basic"},
         {"auth_type": "basic", "username": "${MY_SCHEME_USERNAME}", "password": "${MY_SCHEME_PASSWORD}"}),
        ({"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {"r": ""}}}},
         {"auth_type": "oauth2", "token_url": "https://api.example.com/oauth/token",
          "client_id": "${MY_SCHEME_CLIENT_ID}", "client_secret": "${MY_SCHEME_CLIENT_SECRET}", "scope": "r w"}),
    ],
)  # fmt: skip
def test_security_schemes_become_auth_with_placeholders(scheme: dict, auth: dict) -> None:
    document = doc(
        {"/s": {"get": op(security=[{"my-scheme": ["r", "w"]}])}},
        components={"securitySchemes": {"my-scheme": scheme}},
    )
    made = convert(document).manual.tools[0].tool_call_template.auth
    assert {k: getattr(made, k) for k in auth} == auth


def test_unsupported_security_registers_without_auth_and_says_so() -> None:
    document = doc(
        {"/s": {"get": op()}},
        security=[{"oidc": []}],
        components={"securitySchemes": {"oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://x"}}},
    )
    result = convert(document)
    assert result.manual.tools[0].tool_call_template.auth is None
    assert result.errors == ["GET /s: registered without auth: its security (oidc) is not supported"]
