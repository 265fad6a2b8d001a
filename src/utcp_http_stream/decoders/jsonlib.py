"""JSON parsing with the stdlib's results and, when installed, orjson's speed.

A tool's output must not depend on whether the optional ``orjson`` extra is
installed, so every function here returns exactly what :func:`json.loads`
returns (NaN/Infinity, integers of any size, lone surrogates, duplicate keys)
and raises a :class:`ValueError` exactly when it does. orjson is only a fast
path: whenever it rejects a document, the stdlib parses it again and has the
last word.

orjson accepts one thing it answers differently: an integer outside the 64-bit
range becomes a float. Such an integer needs at least 19 digits in a row, so
any text with a run that long goes straight to the stdlib (a C-speed
``translate`` plus substring search, under 1 ns per byte).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:  # the optional "fast" extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without the extra
    _orjson = None

__all__ = [
    "ORJSON_AVAILABLE",
    "USING_ORJSON",
    "backend",
    "loads",
    "loads_many_utf8",
    "loads_utf8",
    "set_backend",
]

#: Whether orjson can be imported at all.
ORJSON_AVAILABLE: bool = _orjson is not None
#: Whether the fast path is in use (see :func:`set_backend`).
USING_ORJSON: bool = ORJSON_AVAILABLE

_json_loads = json.loads
# Maps every ASCII digit to b"0" and every other byte to b".": a run of 19
# digits becomes _LONG_RUN, found by one substring search.
_DIGIT_TABLE = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_RUN = b"0" * 19


def _may_hold_big_int(data: bytes) -> bool:
    """True when ``data`` has 19+ consecutive ASCII digits, the only way an
    orjson result can differ from the stdlib's."""
    # find() rather than "in": bytes.__contains__ first tries the needle as an
    # int, and the failed attempt costs more than the search.
    return data.translate(_DIGIT_TABLE).find(_LONG_RUN) >= 0


# json.loads() spends a good part of a small document's time in Python-level
# checks around the C scanner. Calling the scanner directly is the same parse;
# anything unusual (an error, trailing data) goes back through json.loads so
# results and error messages stay exactly the stdlib's.
_scan_once = json.JSONDecoder().scan_once
_JSON_WS = " \t\n\r"


def _stdlib_loads_str(text: str) -> Any:
    try:
        start = len(text) - len(text.lstrip(_JSON_WS)) if text[:1] in _JSON_WS else 0
        value, end = _scan_once(text, start)
    except (StopIteration, ValueError):
        return _json_loads(text)
    if end != len(text) and text[end:].strip(_JSON_WS):
        return _json_loads(text)  # raises "Extra data"
    return value


def _stdlib_loads_utf8(data: bytes) -> Any:
    return _stdlib_loads_str(data.decode("utf-8"))


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; same result and same errors as :func:`json.loads`."""
    if not USING_ORJSON:
        return _stdlib_loads_str(data) if isinstance(data, str) else _json_loads(data)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _may_hold_big_int(raw):
        try:
            return _orjson.loads(raw)
        except ValueError:
            pass
    return _json_loads(data)


def loads_utf8(data: bytes) -> Any:
    """Parse JSON text received on the wire, which RFC 8259 requires to be
    UTF-8: same as ``json.loads(data.decode("utf-8"))``, so invalid UTF-8 (and a
    byte order mark) raise :class:`ValueError` instead of being guessed at."""
    if USING_ORJSON and not _may_hold_big_int(data):
        try:
            return _orjson.loads(data)
        except ValueError:
            pass
    return _stdlib_loads_utf8(data)


def loads_many_utf8(texts: list[bytes]) -> list[Any] | None:
    """Parse many UTF-8 JSON texts at once, or return ``None`` when any of them
    needs individual attention (invalid, blank, or only parsable by the stdlib).

    When it returns a list, it equals ``[loads_utf8(t) for t in texts]``; it is
    the decoders' fast path for a chunk full of small documents, and skips the
    per-document Python overhead of :func:`loads_utf8`.
    """
    if USING_ORJSON:
        if _may_hold_big_int(b"\n".join(texts)):
            return None
        fast: Callable[[bytes], Any] = _orjson.loads
    else:
        fast = _stdlib_loads_utf8
    try:
        return [fast(text) for text in texts]
    except (ValueError, RecursionError):
        return None


def backend() -> str:
    """The backend in use: ``"orjson"`` or ``"json"``."""
    return "orjson" if USING_ORJSON else "json"


def set_backend(name: str) -> None:
    """Select ``"orjson"`` (fast path, the default when installed) or ``"json"``
    (stdlib only). Results are identical either way; tests switch backends to
    prove it, and benchmarks to measure the difference."""
    global USING_ORJSON
    if name == "json":
        USING_ORJSON = False
    elif name == "orjson":
        if not ORJSON_AVAILABLE:
            raise ValueError("the orjson backend needs the orjson package: pip install 'utcp-http-stream[fast]'")
        USING_ORJSON = True
    else:
        raise ValueError(f"unknown JSON backend {name!r}; expected 'json' or 'orjson'")
