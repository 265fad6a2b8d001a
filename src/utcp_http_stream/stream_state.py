"""The decisions of one streaming call, without I/O (ARCHITECTURE section 5).

``StreamState`` is to a streaming response what h11's ``Connection`` is to a
socket: values in (the status and Content-Type of each response, body bytes,
the failures met), decisions out (the framing, the decoded items, the
headers a resume needs, whether and when to reconnect). The transport moves
bytes and sleeps; everything it decides comes from here, so every rule is a
unit test that feeds values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from utcp_http_stream.decoders import Decoder
from utcp_http_stream.decoders.build import cached_decoder_factory, json_document
from utcp_http_stream.decoders.chunks import BytesDecoder
from utcp_http_stream.decoders.document import JsonDocument
from utcp_http_stream.decoders.framing import charset_of, framing_for_content_type
from utcp_http_stream.decoders.mismatch import guard_forced_framing
from utcp_http_stream.decoders.sse_items import SseDecoder
from utcp_http_stream.errors import HttpStatusError, StreamInterruptedError, TemplateError
from utcp_http_stream.retry import RETRYABLE_STATUS, backoff_seconds
from utcp_http_stream.template import StreamableHttpCallTemplate

__all__ = ["NO_BODY_STATUS", "StreamState"]

#: Statuses that have no body by definition (HEAD answers have none either).
NO_BODY_STATUS = frozenset({204, 304})

_JSON_FRAMINGS = frozenset({"ndjson", "sse", "json", "json_seq"})


class StreamState:
    """Framing, decoding, resume and reconnect decisions for one call.

    ``max_item_bytes`` is the template's limit after the client's ceiling.
    Mode: items (the default), ``events`` (SSE envelopes, no ``select``) or
    ``raw`` (body bytes passed through as they came).
    """

    __slots__ = (
        "_decoder",
        "_mode",
        "_sse",
        "attempts",
        "body_bytes",
        "charset",
        "content_type",
        "framing",
        "has_body",
        "items_yielded",
        "last_event_id",
        "max_item_bytes",
        "method",
        "retry_ms",
        "status",
        "template",
    )

    def __init__(self, template: StreamableHttpCallTemplate, method: str, max_item_bytes: int) -> None:
        self.template = template
        self.method = method
        self.max_item_bytes = max_item_bytes
        self.framing = "bytes"
        self.charset: str | None = None
        self.content_type: str | None = None
        self.status = 0
        #: False when the response has no body by definition (HEAD, 204, 304): nothing to decode.
        self.has_body = method != "HEAD"
        self.items_yielded = 0
        #: Body bytes decoded so far (across reconnections).
        self.body_bytes = 0
        self.attempts = 0
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self._mode = "items"
        self._decoder: Decoder | None = None
        #: The SSE decoder inside ``_decoder`` (also behind a forced-framing guard), else None.
        self._sse: SseDecoder | None = None

    # -- responses -------------------------------------------------------------

    def on_response(self, status: int, content_type: str | None, url: Callable[[], str]) -> None:
        """A (re)opened response's headers: choose the framing. Raises
        ``TemplateError`` when ``select`` cannot apply to what came back
        (``url()`` names the response in that message)."""
        self.status = status
        self.has_body = self.method != "HEAD" and status not in NO_BODY_STATUS
        self.content_type = content_type
        fmt = self.template.stream_format
        self.framing = framing_for_content_type(content_type) if fmt == "auto" else fmt
        self.charset = charset_of(content_type)
        if self.template.select is not None and self.framing not in _JSON_FRAMINGS:
            raise TemplateError(
                f"select {self.template.select!r} needs a JSON framing (ndjson, sse, json_seq or json), but the "
                f"response from {url()} is {content_type or 'unlabelled'} ({self.framing} framing); set "
                "stream_format to ndjson/sse/json or remove select"
            )
        self._decoder = None  # a fresh parser per response: a partial item before a cut is dropped

    def resume_headers(self) -> dict[str, str]:
        """Headers a (re)connection sends: ``Last-Event-ID`` once an SSE id
        was seen (an empty id means: send none, as WHATWG says)."""
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    # -- decoding ----------------------------------------------------------------

    def start(self, mode: str) -> None:
        """Choose what iteration yields: ``items``, ``events`` or ``raw``."""
        if mode == "events" and self.framing != "sse":
            raise TemplateError(f"iter_events() needs an SSE response; this one is {self.framing} framing")
        self._mode = mode

    @property
    def decoder(self) -> Decoder:
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = self._new_decoder()
        return decoder

    @property
    def finished(self) -> bool:
        return self._decoder is not None and self._decoder.finished

    def feed(self, data: bytes) -> list[Any]:
        """The items ``data`` completes (counted as yielded)."""
        self.body_bytes += len(data)
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = self._new_decoder()
        return self._counted(decoder.feed(data))

    def feed_last(self, data: bytes) -> list[Any]:
        """:meth:`feed` of the body's last piece, then :meth:`close`, in one
        step, for a caller that keeps nothing of a bad body (an
        aggregation): a decode error at the end is raised at once, and the
        items ``data`` completed go with it. A streaming caller, which must
        deliver every item before the error, feeds and closes apart.

        Its first lines are :meth:`feed`'s: written out rather than called,
        since a call of feed() and close() costs ~0.9 % of a small call's
        instructions (measured)."""
        self.body_bytes += len(data)
        decoder = self._decoder
        if decoder is None:
            document = self._whole_document(data)
            if document is not None:
                return self._counted(document.items(data))
            decoder = self._decoder = self._new_decoder()
        items = decoder.feed(data)
        if not decoder.finished:  # a stop marker ended it: nothing after it counts
            items = items + decoder.close()
        return self._counted(items)

    def close(self) -> list[Any]:
        """The end of the body: the last items."""
        return self._counted(self.decoder.close())

    def _counted(self, items: list[Any]) -> list[Any]:
        """``items``, counted as yielded; an SSE stream's last event id and
        ``retry`` (what a resume needs) taken from its decoder."""
        self.items_yielded += len(items)
        sse = self._sse
        if sse is not None:
            self.last_event_id = sse.last_event_id
            self.retry_ms = sse.retry
        return items

    def _whole_document(self, body: bytes) -> JsonDocument | None:
        """The :class:`JsonDocument` that makes the items of ``body``, a
        whole json-framed body, with no decoder (the usual answer of a JSON
        tool); None when a decoder must do it: another framing or mode, a
        forced ``stream_format`` (its mismatch check lives in a decoder), or
        a body past ``max_item_bytes`` (the decoder words that error)."""
        t = self.template
        if self.framing != "json" or self._mode != "items" or t.stream_format != "auto" or (
            len(body) > self.max_item_bytes
        ):
            return None
        return json_document(self.charset, self.max_item_bytes, t.on_malformed, t.select)

    def _new_decoder(self) -> Decoder:
        t = self.template
        self._sse = None
        if self._mode == "raw":
            return BytesDecoder(sys.maxsize)
        events = self._mode == "events"
        types = t.sse_event_types
        make = cached_decoder_factory(
            self.framing,
            t.chunk_size,
            self.charset,
            self.max_item_bytes,
            t.on_malformed,
            None if events else t.select,
            t.stop_marker,
            tuple(types) if isinstance(types, list) else types,
            events,
        )
        decoder = make(self.last_event_id)
        if isinstance(decoder, SseDecoder):
            self._sse = decoder
        # A forced stream_format that decodes nothing is an error, never a
        # silent empty result (ARCHITECTURE section 3).
        return guard_forced_framing(
            decoder, stream_format=t.stream_format, content_type=self.content_type, max_item_bytes=self.max_item_bytes
        )

    # -- reconnecting --------------------------------------------------------------

    def _sse_expected(self) -> bool:
        return self.template.stream_format == "sse" or self.framing == "sse"

    def may_reconnect(self, *, mid_stream: bool) -> bool:
        """Whether another attempt is allowed at all (policy, attempts, safety)."""
        policy = self.template.reconnect
        if policy is None or self.attempts >= policy.max_attempts:
            return False
        if self.framing == "sse" or (not mid_stream and self.template.stream_format == "sse"):
            # Resume is safe only if the server can skip what we have seen.
            return self.items_yielded == 0 or bool(self.last_event_id)
        return self.method in ("GET", "HEAD") and self.items_yielded == 0

    def reconnect_delay(self, error: BaseException, *, mid_stream: bool) -> float | None:
        """Seconds to wait before the next attempt after ``error``, or None to
        give up. Counts the attempt when it returns a delay."""
        policy = self.template.reconnect
        if policy is None:
            return None
        retry_after = None
        if isinstance(error, HttpStatusError):
            if error.status not in RETRYABLE_STATUS:
                return None  # a 4xx (or other status) is never retried
            retry_after = error.retry_after
        elif not isinstance(error, StreamInterruptedError):
            return None
        if not self._sse_expected() and self.method not in ("GET", "HEAD"):
            return None
        if not self.may_reconnect(mid_stream=mid_stream):
            return None
        if retry_after is not None:
            if retry_after * 1000 > policy.max_delay_ms:
                return None  # the server asks for a longer pause than we may wait
            delay = retry_after
        else:
            delay = backoff_seconds(policy, self.attempts, self.retry_ms)
        self.attempts += 1
        return delay
