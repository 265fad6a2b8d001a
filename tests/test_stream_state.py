"""StreamState: every decision of a streaming call from values alone (no
server, no aiohttp), the way h11 tests its connection: response headers in,
framing and items out; a failure in, the reconnect decision and delay out."""

from __future__ import annotations

from typing import Any

import pytest

from utcp_http_stream.errors import (
    HttpStatusError,
    StreamDecodeError,
    StreamInterruptedError,
    StreamTimeoutError,
    TemplateError,
    TlsError,
)
from utcp_http_stream.stream_state import NO_BODY_STATUS, StreamState
from utcp_http_stream.template import ReconnectPolicy, StreamableHttpCallTemplate

URL = "http://127.0.0.1:9/stream"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"


def state(method: str = "GET", *, max_item_bytes: int = 1 << 20, **fields: Any) -> StreamState:
    template = StreamableHttpCallTemplate(name="t", url=URL, http_method=method, **fields)
    return StreamState(template, method, max_item_bytes=max_item_bytes)


def policy(max_attempts: int = 3, initial_delay_ms: int = 100, max_delay_ms: int = 1000) -> ReconnectPolicy:
    return ReconnectPolicy(max_attempts=max_attempts, initial_delay_ms=initial_delay_ms, max_delay_ms=max_delay_ms)


def cut(items: int = 0) -> StreamInterruptedError:
    return StreamInterruptedError("cut", items)


def status(code: int, retry_after: float | None = None) -> HttpStatusError:
    error = HttpStatusError(code, "Reason", URL)
    error.retry_after = retry_after
    return error


# -- framing from the response headers -------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "framing", "charset"),
    [
        (SSE, "sse", None),
        ("application/x-ndjson; charset=utf-8", "ndjson", "utf-8"),
        ("application/json", "json", None),
        ("application/problem+json", "json", None),
        ("application/json-seq", "json_seq", None),
        ("text/plain; charset=ISO-8859-1", "text", "iso-8859-1"),
        ("image/png", "bytes", None),
        (None, "bytes", None),
    ],
)
def test_auto_framing_follows_the_content_type(content_type, framing, charset):
    s = state()
    s.on_response(200, content_type, lambda: URL)
    assert (s.status, s.content_type, s.framing, s.charset) == (200, content_type, framing, charset)


def test_a_forced_stream_format_wins_over_the_content_type():
    s = state(stream_format="ndjson")
    s.on_response(200, "text/plain; charset=latin-1", lambda: URL)
    assert s.framing == "ndjson" and s.charset == "latin-1"


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
def test_select_on_a_text_or_bytes_response_is_a_template_error(content_type):
    s = state(select="/a")
    with pytest.raises(TemplateError) as info:
        s.on_response(200, content_type, lambda: URL)
    message = str(info.value)
    assert "select '/a'" in message and URL in message and "stream_format" in message
    assert (content_type or "unlabelled") in message


@pytest.mark.parametrize("content_type", [SSE, NDJSON, "application/json", "application/json-seq"])
def test_select_applies_to_every_json_framing(content_type):
    s = state(select="/a")
    s.on_response(200, content_type, lambda: URL)  # no error


def test_events_mode_needs_an_sse_response():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    with pytest.raises(TemplateError, match="needs an SSE response"):
        s.start("events")
    sse = state()
    sse.on_response(200, SSE, lambda: URL)
    sse.start("events")
    [event] = sse.feed(b"event: tick\ndata: 1\n\n")
    assert (event.event, event.data) == ("tick", "1")


# -- has_body ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "code", "has_body"),
    [("GET", 200, True), ("POST", 201, True), ("HEAD", 200, False), ("GET", 204, False), ("GET", 304, False),
     ("POST", 204, False)],
)
def test_has_body_for_head_204_and_304(method, code, has_body):
    s = state(method)
    s.on_response(code, NDJSON, lambda: URL)
    assert s.has_body is has_body
    assert NO_BODY_STATUS == {204, 304}


# -- decoding and counting ----------------------------------------------------------


