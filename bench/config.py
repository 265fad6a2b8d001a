"""The full benchmark's configuration: sizes, rounds and which columns run (full, short, tiny).

``--quick`` has its own, ``headline.HeadlineConfig``."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN_SCRIPT = HERE / "run.py"
SERVER_SCRIPT = HERE / "loopback_server.py"
DEFAULT_JSON = HERE / "results.json"
MiB = 1 << 20
MB = 1_000_000


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAVE_UTCP_HTTP = _importable("utcp_http")

# utcp-http calls logging.basicConfig(INFO) on import and logs per call; its
# log lines are not what we measure.
logging.getLogger("utcp_http").setLevel(logging.WARNING)
logging.getLogger("utcp").setLevel(logging.WARNING)


@dataclass
class Config:
    """Sizes are chosen so that each measured run lasts ~0.1-0.7 s on a 2-core box;
    ``stream_repeat`` paired samples per round for the streaming cases (many
    short samples resist a noisy machine better than a few long ones)."""

    mode: str = "full"
    rounds: int = 5
    stream_repeat: int = 3
    bytes_size: int = 192 * MiB
    ndjson_lines: int = 100_000
    sse_events: int = 50_000
    seq_calls: int = 300
    concurrent_calls: int = 200
    ttfi_calls: int = 10
    pause_ms: int = 50
    big_size: int = 32 * MiB
    utcp_http_big_timeout_s: float = 30.0
    rss_size: int = 256 * MiB
    rss_sleep_s: float = 0.0002
    rss_chunk_size: int = 4096
    decoder_mb: int = 32
    cases: tuple[str, ...] = ()
    with_utcp_http: bool = HAVE_UTCP_HTTP
    with_rss: bool = True
    with_decoders: bool = True

    @classmethod
    def full(cls) -> Config:
        return cls()

    @classmethod
    def short(cls) -> Config:
        """Every case, 2 rounds, smaller sizes (``--short``)."""
        return cls(
            mode="short",
            rounds=2,
            stream_repeat=2,
            bytes_size=96 * MiB,
            ndjson_lines=50_000,
            sse_events=25_000,
            ttfi_calls=5,
            utcp_http_big_timeout_s=10.0,
            rss_size=64 * MiB,
            decoder_mb=8,
        )

    @classmethod
    def tiny(cls) -> Config:
        """For the smoke test: every case, seconds in all."""
        return cls(
            mode="tiny",
            rounds=1,
            stream_repeat=1,
            bytes_size=256 * 1024,
            ndjson_lines=2_000,
            sse_events=1_000,
            seq_calls=10,
            concurrent_calls=10,
            ttfi_calls=2,
            pause_ms=5,
            big_size=256 * 1024,
            utcp_http_big_timeout_s=5.0,
            rss_size=1 * MiB,
            rss_sleep_s=0.0,
            decoder_mb=1,
            with_decoders=False,
        )
