"""The one place that maps a media type to a framing, and back to an Accept header.

``stream_format: auto`` trusts the response's Content-Type; an explicit format
tells the server what we expect. Both directions live here so they cannot
drift apart. Extend :data:`MEDIA_TYPE_FRAMINGS` or :data:`ACCEPT_HEADERS` to
teach the plugin a new media type.
"""

from __future__ import annotations

import functools

__all__ = [
    "ACCEPT_HEADERS",
    "FRAMINGS",
    "MEDIA_TYPE_FRAMINGS",
    "accept_header_for",
    "charset_of",
    "framing_for_content_type",
]

#: Every framing a decoder exists for.
FRAMINGS: tuple[str, ...] = ("ndjson", "sse", "json_seq", "json", "text", "bytes")

#: Exact media types (lower case, no parameters) and their framing. Checked
#: before the ``+json`` suffix and ``text/*`` rules below.
MEDIA_TYPE_FRAMINGS: dict[str, str] = {
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json-lines": "ndjson",
    "application/x-jsonlines": "ndjson",
    "text/event-stream": "sse",
    "application/json-seq": "json_seq",
    "application/json": "json",
}

#: The Accept header value sent for an expected framing (``auto``: anything).
ACCEPT_HEADERS: dict[str, str] = {
    "sse": "text/event-stream",
    "ndjson": (
        "application/x-ndjson, application/jsonl;q=0.9, application/json-lines;q=0.9, "
        "application/x-jsonlines;q=0.9, application/json;q=0.5"
    ),
    "json_seq": "application/json-seq",
    "json": "application/json",
    "text": "text/plain, text/*;q=0.9",
    "bytes": "application/octet-stream, */*;q=0.5",
    "auto": "*/*",
}


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


@functools.lru_cache(maxsize=256)  # a server sends the same few Content-Types again and again
def framing_for_content_type(content_type: str | None) -> str:
    """The framing for a response Content-Type (case-insensitive, parameters
    ignored): a listed media type, then any ``*/*+json`` as ``json``, then any
    ``text/*`` as ``text``; everything else, a missing header included, is
    ``bytes`` so the body still arrives untouched."""
    if not content_type:
        return "bytes"
    media_type = _media_type(content_type)
    framing = MEDIA_TYPE_FRAMINGS.get(media_type)
    if framing is not None:
        return framing
    if media_type.endswith("+json"):
        return "json"
    if media_type.startswith("text/"):
        return "text"
    return "bytes"


@functools.lru_cache(maxsize=256)
def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, lower-cased and unquoted,
    or ``None`` when absent or empty."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, sep, value = param.partition("=")
        if sep and name.strip().lower() == "charset":
            value = value.strip().strip('"').strip()
            return value.lower() or None
    return None


def accept_header_for(framing_or_format: str) -> str:
    """The Accept header value for a ``stream_format`` (a framing or ``auto``)."""
    try:
        return ACCEPT_HEADERS[framing_or_format]
    except KeyError:
        expected = ", ".join(ACCEPT_HEADERS)
        raise ValueError(f"unknown stream_format {framing_or_format!r}; expected one of {expected}") from None