def test_items_are_counted_across_feeds_and_close():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    assert s.feed(b'{"a": 1}\n{"a"') == [{"a": 1}]
    assert s.feed(b": 2}\n3") == [{"a": 2}]
    assert not s.finished
    assert s.close() == [3]
    assert s.items_yielded == 3


def test_feed_last_gives_what_feed_then_close_give():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    assert s.feed(b'{"a": 1}\n{"a"') == [{"a": 1}]
    assert s.feed_last(b": 2}\n3") == [{"a": 2}, 3]
    assert s.items_yielded == 3 and s.body_bytes == 19
    whole = state()
    whole.on_response(200, "application/json", lambda: URL)
    assert whole.feed_last(b'{"answer": 42}') == [{"answer": 42}]


def _fed_whole(s: StreamState, body: bytes) -> tuple[str, Any]:
    try:
        return "items", repr(s.feed_last(body))
    except StreamDecodeError as exc:
        return "error", (exc.position, str(exc))


@pytest.mark.parametrize("body", [b'{"a": [1, 2]}', b"", b"{oops", b"[" * 10 + b"]" * 10, b"x" * 40])
@pytest.mark.parametrize("fields", [{}, {"select": "/a/1"}, {"on_malformed": "skip"}, {"on_malformed": "raw"}])
def test_a_whole_json_body_gives_what_a_decoder_gives(body, fields):
    """feed_last() of a whole body parses it with no decoder (the usual JSON
    tool answer): the items, the count and any error are a decoder's."""
    whole = state(max_item_bytes=32, **fields)
    whole.on_response(200, "application/json; charset=utf-8", lambda: URL)
    pieces = state(max_item_bytes=32, **fields)
    pieces.on_response(200, "application/json; charset=utf-8", lambda: URL)

    def fed_then_closed() -> tuple[str, Any]:
        try:
            return "items", repr(pieces.feed(body[:3]) + pieces.feed(body[3:]) + pieces.close())
        except StreamDecodeError as exc:
            return "error", (exc.position, str(exc))

    assert _fed_whole(whole, body) == fed_then_closed()
    assert (whole.items_yielded, whole.body_bytes) == (pieces.items_yielded, pieces.body_bytes)


def test_a_forced_json_format_still_checks_the_content_type():
    """A forced stream_format keeps its mismatch check on a whole body too."""
    s = state(stream_format="json", on_malformed="skip")
    s.on_response(200, NDJSON, lambda: URL)
    with pytest.raises(StreamDecodeError, match="names the ndjson framing"):
        s.feed_last(b'{"a": 1}\n{"a": 2}\n')


def test_feed_last_stops_at_a_stop_marker_in_the_last_piece():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    assert s.feed_last(b'1\n[DONE]\n{"not": "valid') == [1]
    assert s.finished and s.items_yielded == 1


def test_feed_last_raises_a_bad_end_at_once():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    with pytest.raises(StreamDecodeError, match="line 2"):
        s.feed_last(b'{"a": 1}\n{"a": ')


def test_select_picks_from_each_item():
    s = state(select="/a")
    s.on_response(200, NDJSON, lambda: URL)
    assert s.feed(b'{"a": 1}\n{"a": [2]}\n') == [1, [2]]


def test_raw_mode_passes_bytes_through_whatever_the_framing():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    s.start("raw")
    assert s.feed(b"data: 1\n") == [b"data: 1\n"]


def test_a_new_response_gets_a_fresh_decoder():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    assert s.feed(b'{"partial": ') == []
    s.on_response(200, NDJSON, lambda: URL)  # a reconnection: the partial item before the cut is dropped
    assert s.feed(b'{"whole": 1}\n') == [{"whole": 1}]


def test_max_item_bytes_is_the_one_given():
    s = state(max_item_bytes=8)
    s.on_response(200, NDJSON, lambda: URL)
    with pytest.raises(StreamDecodeError):
        s.feed(b'{"long": "0123456789"}\n')


# -- resume headers ----------------------------------------------------------------


def test_no_resume_header_before_an_id():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    assert s.resume_headers() == {}
    s.feed(b"data: 1\n\n")
    assert s.resume_headers() == {}


