"""What the demo tools stream: deterministic, so a run can be checked.

Nothing here does I/O or sleeps; the handlers in :mod:`.app` pace it out.
The same inputs always give the same tokens, progress records, log lines and
download bytes, which is what lets the CLI (and the tests) verify a download
against a published sha256.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DOWNLOAD_NAME",
    "DOWNLOAD_SIZE",
    "Payload",
    "chat_chunks",
    "job_records",
    "log_lines",
    "payload",
    "reply_tokens",
]

#: The demo download: big enough that a progress bar has something to show.
DOWNLOAD_NAME = "demo.bin"
DOWNLOAD_SIZE = 8 * 1024 * 1024

_SEED = b"utcp-http-stream demo payload v1"
_TOKEN = re.compile(r"\s*\S+")

_REPLY = (
    "Streaming means you read each token the moment the model produces it, instead of waiting for the "
    "whole answer. This reply arrives as server-sent events: every event carries one delta, the "
    "plugin's select pointer picks /choices/0/delta/content out of it, and the stream ends cleanly "
    "at the [DONE] marker."
)

_JOB_PHASES = ("resolving inputs", "fetching records", "transforming", "building index", "writing output")

_LOG_EVENTS = (
    ("INFO", "listening on :8080"),
    ("INFO", "GET /health 200 0.4ms"),
    ("DEBUG", "cache warm: 1204 keys"),
    ("INFO", "POST /v1/orders 201 12.8ms"),
    ("WARN", "slow query: orders_by_customer took 412ms"),
    ("INFO", "GET /v1/orders/8812 200 3.1ms"),
    ("ERROR", "upstream payments timed out after 5000ms; retrying"),
    ("INFO", "upstream payments recovered"),
)


@dataclass(frozen=True, slots=True)
class Payload:
    """The download's bytes and the digest a client should find."""

    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


@functools.lru_cache(maxsize=4)
def payload(size: int = DOWNLOAD_SIZE) -> Payload:
    """``size`` pseudo-random bytes (SHAKE-256 of a fixed seed), computed once."""
    data = hashlib.shake_256(_SEED).digest(size)
    return Payload(data, hashlib.sha256(data).hexdigest())


def reply_tokens(prompt: str, max_tokens: int | None = None) -> tuple[list[str], str]:
    """The demo model's reply, split like a tokenizer would (leading spaces
    kept), and its finish reason: ``"stop"`` or ``"length"``."""
    prompt = " ".join(prompt.split())
    opening = f'You asked: "{prompt}". ' if prompt else ""
    tokens = _TOKEN.findall(opening + _REPLY)
    if max_tokens is not None and max_tokens < len(tokens):
        return tokens[: max(max_tokens, 0)], "length"
    return tokens, "stop"


def chat_chunks(tokens: list[str], finish_reason: str, completion_id: str) -> Iterator[dict]:
    """OpenAI-style ``chat.completion.chunk`` objects: a role delta, one content
    delta per token, then an empty delta carrying the finish reason."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "demo-1",
    }
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    for token in tokens:
        yield {**base, "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}


def job_records(job_id: str, steps: int) -> Iterator[dict]:
    """Progress records of a long-running job: step, total, percent, message;
    the last one has ``"done": true``."""
    for step in range(1, steps + 1):
        phase = _JOB_PHASES[min((step - 1) * len(_JOB_PHASES) // steps, len(_JOB_PHASES) - 1)]
        yield {
            "job": job_id,
            "step": step,
            "total": steps,
            "percent": round(100 * step / steps, 1),
            "message": phase if step < steps else "done",
            "done": step == steps,
        }


def log_lines(service: str, count: int) -> Iterator[str]:
    """``count`` log lines of ``service``, with deterministic timestamps."""
    for index in range(count):
        level, message = _LOG_EVENTS[index % len(_LOG_EVENTS)]
        millis = 250 * index
        stamp = f"2025-06-01T12:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}Z"
        yield f"{stamp} {level:<5} {service}: {message}"
