"""The ``streamable_http`` call template and its serializer.

Every field of the UTCP v1 ``streamable_http`` template plus this plugin's
extensions (ARCHITECTURE section 2). Validation happens here, once, so the
hot path never re-checks a template; the checks that need resolved variables
(the URL policy, unresolved ``${VAR}``) happen when a request is built.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from utcp.data.call_template import CallTemplate
from utcp.exceptions import UtcpSerializerValidationError
from utcp.interfaces.serializer import Serializer

from utcp_http_stream.auth import redacting_auth
from utcp_http_stream.security import redact_url
from utcp_http_stream.template_fields import unknown_fields

__all__ = [
    "HTTP_METHODS",
    "STREAM_FORMATS",
    "ReconnectPolicy",
    "StreamableHttpCallTemplate",
    "StreamableHttpCallTemplateSerializer",
    "format_validation_error",
]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
STREAM_FORMATS = ("auto", "bytes", "text", "ndjson", "sse", "json", "json_seq")

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
StreamFormat = Literal["auto", "bytes", "text", "ndjson", "sse", "json", "json_seq"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}/?#]*)\}")
_VARIABLE = re.compile(r"\$\{?[A-Za-z0-9_]")
#: Stream formats whose items are not JSON -> what they yield instead.
_NOT_JSON_ITEMS = {"bytes": "bytes", "text": "text lines"}


class ReconnectPolicy(BaseModel):
    """How a dropped stream is resumed.

    SSE resumes with ``Last-Event-ID``; other framings reconnect only for
    GET/HEAD and only before the first item was yielded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=100, strict=True, description="reconnections allowed after the first")
    initial_delay_ms: int = Field(500, ge=0, strict=True, description="first backoff delay; doubles, with jitter")
    max_delay_ms: int = Field(30_000, ge=0, strict=True, description="cap on any single backoff delay")

    @model_validator(mode="after")
    def _delays_ordered(self) -> ReconnectPolicy:
        if self.max_delay_ms < self.initial_delay_ms:
            raise ValueError("reconnect.max_delay_ms must be >= reconnect.initial_delay_ms")
        return self


class StreamableHttpCallTemplate(CallTemplate):
    """A tool (or manual) reached over streaming HTTP.

    ``url`` may hold ``{param}`` path placeholders (never in the host); the
    remaining fields say how arguments map onto the request and how the
    response stream is framed, filtered and bounded.
    """

    call_template_type: Literal["streamable_http", "http_stream"] = "streamable_http"
    url: str
    http_method: HttpMethod = "GET"
    content_type: str = "application/octet-stream"
    # Numbers are strict: a manual's ``timeout: true`` is refused, not read as 1 ms.
    chunk_size: int = Field(4096, gt=0, strict=True, description="max bytes per yielded chunk in bytes framing")
    timeout: int = Field(60_000, ge=0, strict=True, description="ms for the whole call; 0 = no overall limit")
    connect_timeout: int | None = Field(
        None, gt=0, strict=True,
        description="ms to connect and receive the headers; None = the client's connect_timeout setting (5000 ms)",
    )
    idle_timeout: int | None = Field(None, gt=0, strict=True, description="ms between two body pieces; None = timeout")
    headers: dict[str, str] | None = None
    body_field: str | None = None
    header_fields: list[str] | None = None
    stream_format: StreamFormat = "auto"
    select: str | None = None
    sse_event_types: list[str] | None = None
    stop_marker: str | None = "[DONE]"
    max_item_bytes: int = Field(8 * 1024 * 1024, gt=0, strict=True)
    max_result_bytes: int = Field(
        64 * 1024 * 1024, gt=0, strict=True, description="largest aggregated call_tool result, in bytes"
    )
    on_malformed: Literal["error", "skip", "raw"] = "error"
    reconnect: ReconnectPolicy | None = None
    aggregate: Literal["auto", "concat"] = "auto"

    @field_validator("http_method", mode="before")
    @classmethod
    def _method_upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            upper = value.strip().upper()
            if upper not in HTTP_METHODS:
                raise ValueError(f"http_method {value!r} is not supported; use one of {', '.join(HTTP_METHODS)}")
            return upper
        return value

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("url is empty")
        # A URL still holding ${VAR} in its scheme or host is checked after the
        # client substitutes variables (UtcpClient validates before it does).
        head = value.split("/", 3)
        authority_part = "/".join(head[:3])
        if not _VARIABLE.search(authority_part):
            _check_url_shape(value)
        return value

    @field_validator("select")
    @classmethod
    def _select_is_pointer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from utcp_http_stream.decoders.pointer import compile_pointer

        compile_pointer(value)  # raises ValueError with the rule broken
        return value

    @field_validator("headers")
    @classmethod
    def _header_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        for name in value:
            if not name.strip():
                raise ValueError("headers contains an empty header name")
        return value

    @field_validator("auth", mode="after")
    @classmethod
    def _redacting_auth(cls, value: Any) -> Any:
        return redacting_auth(value)

    @model_validator(mode="after")
    def _consistent(self) -> StreamableHttpCallTemplate:
        placeholders = set(_PLACEHOLDER.findall(self.url.split("?", 1)[0]))
        if self.body_field in placeholders:  # placeholders are strings: never None
            raise ValueError(f"body_field {self.body_field!r} is also a path placeholder in url")
        if self.header_fields:
            _check_header_fields(self.header_fields, self.body_field, placeholders)
        if self.select is not None:
            _check_select_applies(self.stream_format)
        return self

    def path_placeholders(self) -> list[str]:
        """The ``{name}`` placeholders of the URL path, in order."""
        return _PLACEHOLDER.findall(self.url.split("?", 1)[0])

    def __repr_args__(self):  # secrets never reach repr() or str()
        for key, value in super().__repr_args__():
            yield key, _shown(key, value)


