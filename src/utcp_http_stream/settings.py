"""Client settings: the user's, never a manual's (ARCHITECTURE section 2).

A manual may come from anywhere, so what it must not control lives here:
``StreamClient(...)`` keyword arguments, or, for ``UtcpClient`` users (whose
factory passes none), environment variables ``UTCP_HTTP_STREAM_<NAME>``
(times in ms, sizes in bytes, booleans 1/0), read when the protocol is
created. Pure: no I/O beyond reading ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utcp_http_stream.errors import TemplateError

__all__ = ["ENV_PREFIX", "ClientSettings"]

ENV_PREFIX = "UTCP_HTTP_STREAM_"

_MiB = 1024 * 1024
#: The contract's header wait (section 1), for a template that sets none.
_CONNECT_TIMEOUT_MS = 5_000


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Every client setting with its default; see the README's table."""

    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    trust_env: bool = False
    max_connections: int = 512
    max_connections_per_host: int = 0
    pool_timeout: int = 30_000
    keepalive_expiry: int = 4_000
    validate_arguments: bool = True
    allow_local_addresses: bool = False
    max_item_bytes_ceiling: int = 64 * _MiB
    max_result_bytes_ceiling: int = 256 * _MiB
    connect_timeout_ceiling: int = 60_000
    idle_timeout_ceiling: int = 300_000
    #: The ``connect_timeout`` of a template that sets none (ms): a slow tool
    #: on someone else's manual is the user's to allow, not only the manual's.
    connect_timeout: int = _CONNECT_TIMEOUT_MS

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
        """Defaults, then ``UTCP_HTTP_STREAM_<NAME>`` variables, then the
        keyword arguments that are not None. A malformed variable is a
        ``TemplateError`` naming it (a silently ignored setting is worse)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            given = overrides.pop(field.name, None)
            values[field.name] = _from_env(env, field) if given is None else given
        if overrides:
            raise TypeError(f"unknown client setting(s): {', '.join(sorted(overrides))}")
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        for field in dataclasses.fields(self):
            _check_not_negative(field.name, getattr(self, field.name))
        if self.client_key is not None and self.client_cert is None:
            raise TemplateError("client setting client_key needs client_cert too")
        if self.connect_timeout == 0:
            raise TemplateError(f"client setting connect_timeout must be > 0 ms ({ENV_PREFIX}CONNECT_TIMEOUT)")
        if self.connect_timeout > self.connect_timeout_ceiling and self.connect_timeout != _CONNECT_TIMEOUT_MS:
            # Both are the user's: a value they chose, silently cut to the ceiling, would surprise (the
            # default under a lowered ceiling is simply clamped, as a template's value is).
            raise TemplateError(
                f"client setting connect_timeout ({self.connect_timeout} ms) is above connect_timeout_ceiling "
                f"({self.connect_timeout_ceiling} ms); raise {ENV_PREFIX}CONNECT_TIMEOUT_CEILING too"
            )

    # -- clamping a template's limits ----------------------------------------

    def item_bytes(self, asked: int) -> int:
        return min(asked, self.max_item_bytes_ceiling)

    def result_bytes(self, asked: int) -> int:
        return min(asked, self.max_result_bytes_ceiling)

    def connect_ms(self, asked: int | None) -> int:
        """The header wait in ms: the template's, else this client's
        ``connect_timeout``; at most the ceiling either way."""
        return min(self.connect_timeout if asked is None else asked, self.connect_timeout_ceiling)

    def idle_ms(self, asked: int | None) -> int:
        """The idle wait in ms: always bounded, even when the template says
        0 / None (no limit)."""
        if not asked:
            return self.idle_timeout_ceiling
        return min(asked, self.idle_timeout_ceiling)


def _from_env(env: Mapping[str, str], field: dataclasses.Field[Any]) -> Any:
    """The setting its ``UTCP_HTTP_STREAM_<NAME>`` variable gives, or the
    field's default when the variable is unset or blank."""
    raw = env.get(ENV_PREFIX + field.name.upper())
    if raw is None or raw.strip() == "":
        return field.default
    return _parse(field.name, field.type, raw.strip())


def _check_not_negative(name: str, value: Any) -> None:
    """Refuse a negative whole-number setting (a bool is no number here)."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise TemplateError(f"client setting {name} must be >= 0, got {value}")


#: The spellings of a boolean variable.
_BOOLEANS = {
    **dict.fromkeys(("1", "true", "True", "yes"), True),
    **dict.fromkeys(("0", "false", "False", "no"), False),
}


def _parse(name: str, kind: Any, raw: str) -> Any:
    var = ENV_PREFIX + name.upper()
    text = str(kind)
    if "bool" in text:
        return _parse_bool(var, raw)
    if "int" in text:
        return _parse_int(var, raw)
    return raw


def _parse_bool(var: str, raw: str) -> bool:
    value = _BOOLEANS.get(raw)
    if value is None:
        raise TemplateError(f"{var}={raw!r} is not a boolean; use 1 or 0")
    return value


def _parse_int(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise TemplateError(f"{var}={raw!r} is not a whole number") from None