def test_last_event_id_follows_the_sse_ids():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"id: 7\ndata: 1\n\n")
    assert s.resume_headers() == {"Last-Event-ID": "7"}
    s.feed(b"id: 8\ndata: 2\n\nid: 9\n")  # an id without a dispatched event does not count yet
    assert s.resume_headers() == {"Last-Event-ID": "8"}


def test_a_forced_sse_framing_still_follows_the_ids():
    # The server labels its event stream text/plain: stream_format "sse" forces
    # the framing (the decoder sits behind the forced-framing check) and the
    # ids still reach the resume header.
    s = state(stream_format="sse")
    s.on_response(200, "text/plain", lambda: URL)
    s.feed(b"id: 7\ndata: 1\n\nretry: 900\n\n")
    assert s.resume_headers() == {"Last-Event-ID": "7"} and s.retry_ms == 900


def test_an_empty_id_resets_the_resume_header():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"id: 7\ndata: 1\n\nid\ndata: 2\n\n")
    assert s.last_event_id == "" and s.resume_headers() == {}


def test_the_id_survives_a_reconnection_and_seeds_the_new_decoder():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"id: 7\ndata: 1\n\n")
    s.on_response(200, SSE, lambda: URL)
    s.start("events")
    [event] = s.feed(b"data: 2\n\n")
    assert event.id == "7" and s.resume_headers() == {"Last-Event-ID": "7"}


def test_server_retry_is_remembered():
    s = state()
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"retry: 1500\n\n")
    assert s.retry_ms == 1500


# -- the reconnect decision ----------------------------------------------------------


def test_no_policy_never_reconnects():
    s = state()
    s.on_response(200, NDJSON, lambda: URL)
    assert not s.may_reconnect(mid_stream=False)
    assert s.reconnect_delay(cut(), mid_stream=False) is None
    assert s.reconnect_delay(status(503), mid_stream=False) is None
    assert s.attempts == 0


def test_attempts_are_counted_and_exhausted():
    s = state(reconnect=policy(max_attempts=2))
    s.on_response(200, NDJSON, lambda: URL)
    assert s.reconnect_delay(cut(), mid_stream=False) is not None
    assert s.attempts == 1
    assert s.reconnect_delay(status(503), mid_stream=False) is not None
    assert s.attempts == 2
    assert not s.may_reconnect(mid_stream=False)
    assert s.reconnect_delay(cut(), mid_stream=False) is None
    assert s.attempts == 2  # a refusal is not an attempt


def test_a_refused_reconnect_does_not_count_an_attempt():
    s = state("POST", reconnect=policy())
    s.on_response(200, NDJSON, lambda: URL)
    assert s.reconnect_delay(cut(), mid_stream=False) is None
    assert s.reconnect_delay(status(404), mid_stream=False) is None
    assert s.attempts == 0


def test_get_reconnects_before_any_item_but_never_after():
    s = state(reconnect=policy())
    s.on_response(200, NDJSON, lambda: URL)
    assert s.reconnect_delay(cut(), mid_stream=False) is not None
    s.feed(b"1\n")
    assert not s.may_reconnect(mid_stream=True)
    assert s.reconnect_delay(cut(1), mid_stream=True) is None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_non_idempotent_method_never_reconnects_without_sse(method):
    s = state(method, reconnect=policy())
    s.on_response(200, NDJSON, lambda: URL)
    assert not s.may_reconnect(mid_stream=False)
    assert s.reconnect_delay(cut(), mid_stream=False) is None
    assert s.reconnect_delay(status(503), mid_stream=False) is None


def test_head_reconnects_like_get():
    s = state("HEAD", reconnect=policy())
    s.on_response(200, NDJSON, lambda: URL)
    assert s.reconnect_delay(status(502), mid_stream=False) is not None


def test_sse_with_an_id_resumes_mid_stream():
    s = state(reconnect=policy())
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"id: 1\ndata: a\n\n")
    assert s.may_reconnect(mid_stream=True)
    assert s.reconnect_delay(cut(1), mid_stream=True) is not None
    assert s.resume_headers() == {"Last-Event-ID": "1"}


