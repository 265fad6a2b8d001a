"""The json framing: the whole body, parsed once at the end."""

from __future__ import annotations

import json
from typing import Any

from utcp_http_stream.decoders import jsonlib
from utcp_http_stream.decoders.base import DEFAULT_MAX_ITEM_BYTES, MALFORMED_HINT, ItemDecoder
from utcp_http_stream.decoders.diagnostics import decode_error, json_error_reason, prefix_for_excerpt
from utcp_http_stream.decoders.pointer import MISSING, Pointer
from utcp_http_stream.decoders.text import lookup_charset
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["JsonDecoder", "JsonDocument"]

_JSON_WHITESPACE = b" \t\r\n"


class JsonDocument:
    """The json framing's settings, checked once (a call template is called
    again and again): how a whole body becomes its items. Immutable; shared
    by every :class:`JsonDecoder` of the same settings, and used alone for a
    body that arrived whole (:meth:`items`)."""

    __slots__ = ("charset", "limit", "mode", "pointer")

    def __init__(
        self,
        charset: str | None = None,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        on_malformed: str = "error",
        select: Pointer | None = None,
    ) -> None:
        # UTF-8 (the only charset RFC 8259 allows) is left to the parser, which
        # also recognises a BOM and UTF-16/32; any other declared charset is
        # decoded first.
        name = lookup_charset(charset).name if charset else None
        self.charset = None if name in (None, "utf-8", "utf-8-sig", "ascii") else name
        self.limit = max_item_bytes
        self.mode = on_malformed
        self.pointer = select

    def items(self, body: bytes, counts: ItemDecoder | None = None) -> list[Any]:
        """The items of a whole body within the limit (none, or one), counted
        in ``counts`` (a decoder's counters) when given: what a
        :class:`JsonDecoder` fed ``body`` and closed returns, without one."""
        try:
            value = self._parse(body)
        except (ValueError, RecursionError) as exc:
            return self._malformed(body, exc, counts)
        if value is MISSING:
            return self._malformed(body, None, counts)
        pointer = self.pointer
        if pointer is not None:
            value = pointer.resolve(value)
            if value is MISSING:
                if counts is not None:
                    counts.skipped += 1
                return []
        if counts is not None:
            counts.items += 1
        return [value]

    def _parse(self, body: bytes) -> Any:
        """The parsed body, or :data:`MISSING` when it is blank; raises
        :class:`ValueError` when it is not JSON (in its charset)."""
        text = body if self.charset is None else body.decode(self.charset).removeprefix("\ufeff")
        try:
            return jsonlib.loads(text)
        except ValueError:
            # Blankness is asked only of what did not parse (a document that
            # parsed is not blank): the common case makes no stripped copy.
            if not (text.strip(_JSON_WHITESPACE) if isinstance(text, bytes) else text.strip(" \t\r\n")):
                return MISSING
            raise

    def _malformed(self, body: bytes, exc: BaseException | None, counts: ItemDecoder | None) -> list[Any]:
        """Apply ``on_malformed`` to the body (``exc`` is None when it is
        blank): skipped, passed through as text, or raised."""
        text = body.decode(self.charset or "utf-8", "replace")
        if self.mode == "error":
            raise _malformed_error(text, exc)
        out = [] if self.mode == "skip" else [text]
        if counts is not None:
            counts.malformed += 1
            counts.items += len(out)
        return out


class JsonDecoder(ItemDecoder):
    """The whole body parsed once, at close; refused as soon as it grows beyond
    ``max_item_bytes``. An empty body is malformed (``on_malformed`` decides)."""

    __slots__ = ("_document", "_parts", "_size")

    def __init__(self, document: JsonDocument) -> None:
        super().__init__()
        self._document = document
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[Any]:
        if self._error is not None:
            raise self._error
        if data:
            self._size += len(data)
            if self._size > self._document.limit:
                raise self._too_large(data)
            self._parts.append(data)
        return []

    def _too_large(self, data: bytes) -> StreamDecodeError:
        """Record and return the error for a document grown beyond the limit
        by ``data``; nothing more is kept."""
        limit = self._document.limit
        # Show how the document starts (the same bytes whatever the chunking).
        start = b"".join([*self._parts, data])[: prefix_for_excerpt(limit)]
        self._parts = []
        self._error = decode_error(
            f"the JSON document is larger than max_item_bytes ({limit} bytes)",
            "raise max_item_bytes in the call template, or use stream_format 'bytes' to receive it in chunks",
            position=f"byte {limit + 1}",
            data=start,
        )
        return self._error

    def close(self) -> list[Any]:
        if self._error is not None:
            raise self._error
        body = b"".join(self._parts)
        self._parts = []
        return self._document.items(body, self)


def _malformed_error(text: str, exc: BaseException | None) -> StreamDecodeError:
    """The error for a body that is blank (``exc`` None) or not JSON."""
    hint = f"{MALFORMED_HINT}, or set stream_format to 'text' or 'bytes' if the server does not send JSON"
    if exc is None:
        return decode_error("the response body is empty, but a JSON document was expected", hint, position="document")
    if isinstance(exc, json.JSONDecodeError):
        position = f"line {exc.lineno} column {exc.colno}"
        reason = f"{exc.msg} at {position}"
        text = text[max(0, exc.pos - 30) :]  # show the text around the problem
    else:
        position = "document"
        reason = json_error_reason(exc)
    return decode_error(f"the response body is not valid JSON ({reason})", hint, position=position, data=text)
