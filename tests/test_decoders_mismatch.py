"""A forced framing that decodes nothing: the sans-I/O decision and the wrapper."""

from __future__ import annotations

import pytest

from utcp_http_stream.decoders import build_decoder
from utcp_http_stream.decoders.mismatch import ForcedFramingCheck, GuardedDecoder, guard_forced_framing
from utcp_http_stream.errors import StreamDecodeError

NDJSON_BODY = b'{"step": 1}\n{"step": 2}\n'
SSE_BODY = b'id: 7\ndata: {"a": 1}\n\n'


def guarded(framing: str, content_type: str | None, *, limit: int = 1 << 20, **options):
    return guard_forced_framing(
        build_decoder(framing, max_item_bytes=limit, **options),
        stream_format=framing,
        content_type=content_type,
        max_item_bytes=limit,
    )


@pytest.mark.parametrize(
    ("stream_format", "content_type"),
    [
        ("auto", "application/x-ndjson"),  # auto follows the Content-Type
        ("sse", None),  # nothing named: forcing is the point
        ("sse", "text/event-stream; charset=utf-8"),  # the same framing
        ("ndjson", "application/jsonl"),
    ],
)
def test_nothing_to_check_leaves_the_decoder_unwrapped(stream_format, content_type):
    decoder = build_decoder("sse")
    assert not ForcedFramingCheck(stream_format, content_type, 100).active
    unchanged = guard_forced_framing(decoder, stream_format=stream_format, content_type=content_type, max_item_bytes=9)
    assert unchanged is decoder


def test_sse_forced_on_an_ndjson_body_raises_at_the_end_naming_both():
    decoder = guarded("sse", "application/x-ndjson")
    assert isinstance(decoder, GuardedDecoder)
    assert decoder.feed(NDJSON_BODY) == []
    with pytest.raises(StreamDecodeError) as caught:
        decoder.close()
    message = str(caught.value)
    assert "stream_format 'sse' decoded nothing in the whole 24-byte body" in message
    assert "Content-Type application/x-ndjson names the ndjson framing" in message
    assert "set stream_format to 'ndjson' (or 'auto')" in message
    assert caught.value.position == "byte 24"


def test_after_max_item_bytes_of_nothing_it_raises_mid_stream():
    decoder = guarded("sse", "application/x-ndjson", limit=40)
    assert decoder.feed(NDJSON_BODY) == []
    with pytest.raises(StreamDecodeError, match="decoded nothing in the first 48 bytes"):
        decoder.feed(NDJSON_BODY)


def test_a_decode_error_before_any_item_becomes_the_mismatch_error():
    decoder = guarded("ndjson", "text/event-stream")
    with pytest.raises(StreamDecodeError) as caught:
        decoder.feed(SSE_BODY)
    message = str(caught.value)
    assert "stream_format 'ndjson' decoded nothing" in message and "names the sse framing" in message
    assert "(the ndjson decoder reported: " in message
    assert isinstance(caught.value.__cause__, StreamDecodeError)


def test_skipped_malformed_lines_count_as_nothing():
    decoder = guarded("ndjson", "text/event-stream", on_malformed="skip")
    assert decoder.feed(SSE_BODY) == []
    with pytest.raises(StreamDecodeError, match="names the sse framing"):
        decoder.close()


def test_once_something_decoded_the_check_is_done():
    decoder = guarded("ndjson", "text/plain")  # a server that mislabels NDJSON as text
    assert decoder.feed(NDJSON_BODY) == [{"step": 1}, {"step": 2}]
    assert decoder.feed(b"not json\n" * 0) == []
    assert decoder.close() == []
    assert decoder.items == 2


def test_items_dropped_by_select_still_count_as_decoded():
    decoder = guarded("ndjson", "text/plain", select="/missing")
    assert decoder.feed(NDJSON_BODY) == []
    assert decoder.close() == [] and decoder.skipped == 2


def test_an_empty_body_or_a_stop_marker_alone_is_not_a_mismatch():
    assert guarded("sse", "application/json").close() == []
    decoder = guarded("sse", "text/plain")
    assert decoder.feed(b"data: [DONE]\n\n") == []
    assert decoder.finished
    assert decoder.close() == []


def test_the_inner_decoders_state_shows_through():
    decoder = guarded("sse", "application/octet-stream")
    assert decoder.feed(SSE_BODY) == [{"a": 1}]
    assert decoder.last_event_id == "7" and decoder.retry is None
    assert (decoder.items, decoder.skipped, decoder.finished) == (1, 0, False)


def test_json_forced_on_ndjson_names_both():
    decoder = guarded("json", "application/x-ndjson")
    assert decoder.feed(NDJSON_BODY) == []
    with pytest.raises(StreamDecodeError, match=r"'json' decoded nothing in the whole 24-byte body.*ndjson framing"):
        decoder.close()
