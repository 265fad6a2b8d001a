"""Decode throughput of the sans-I/O decoders, and the quadratic-buffer guard.

Measures MB/s for each framing on a realistic body (NDJSON lines of ~100-200
bytes, SSE events shaped like OpenAI chat deltas, text lines, one large JSON
document, opaque bytes) split into 1 KiB and 64 KiB chunks, as a socket would
deliver it. The chunks are cut before timing; each number is the best of 3.

The second table feeds one 4 MiB line (ndjson, json_seq, text, sse) in 64-byte pieces and
in one piece: the buffers promise O(n) work whatever the chunking, so the ratio
must stay small (target: within 3x). A quadratic buffer would show ~1000x. Part
of the ratio is the fixed cost of 65536 ``feed()`` calls (about 0.3 us each),
which weighs most where the one-piece decode is cheapest (text); the "x2 size"
column isolates growth: feeding a line twice as long in the same pieces must
take about twice as long (linear), where a quadratic buffer takes four times.
The exit status is non-zero when that growth exceeds 3.

    python bench/decoders.py            # 64 MiB bodies
    python bench/decoders.py --quick    # 8 MiB bodies
    python bench/decoders.py --backend json   # stdlib JSON instead of orjson
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from utcp_http_stream.decoders import build_decoder, jsonlib

MIB = 1024 * 1024
CHUNK_SIZES = (1024, 64 * 1024)
LONG_LINE_BYTES = 4 * MIB
PIECE = 64
RATIO_TARGET = 3.0
GROWTH_LIMIT = 3.0


# -- realistic bodies -------------------------------------------------------------


def _repeat_to(unit: bytes, size: int) -> bytes:
    return unit * max(1, size // len(unit))


def ndjson_body(size: int) -> bytes:
    words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dög", "."]
    lines = []
    for i, word in enumerate(words * 10):
        line = {
            "model": "llama3.1:8b",
            "created_at": f"2024-07-01T12:00:{i % 60:02d}.{i * 7919 % 1000000:06d}Z",
            "response": word,
            "done": False,
        }
        if i % 10 == 9:
            line["context"] = [i, i + 1, i + 2]
        lines.append(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    return _repeat_to(b"".join(lines), size)


def json_seq_body(size: int) -> bytes:
    """The ndjson records as RFC 7464 records (RS before each line)."""
    return b"".join(b"\x1e" + line + b"\n" for line in ndjson_body(size).splitlines())


def sse_body(size: int) -> bytes:
    events = []
    for i, word in enumerate(["Hello", ",", " world", "!", " How", " can", " I", " help", " you", " today?"]):
        chunk = {
            "id": "chatcmpl-9abcdefghijklmnop",
            "object": "chat.completion.chunk",
            "created": 1720000000 + i,
            "model": "gpt-4o-2024-05-13",
            "choices": [{"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}],
        }
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    return _repeat_to(b"".join(events), size)


def text_body(size: int) -> bytes:
    line = "2024-07-01 12:00:00,123 INFO  worker-3  request handled in 12 ms (naïve café) status=200\n"
    return _repeat_to(line.encode(), size)


def json_body(size: int) -> bytes:
    record = {"id": 12345, "name": "widget", "tags": ["a", "b", "c"], "price": 19.99, "active": True}
    unit = json.dumps(record).encode()
    count = max(1, size // (len(unit) + 2))
    return b"[" + b", ".join([unit] * count) + b"]"


def bytes_body(size: int) -> bytes:
    return _repeat_to(bytes(range(256)), size)


BODIES: dict[str, Callable[[int], bytes]] = {
    "bytes": bytes_body,
    "text": text_body,
    "ndjson": ndjson_body,
    "json_seq": json_seq_body,
    "sse": sse_body,
    "json": json_body,
}


# -- measuring -----------------------------------------------------------------------


def _chunks(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _decode(framing: str, chunks: list[bytes], **options: Any) -> int:
    decoder = build_decoder(framing, **options)
    count = 0
    for chunk in chunks:
        count += len(decoder.feed(chunk))
    return count + len(decoder.close())


def _best_of(repeat: int, function: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def throughput(size_mb: int, repeat: int = 3) -> list[dict[str, Any]]:
    rows = []
    for framing, make in BODIES.items():
        body = make(size_mb * MIB)
        # The json framing holds the whole document: let it.
        options = {"max_item_bytes": len(body) + 1} if framing == "json" else {"stop_marker": None}
        for chunk_size in CHUNK_SIZES:
            decode = partial(_decode, framing, _chunks(body, chunk_size), **options)
            items = decode()
            seconds = _best_of(repeat, decode)
            rows.append(
                {
                    "framing": framing,
                    "chunk": chunk_size,
                    "mb": len(body) / MIB,
                    "items": items,
                    "seconds": seconds,
                    "mb_per_s": len(body) / MIB / seconds,
                }
            )
    return rows


def _long_line(framing: str, size: int) -> bytes:
    payload = b"x" * size
    if framing == "ndjson":
        return b'"' + payload + b'"\n'
    if framing == "json_seq":
        return b'\x1e"' + payload + b'"\n'
    if framing == "sse":
        return b"data: " + payload + b"\n\n"
    return payload + b"\n"


def long_lines(repeat: int = 3) -> list[dict[str, Any]]:
    rows = []
    for framing in ("ndjson", "json_seq", "text", "sse"):
        body = _long_line(framing, LONG_LINE_BYTES)
        half = _long_line(framing, LONG_LINE_BYTES // 2)
        pieces = _chunks(body, PIECE)
        decode = partial(_decode, framing, max_item_bytes=len(body))
        assert decode(pieces) == 1 == decode([body])
        whole = _best_of(repeat, partial(decode, [body]))
        split = _best_of(repeat, partial(decode, pieces))
        split_half = _best_of(repeat, partial(decode, _chunks(half, PIECE)))
        rows.append(
            {
                "framing": framing,
                "pieces": len(pieces),
                "whole_s": whole,
                "split_s": split,
                "ratio": split / whole,
                "per_piece_us": (split - whole) / len(pieces) * 1e6,
                "growth": split / split_half,
                "within_target": split / whole <= RATIO_TARGET,
                "linear": split / split_half <= GROWTH_LIMIT,
            }
        )
    return rows


def run(size_mb: int = 64, quick: bool = False) -> dict[str, Any]:
    """Run both benchmarks; ``quick`` uses 8 MiB bodies. Returns the rows."""
    if quick:
        size_mb = 8
    return {
        "size_mb": size_mb,
        "json_backend": jsonlib.backend(),
        "throughput": throughput(size_mb),
        "long_line": long_lines(),
    }


def print_report(result: dict[str, Any]) -> None:
    size, backend = result["size_mb"], result["json_backend"]
    print(f"decode throughput, {size} MiB bodies, JSON backend {backend}, best of 3")
    print(f"{'framing':<8} {'chunk':>7} {'items':>10} {'seconds':>9} {'MB/s':>9}")
    for row in result["throughput"]:
        chunk = f"{row['chunk'] // 1024} KiB"
        seconds, rate = row["seconds"], row["mb_per_s"]
        print(f"{row['framing']:<8} {chunk:>7} {row['items']:>10} {seconds:>9.3f} {rate:>9.1f}")
    print()
    line_mb = LONG_LINE_BYTES // MIB
    print(f"one {line_mb} MiB line: {PIECE}-byte pieces vs one piece (target: within {RATIO_TARGET:g}x)")
    header = ("framing", "pieces", "whole s", "split s", "ratio", "us/piece", "x2 size")
    print("{:<8} {:>7} {:>9} {:>9} {:>7} {:>9} {:>8}".format(*header))
    for row in result["long_line"]:
        verdict = "linear" if row["linear"] else "SUPERLINEAR"
        if not row["within_target"]:
            verdict += " (ratio over target)"
        print(
            f"{row['framing']:<8} {row['pieces']:>7} {row['whole_s']:>9.4f} {row['split_s']:>9.4f} "
            f"{row['ratio']:>6.1f}x {row['per_piece_us']:>9.2f} {row['growth']:>7.2f}x  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 MiB bodies instead of 64 MiB")
    parser.add_argument("--size-mb", type=int, default=64, help="body size in MiB (default 64)")
    parser.add_argument("--backend", choices=["orjson", "json"], default=None, help="JSON backend to use")
    args = parser.parse_args(argv)
    if args.backend:
        jsonlib.set_backend(args.backend)
    result = run(args.size_mb, quick=args.quick)
    print_report(result)
    return 0 if all(row["linear"] for row in result["long_line"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