def _shown(key: str | None, value: Any) -> Any:
    """A field's value as repr() shows it: the URL redacted, and of the static
    headers only the names (any may carry a credential: x-api-key, a bearer...)."""
    if key == "url" and isinstance(value, str):
        return redact_url(value, all_query=True)
    if key == "headers" and value:
        return dict.fromkeys(value, "***")
    return value


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, ``field.path: message``: readable, no traceback."""
    return "; ".join(_error_line(err) for err in exc.errors())


def _error_line(err: ErrorDetails) -> str:
    """``field.path: message`` for one pydantic error."""
    loc = ".".join(str(part) for part in err.get("loc", ())) or "(template)"
    msg = err.get("msg", "invalid").removeprefix("Value error, ")
    return f"{loc}: {msg}"


class StreamableHttpCallTemplateSerializer(Serializer[StreamableHttpCallTemplate]):
    """Converts templates to and from dictionaries (manual files, ``/utcp``)."""

    def to_dict(self, obj: StreamableHttpCallTemplate) -> dict:
        return obj.model_dump()

    def validate_dict(self, obj: dict) -> StreamableHttpCallTemplate:
        """The template; each key it has no field for is logged as one
        warning (a misspelled field would otherwise silently not apply)."""
        try:
            template = StreamableHttpCallTemplate.model_validate(obj)
        except ValidationError as exc:
            raise UtcpSerializerValidationError(
                "Invalid streamable_http call template: " + format_validation_error(exc)
            ) from None
        except Exception as exc:  # pragma: no cover - defensive: keep the serializer contract
            raise UtcpSerializerValidationError(
                "Invalid streamable_http call template: " + "".join(traceback.format_exception_only(exc)).strip()
            ) from None
        _warn_unknown_fields(obj)
        return template


def _warn_unknown_fields(obj: dict) -> None:
    """One warning per key of ``obj`` the template has no field for."""
    for field in unknown_fields(obj, StreamableHttpCallTemplate.model_fields):
        logger.warning("call template %s: %s", _label(obj), field.advice())


def _label(obj: dict) -> str:
    name = obj.get("name")
    if isinstance(name, str) and name:
        return repr(name)
    url = obj.get("url")
    return f"for {redact_url(url)}" if isinstance(url, str) else "(unnamed)"


def _check_url_shape(value: str) -> None:
    """Refuse a template URL that is not absolute http(s) with a literal
    host, or that embeds credentials or an invalid port."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"url {redact_url(value)!r} is malformed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"url {redact_url(value)!r} must start with https:// (or http:// for loopback)")
    if not parts.netloc:
        raise ValueError(f"url {redact_url(value)!r} has no host")
    _check_authority(parts, value)


def _check_authority(parts: SplitResult, value: str) -> None:
    """Refuse a {placeholder} in the host, credentials (a password comes
    only with a user), an invalid port."""
    if "{" in parts.netloc or "}" in parts.netloc:
        raise ValueError(
            f"url {redact_url(value)!r} has a {{placeholder}} in its host; path parameters may only appear in the path"
        )
    if parts.username is not None:
        raise ValueError("url must not embed credentials (user:password@); use the auth field")
    try:
        parts.port  # noqa: B018 - raises on an invalid port
    except ValueError:
        raise ValueError(f"url {redact_url(value)!r} has an invalid port") from None


def _check_select_applies(stream_format: str) -> None:
    """``select`` picks from JSON items: refuse it with a format that yields none."""
    yields = _NOT_JSON_ITEMS.get(stream_format)
    if yields is not None:
        raise ValueError(f"select applies to JSON items; stream_format {stream_format!r} yields {yields}")


def _check_header_fields(header_fields: list[str], body_field: str | None, placeholders: set[str]) -> None:
    """An argument is sent one way: never as a header and as the body or a path segment too."""
    if body_field in header_fields:  # names are strings: never None
        raise ValueError(f"body_field {body_field!r} is also listed in header_fields")
    clash = placeholders.intersection(header_fields)
    if clash:
        raise ValueError(f"header_fields {sorted(clash)} are also path placeholders in url")
