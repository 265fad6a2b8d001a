"""Keys of a call template that no field of it has: misspellings, mostly.

``"stream_fromat": "sse"`` or ``"idle_timout": 500`` would otherwise be
dropped without a word and the template would run with the defaults.
ARCHITECTURE section 2: ``validate`` reports such keys as errors with a "did
you mean" suggestion, and registration logs one warning per key. This module
finds them and words the suggestion; the callers decide what to do. Pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from utcp_http_stream.settings import ENV_PREFIX

__all__ = ["UnknownField", "unknown_fields"]

# Keys people write for something the template deliberately does not offer,
# and where that thing lives instead.
_ELSEWHERE = {
    "verify": "certificate checks cannot be turned off from a manual; trust a private CA with the client "
    f"setting ca_bundle ({ENV_PREFIX}CA_BUNDLE)",
    "proxy": "proxies come from HTTP(S)_PROXY when the client setting trust_env is on "
    f"({ENV_PREFIX}TRUST_ENV=1)",
    "retries": "retries and resumption are the reconnect field: {max_attempts, initial_delay_ms, max_delay_ms}",
}
_SYNONYMS = {
    "verify": "verify",
    "verify_ssl": "verify",
    "ssl_verify": "verify",
    "verify_tls": "verify",
    "insecure": "verify",
    "ssl": "verify",
    "proxy": "proxy",
    "proxies": "proxy",
    "retries": "retries",
    "max_retries": "retries",
    "retry": "retries",
}


class UnknownField(NamedTuple):
    """A key the template has no field for, and what was probably meant."""

    name: str
    #: The field it most resembles, if any.
    suggestion: str | None
    #: Where the setting lives instead, for keys the template deliberately lacks.
    elsewhere: str | None

    def advice(self) -> str:
        """``unknown field 'stream_fromat' (did you mean 'stream_format'?)``"""
        text = f"unknown field {self.name!r}"
        if self.suggestion is not None:
            return f"{text} (did you mean {self.suggestion!r}?)"
        if self.elsewhere is not None:
            return f"{text}: {self.elsewhere}"
        return f"{text}, ignored"


def unknown_fields(data: Mapping[str, Any], known: Iterable[str]) -> list[UnknownField]:
    """The keys of ``data`` not in ``known``, in their order, each with the
    closest known field (or where the setting lives instead)."""
    names = list(known)
    allowed = set(names)
    return [_unknown_field(key, names, allowed) for key in data if isinstance(key, str) and key not in allowed]


def _unknown_field(key: str, names: list[str], allowed: set[str]) -> UnknownField:
    """``key`` with the field it is a variant of (case, ``-``), else where the
    setting lives instead, else the field it most resembles."""
    lowered = key.lower().replace("-", "_")
    if lowered in allowed:
        return UnknownField(key, lowered, None)
    topic = _SYNONYMS.get(lowered)
    if topic is not None:
        return UnknownField(key, None, _ELSEWHERE[topic])
    close = difflib.get_close_matches(lowered, names, n=1, cutoff=0.6)
    return UnknownField(key, close[0] if close else None, None)
