"""Client instructions per call, counted by valgrind: a figure that does not
move with the machine's load.

    python bench/instructions.py                 # seq and concurrent, plugin and raw aiohttp
    python bench/instructions.py --modes conc --calls 4000
    python bench/instructions.py --modes args    # sequential calls with arguments (path, query, header, JSON body)
    python bench/instructions.py --modes bytes   # 8 MiB in 4 KiB items: plugin, utcp-http, aiohttp floors

Wall-clock ratios on a shared 2-core machine move by 10 % and more between
runs of the same code (bench/README.md, "Why two measurements of the same
design disagree"). This counts the instructions the client process executes
(valgrind's cachegrind, no cache simulation), as h2load or a CPU simulator
would: two runs of the same code agree to within ~0.7 % (how many answers one
loop turn finds still varies), raw aiohttp's included. Each side runs twice in
a fresh process under valgrind, with ``--calls`` calls and with none (both
after the same 400-call warm-up), and the difference divided by ``--calls`` is
its cost per call: start-up and imports cancel out. Kernel work is not
counted: the socket system calls, the same on both sides, and one getpid()
per plugin call (``asyncio.get_running_loop()`` checks the process id with a
system call in CPython 3.11; ~0.4 us here). So the ratio is that of the
user-space work only, which is what the plugin adds; the collector's share
costs more time per instruction than the rest (bench/README.md).

The loopback server is ``bench/loopback_server.py`` in its own process (not
under valgrind). Needs ``valgrind`` on the PATH (``apt install valgrind``);
each side takes about 20-40 s.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
        del sys.path[0]
    if str(_HERE.parent) not in sys.path:
        sys.path.insert(0, str(_HERE.parent))

from bench.servers import ServerProcess  # noqa: E402

WARM_UP = 400
CONCURRENCY = 200
SIDES = ("plugin", "raw")
#: The bytes mode: ``raw-items`` is the leanest aiohttp loop yielding the same items
#: (``iter_any()``, the plugin's ``cut``, one async generator); ``raw`` reads the body with
#: no items at all (bench/README.md, "bytes_4k against aiohttp's own floor").
BYTES_SIDES = ("plugin", "utcp-http", "raw-items", "raw")
STREAM_BYTES = 8 << 20
CHUNK_SIZE = 4096
STREAM_WARM_UP = 2
STREAMS = 4


async def run_bytes_client(side: str, streams: int, base: str) -> None:
    """The measured process of the bytes mode: ``streams`` streams of
    ``STREAM_BYTES`` after the warm-up, each item counted."""
    import aiohttp

    from bench.targets import drain_protocol, raw_bytes_any, raw_bytes_items

    session = aiohttp.ClientSession()
    if side == "utcp-http":
        from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate
        from utcp_http.streamable_http_communication_protocol import StreamableHttpCommunicationProtocol
    else:
        from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol
        from utcp_http_stream.template import StreamableHttpCallTemplate
    protocol = StreamableHttpCommunicationProtocol()
    template = StreamableHttpCallTemplate(name="bench", url=base + "/bytes", chunk_size=CHUNK_SIZE)

    async def one() -> int:
        if side == "raw":
            return await raw_bytes_any(session, f"{base}/bytes?n={STREAM_BYTES}")
        if side == "raw-items":
            return await raw_bytes_items(session, f"{base}/bytes?n={STREAM_BYTES}", CHUNK_SIZE)
        return await drain_protocol(protocol, template, {"n": STREAM_BYTES}, measure_bytes=True)

    try:
        for _ in range(STREAM_WARM_UP + streams):
            if await one() != STREAM_BYTES:
                raise RuntimeError(f"{side}: short stream")
    finally:
        await protocol.close()
        await session.close()


async def run_client(mode: str, side: str, calls: int, base: str) -> None:
    """The measured process: ``calls`` small JSON calls after the warm-up."""
    import aiohttp

    from bench.targets import ARGS, raw_small, raw_small_args
    from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol
    from utcp_http_stream.template import StreamableHttpCallTemplate

    url = base + "/json"
    template = StreamableHttpCallTemplate(name="bench", url=url)
    if mode == "args":
        template = StreamableHttpCallTemplate(
            name="bench", url=base + "/items/{id}", http_method="POST", body_field="body", header_fields=["X-Trace"]
        )
    protocol = StreamableHttpCommunicationProtocol()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    def one() -> Any:
        if side == "plugin":
            return protocol.call_tool(None, "bench.small", ARGS if mode == "args" else {}, template)
        return raw_small_args(session, base) if mode == "args" else raw_small(session, url)

    async def run(n: int) -> None:
        if mode in ("seq", "args"):
            for _ in range(n):
                await one()
        else:
            for _ in range(n // CONCURRENCY):
                await asyncio.gather(*(one() for _ in range(CONCURRENCY)))

    try:
        await run(WARM_UP)
        await run(calls)
    finally:
        await protocol.close()
        await session.close()


def _instructions(mode: str, side: str, calls: int, base: str) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, str(Path(__file__).resolve()), "--client", mode, side, str(calls), base,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed ({done.returncode}): {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def per_call(mode: str, side: str, calls: int, base: str) -> float:
    """Instructions per call: (run with ``calls`` calls - run with none) / calls."""
    return (_instructions(mode, side, calls, base) - _instructions(mode, side, 0, base)) / calls


def _bytes_line(base: str) -> str:
    """Instructions per MiB of the bytes stream, per side, and their ratios."""
    per_mib = {side: per_call("bytes", side, STREAMS, base) / (STREAM_BYTES >> 20) for side in BYTES_SIDES}
    plugin, utcp_http, items, floor = (per_mib[side] for side in BYTES_SIDES)
    return (
        f"bytes instr/MiB: plugin {plugin:,.0f}   utcp-http {utcp_http:,.0f}   raw aiohttp, same items {items:,.0f}"
        f"   raw aiohttp, no items {floor:,.0f}\n"
        f"      utcp-http/plugin {utcp_http / plugin:.3f}x   plugin/raw-items {plugin / items:.3f}x   "
        f"utcp-http/raw-items {utcp_http / items:.3f}x   raw-items/raw {items / floor:.3f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--modes",
        default="seq,conc",
        help="seq, conc (default: both), args (sequential calls with arguments) and bytes (an 8 MiB stream)",
    )
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per run (a multiple of 200)")
    parser.add_argument("--client", nargs=4, metavar=("MODE", "SIDE", "CALLS", "BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        mode, side, calls, base = args.client
        if mode == "bytes":
            asyncio.run(run_bytes_client(side, int(calls), base))
        else:
            asyncio.run(run_client(mode, side, int(calls), base))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    with ServerProcess() as server:
        for mode in args.modes.split(","):
            if mode == "bytes":
                print(_bytes_line(server.base), flush=True)
                continue
            counts = {side: per_call(mode, side, args.calls, server.base) for side in SIDES}
            print(
                f"{mode:5s} plugin {counts['plugin']:9,.0f} instr/call   raw aiohttp {counts['raw']:9,.0f}   "
                f"ratio {counts['plugin'] / counts['raw']:.3f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
