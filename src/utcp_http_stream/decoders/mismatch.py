"""A forced ``stream_format`` that decodes nothing is an error, not an empty result.

A template saying ``stream_format: sse`` against a server that answers
``application/x-ndjson`` would otherwise yield nothing and end "successfully"
(an SSE parser finds no ``data:`` field in JSON lines). ARCHITECTURE section
3: when the forced framing has decoded nothing from a body whose Content-Type
names another framing, raise :class:`StreamDecodeError` naming both, at the
end of the body or once ``max_item_bytes`` of it went by, whichever comes
first.

:class:`ForcedFramingCheck` is the decision alone (counts in, raise or not);
:func:`guard_forced_framing` wraps a decoder with it only when the two
framings differ, so the common case pays nothing. Pure, like every decoder.
"""

from __future__ import annotations

from typing import Any

from utcp_http_stream.decoders.base import Decoder
from utcp_http_stream.decoders.diagnostics import excerpt
from utcp_http_stream.decoders.framing import framing_for_content_type
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["ForcedFramingCheck", "GuardedDecoder", "guard_forced_framing"]

# How much of the inner decoder's own error is quoted.
_CAUSE_CHARS = 160


class ForcedFramingCheck:
    """Whether a forced framing has decoded nothing for too long.

    ``active`` is false (nothing to check) when the format is ``auto``, the
    response has no Content-Type, or its Content-Type names the forced
    framing itself. Feed it the body size and whether anything was decoded;
    it raises the :class:`StreamDecodeError`.
    """

    __slots__ = ("active", "body_bytes", "content_type", "forced", "limit", "named")

    def __init__(self, stream_format: str, content_type: str | None, max_item_bytes: int) -> None:
        self.forced = stream_format
        self.content_type = content_type.split(";", 1)[0].strip() if content_type else None
        self.named = framing_for_content_type(content_type) if content_type else None
        self.limit = max_item_bytes
        self.body_bytes = 0
        self.active = stream_format != "auto" and self.named is not None and self.named != stream_format

    def body(self, size: int, decoded: bool) -> None:
        """``size`` more body bytes went in; raise once ``max_item_bytes`` of
        body produced nothing."""
        if not self.active:
            return
        self.body_bytes += size
        if decoded:
            self.active = False
        elif self.body_bytes >= self.limit:
            raise self.error(f"in the first {self.body_bytes} bytes")

    def end(self, decoded: bool) -> None:
        """End of body: raise if a non-empty body produced nothing."""
        if self.active and not decoded and self.body_bytes > 0:
            raise self.error(f"in the whole {self.body_bytes}-byte body")

    def error(self, where: str, cause: str | None = None) -> StreamDecodeError:
        self.active = False
        reported = f" (the {self.forced} decoder reported: {excerpt(cause, _CAUSE_CHARS)})" if cause else ""
        return StreamDecodeError(
            f"stream_format {self.forced!r} decoded nothing {where}, but the response's Content-Type "
            f"{self.content_type} names the {self.named} framing: set stream_format to {self.named!r} (or 'auto') "
            f"in the call template, or fix the server's Content-Type{reported}",
            position=f"byte {self.body_bytes}",
        )


class GuardedDecoder:
    """A decoder with a :class:`ForcedFramingCheck` around it; everything
    else (``finished``, ``items``, SSE's ``last_event_id``...) is the inner
    decoder's. A decode error met before anything was decoded becomes the
    mismatch error too: the cause is the framing, not the data."""

    __slots__ = ("_check", "_inner")

    def __init__(self, inner: Decoder, check: ForcedFramingCheck) -> None:
        self._inner = inner
        self._check = check

    def _decoded(self, out: list[Any]) -> bool:
        inner = self._inner
        return bool(out) or inner.items > 0 or inner.skipped > 0 or inner.finished

    def feed(self, data: bytes) -> list[Any]:
        check = self._check
        if not check.active:
            return self._inner.feed(data)
        try:
            out = self._inner.feed(data)
        except StreamDecodeError as exc:
            check.body_bytes += len(data)
            raise check.error(f"in the first {check.body_bytes} bytes", str(exc)) from exc
        check.body(len(data), self._decoded(out))
        return out

    def close(self) -> list[Any]:
        check = self._check
        if not check.active:
            return self._inner.close()
        try:
            out = self._inner.close()
        except StreamDecodeError as exc:
            raise check.error(f"in the whole {check.body_bytes}-byte body", str(exc)) from exc
        check.end(self._decoded(out))
        return out

    @property
    def finished(self) -> bool:
        return self._inner.finished

    @property
    def items(self) -> int:
        return self._inner.items

    @property
    def skipped(self) -> int:
        return self._inner.skipped

    def __getattr__(self, name: str) -> Any:
        # The framing's own state (SSE: last_event_id, retry).
        return getattr(self._inner, name)


def guard_forced_framing(
    decoder: Decoder, *, stream_format: str, content_type: str | None, max_item_bytes: int
) -> Decoder:
    """``decoder`` itself when there is nothing to check (``auto``, no
    Content-Type, or the same framing), else the decoder wrapped in the check."""
    if stream_format == "auto" or not content_type:
        return decoder  # the common case: nothing forced, nothing to check
    check = ForcedFramingCheck(stream_format, content_type, max_item_bytes)
    if not check.active:
        return decoder
    return GuardedDecoder(decoder, check)  # type: ignore[return-value]
