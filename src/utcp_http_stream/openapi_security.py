"""OpenAPI security schemes -> UTCP auth whose secrets are variables the
user sets (ARCHITECTURE section 7). Pure: no I/O.

A scheme named ``inventory_key`` reads ``${INVENTORY_KEY}``
(:func:`placeholder_name`); basic auth adds ``_USERNAME``/``_PASSWORD``,
OAuth2 client credentials ``_CLIENT_ID``/``_CLIENT_SECRET``. The values are
never in the manual: UtcpClient substitutes them per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from utcp_http_stream.json_values import as_dict, as_list

__all__ = ["SecuritySchemes", "placeholder_name"]

_NOT_A_VARIABLE = re.compile(r"[^A-Za-z0-9]")


def placeholder_name(scheme: str) -> str:
    """The variable a security scheme's secret is read from: the scheme's name
    upper-cased, every character but letters and digits as ``_``
    (``inventory_key`` -> ``INVENTORY_KEY``, ``api-key`` -> ``API_KEY``)."""
    return _NOT_A_VARIABLE.sub("_", scheme).upper()


class SecuritySchemes:
    """A document's security schemes (``components.securitySchemes``, or
    Swagger 2.0's ``securityDefinitions``), turned into auth per requirement.

    ``deref`` follows ``$ref`` to a scheme object; ``absolute`` makes a
    relative token URL absolute.
    """

    __slots__ = ("_absolute", "_deref", "_schemes", "_swagger")

    def __init__(
        self,
        schemes: dict[str, Any],
        *,
        swagger: bool,
        deref: Callable[[Any], Any],
        absolute: Callable[[str], str],
    ) -> None:
        self._schemes = schemes
        self._swagger = swagger
        self._deref = deref
        self._absolute = absolute

    def auth_for(self, requirements: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """The auth of the first requirement this plugin can satisfy (one
        scheme of a supported type), and the requirements it could not. An
        empty requirement allows anonymous calls: no auth, nothing missing."""
        unsupported: list[str] = []
        for requirement in as_list(requirements):
            if not as_dict(requirement):  # empty (or no object): anonymous calls allowed
                return None, []
            auth = self._requirement_auth(requirement)
            if auth is not None:
                return auth, []
            unsupported.append(" + ".join(map(str, requirement)))
        return None, unsupported

    def _requirement_auth(self, requirement: dict[Any, Any]) -> dict[str, Any] | None:
        """The auth of a requirement naming one scheme (with its scopes); None
        for one that combines several, which no single auth can satisfy."""
        if len(requirement) != 1:
            return None
        ((name, scopes),) = requirement.items()
        return self._scheme_auth(str(name), scopes)

    def _scheme_auth(self, name: str, scopes: Any) -> dict[str, Any] | None:
        scheme = as_dict(self._deref(self._schemes.get(name)))
        variable = placeholder_name(name)
        kind = _kind(scheme)
        if kind == "oauth2":
            return self._oauth2(scheme, variable, scopes)
        build = _AUTH_BUILDERS.get(kind)
        return None if build is None else build(scheme, variable)

    def _oauth2(self, scheme: dict[str, Any], variable: str, scopes: Any) -> dict[str, Any] | None:
        token_url = _token_url(scheme, swagger=self._swagger)
        if token_url is None:
            return None  # only the client credentials flow runs without a user
        auth: dict[str, Any] = {
            "auth_type": "oauth2",
            "token_url": self._absolute(token_url),
            "client_id": f"${{{variable}_CLIENT_ID}}",
            "client_secret": f"${{{variable}_CLIENT_SECRET}}",
        }
        if as_list(scopes):
            auth["scope"] = " ".join(map(str, scopes))
        return auth


def _kind(scheme: dict[str, Any]) -> str:
    """The scheme's ``type``; for OpenAPI 3's ``http`` type, its ``scheme`` (basic, bearer)."""
    kind = str(scheme.get("type"))
    return str(scheme.get("scheme", "")).lower() if kind == "http" else kind


def _api_key(scheme: dict[str, Any], variable: str) -> dict[str, Any] | None:
    if scheme.get("in") not in ("header", "query", "cookie") or not scheme.get("name"):
        return None
    return {"auth_type": "api_key", "api_key": f"${{{variable}}}", "var_name": str(scheme["name"]),
            "location": scheme["in"]}  # fmt: skip


def _basic(scheme: dict[str, Any], variable: str) -> dict[str, Any]:
    """HTTP basic auth: ``{VARIABLE}_USERNAME`` and ``{VARIABLE}_PASSWORD``."""
    return {"auth_type": "basic", "username": f"${{{variable}_USERNAME}}", "password": f"${{{variable}_PASSWORD}}"}


def _bearer(scheme: dict[str, Any], variable: str) -> dict[str, Any]:
    """A bearer token: ``Authorization: Bearer {VARIABLE}``."""
    return {"auth_type": "api_key", "api_key": f"Bearer ${{{variable}}}", "var_name": "Authorization",
            "location": "header"}  # fmt: skip


#: Scheme kind -> its auth (OAuth2 needs the document's dialect: a method).
_AUTH_BUILDERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any] | None]] = {
    "apiKey": _api_key,
    "basic": _basic,
    "bearer": _bearer,
}


def _token_url(scheme: dict[str, Any], *, swagger: bool) -> str | None:
    """The client credentials flow's token URL."""
    token_url = _client_credentials_flow(scheme, swagger=swagger).get("tokenUrl")
    return token_url if isinstance(token_url, str) else None


def _client_credentials_flow(scheme: dict[str, Any], *, swagger: bool) -> dict[str, Any]:
    """The client credentials flow object, ``{}`` when the scheme has none.
    Swagger 2.0 names it ``application`` and puts it in the scheme itself."""
    if swagger:
        return scheme if scheme.get("flow") == "application" else {}
    return as_dict(as_dict(scheme.get("flows")).get("clientCredentials"))