def test_sse_without_an_id_does_not_resume_after_items():
    s = state(reconnect=policy())
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"data: a\n\n")
    assert not s.may_reconnect(mid_stream=True)
    assert s.reconnect_delay(cut(1), mid_stream=True) is None


def test_sse_without_an_id_reconnects_before_any_item():
    s = state(reconnect=policy())
    s.on_response(200, SSE, lambda: URL)
    s.feed(b": a comment\n")
    assert s.reconnect_delay(cut(), mid_stream=True) is not None


def test_sse_over_post_resumes_with_an_id():
    s = state("POST", reconnect=policy())
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"id: 5\ndata: a\n\n")
    assert s.reconnect_delay(cut(1), mid_stream=True) is not None


def test_a_forced_sse_post_may_retry_a_503_before_any_response():
    # Before the first response the framing is unknown; stream_format=sse says
    # the server can skip what we have seen, so the opening may be retried.
    s = state("POST", reconnect=policy(), stream_format="sse")
    assert s.reconnect_delay(status(503), mid_stream=False) is not None
    auto = state("POST", reconnect=policy())
    assert auto.reconnect_delay(status(503), mid_stream=False) is None


@pytest.mark.parametrize("code", [429, 502, 503, 504])
def test_retryable_statuses_are_retried(code):
    s = state(reconnect=policy())
    assert s.reconnect_delay(status(code), mid_stream=False) is not None
    assert s.attempts == 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410, 422, 500, 501])
def test_other_statuses_are_never_retried(code):
    s = state(reconnect=policy())
    assert s.reconnect_delay(status(code), mid_stream=False) is None
    assert s.attempts == 0


@pytest.mark.parametrize(
    "error",
    [
        StreamTimeoutError("idle", "idle"),
        StreamDecodeError("bad"),
        TemplateError("bad"),
        TlsError("untrusted"),
        ConnectionResetError("a foreign error never reaches the state untranslated"),
    ],
)
def test_only_interruptions_and_statuses_are_retried(error):
    s = state(reconnect=policy())
    s.on_response(200, NDJSON, lambda: URL)
    assert s.reconnect_delay(error, mid_stream=False) is None


# -- the delay -------------------------------------------------------------------------


def test_backoff_doubles_within_jitter():
    s = state(reconnect=policy(max_attempts=5, initial_delay_ms=100, max_delay_ms=250))
    s.on_response(200, NDJSON, lambda: URL)
    for ceiling in (0.1, 0.2, 0.25, 0.25):
        delay = s.reconnect_delay(cut(), mid_stream=False)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_the_delay():
    s = state(reconnect=policy(max_delay_ms=5000))
    assert s.reconnect_delay(status(503, retry_after=2.0), mid_stream=False) == 2.0
    assert s.reconnect_delay(status(429, retry_after=0.0), mid_stream=False) == 0.0
    assert s.attempts == 2


def test_retry_after_longer_than_max_delay_gives_up():
    s = state(reconnect=policy(max_delay_ms=1000))
    assert s.reconnect_delay(status(503, retry_after=1.5), mid_stream=False) is None
    assert s.attempts == 0
    assert s.reconnect_delay(status(503, retry_after=1.0), mid_stream=False) == 1.0


def test_server_retry_field_is_honoured_and_capped():
    s = state(reconnect=policy(max_attempts=5, initial_delay_ms=100, max_delay_ms=1000))
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"retry: 300\nid: 1\ndata: a\n\n")
    assert s.reconnect_delay(cut(1), mid_stream=True) == 0.3
    assert s.reconnect_delay(status(503), mid_stream=True) == 0.3  # a status without Retry-After too
    s.feed(b"retry: 60000\n\n")
    assert s.reconnect_delay(cut(1), mid_stream=True) == 1.0


def test_retry_after_wins_over_the_sse_retry_field():
    s = state(reconnect=policy(max_delay_ms=5000))
    s.on_response(200, SSE, lambda: URL)
    s.feed(b"retry: 300\n\n")
    assert s.reconnect_delay(status(503, retry_after=2.0), mid_stream=False) == 2.0
