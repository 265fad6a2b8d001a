"""``demo`` (the whole tour, in-process) and ``serve-demo`` (the server alone)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from utcp_http_stream.cli.console import Console, format_bytes, format_duration
from utcp_http_stream.cli.failures import CallFailed

__all__ = ["run_demo", "run_serve_demo"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Meter:
    """Items, bytes and timings of one tool call, for the summary table."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.items = 0
        self.bytes = 0
        self.started = time.perf_counter()
        self.first: float | None = None
        self.ended: float | None = None

    def item(self, item: Any) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.started
        self.items += 1
        self.bytes += _size(item)

    def done(self) -> None:
        self.ended = time.perf_counter() - self.started

    def row(self) -> list[str]:
        return [
            self.tool,
            str(self.items),
            format_bytes(self.bytes),
            format_duration(self.first),
            format_duration(self.ended),
        ]


def _size(item: Any) -> int:
    """An item's size in bytes: as received, UTF-8 text, or compact JSON."""
    if isinstance(item, bytes | bytearray | memoryview):
        return len(item)
    text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
    return len(text.encode("utf-8"))


async def _items(client: Any, tool: str, args: dict[str, Any], meter: Meter) -> AsyncIterator[Any]:
    stream = client.call_tool_streaming(tool, args)
    try:
        async for item in stream:
            meter.item(item)
            yield item
    finally:
        await stream.aclose()
    meter.done()


async def run_demo(args: argparse.Namespace, console: Console) -> int:
    from utcp.utcp_client import UtcpClient

    from utcp_http_stream.demo import DemoServer

    total_started = time.perf_counter()
    async with DemoServer(port=0) as server:
        console.heading("utcp-http-stream demo")
        console.line(f"demo server: {server.base_url} (manual at {server.manual_url})")
        client = await UtcpClient.create(config={})
        try:
            await _register_demo(client, server.manual_url, console)
            meters = [
                await _demo_chat(client, console, args.prompt),
                await _demo_job(client, console),
                await _demo_logs(client, console),
                await _demo_download(client, console),
            ]
        finally:
            await client.close()

    console.line("")
    console.table(
        "summary (through UtcpClient.call_tool_streaming)",
        ["tool", "items", "bytes", "first item", "total"],
        [meter.row() for meter in meters],
    )
    console.line(f"all tools streamed OK in {format_duration(time.perf_counter() - total_started)}", style="green")
    return 0


async def _register_demo(client: Any, manual_url: str, console: Console) -> None:
    """Register the demo manual as ``demo`` and say which tools it has."""
    from utcp.data.call_template import CallTemplateSerializer

    # The generic serializer: the plugin's entry point registered
    # "streamable_http" when UtcpClient.create() loaded the plugins.
    template = CallTemplateSerializer().validate_dict(
        {"name": "demo", "call_template_type": "streamable_http", "url": manual_url}
    )
    result = await client.register_manual(template)
    if not result.success:
        raise CallFailed(f"could not register the demo manual: {'; '.join(result.errors)}")
    names = ", ".join(tool.name for tool in result.manual.tools)
    console.line(f"registered {len(result.manual.tools)} tools: {names}")


async def _demo_chat(client: Any, console: Console, prompt: str) -> Meter:
    console.line("")
    console.heading("demo.chat: model-like SSE token stream (select /choices/0/delta/content)")
    console.line(f"> {prompt}", style="bold")
    meter = Meter("demo.chat")
    async for token in _items(client, "demo.chat", {"prompt": prompt}, meter):
        console.write(str(token))
    console.write("\n")
    return meter


async def _demo_job(client: Any, console: Console) -> Meter:
    console.line("")
    console.heading("demo.job_progress: NDJSON progress of a long-running job")
    meter = Meter("demo.job_progress")
    last: dict[str, Any] = {}
    with console.progress("job-42", None, unit="steps") as progress:
        async for record in _items(client, "demo.job_progress", {"job_id": "job-42"}, meter):
            if isinstance(record, dict):
                last = record
                progress.update(record.get("step", 0), total=record.get("total"), message=record.get("message"))
    console.line(f"job {last.get('job', '?')}: {last.get('message', '?')} after {last.get('step', 0)} steps")
    return meter


async def _demo_logs(client: Any, console: Console) -> Meter:
    console.line("")
    console.heading("demo.log_tail: text/plain log lines as they are written")
    meter = Meter("demo.log_tail")
    styles = {"ERROR": "bold red", "WARN": "yellow", "DEBUG": "dim"}
    async for line in _items(client, "demo.log_tail", {"service": "api"}, meter):
        text = str(line)
        level = text.split()[1] if len(text.split()) > 1 else ""
        console.line(f"  {text}", style=styles.get(level))
    return meter


async def _demo_download(client: Any, console: Console) -> Meter:
    console.line("")
    console.heading("demo.download: multi-megabyte octet-stream to a temp file")
    info = await client.call_tool("demo.download_info", {})
    size, expected = int(info["size"]), str(info["sha256"])
    console.line(f"expecting {info['name']}: {format_bytes(size)}, sha256 {expected}")
    meter = Meter("demo.download")
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="utcp-http-stream-demo-") as directory:
        target = Path(directory) / str(info["name"])
        with target.open("wb") as handle, console.progress(str(info["name"]), size, unit="bytes") as progress:
            async for chunk in _items(client, "demo.download", {}, meter):
                handle.write(chunk)
                digest.update(chunk)
                progress.advance(len(chunk))
        written = target.stat().st_size
    _check_download(written, digest.hexdigest(), size, expected)
    console.line(f"saved {format_bytes(written)} to a temp file; sha256 verified ({expected[:16]}...)", style="green")
    return meter


def _check_download(written: int, sha256: str, size: int, expected: str) -> None:
    """The saved file must have the size and sha256 the server announced."""
    if sha256 != expected or written != size:
        raise CallFailed(
            f"download check failed: got {written} bytes with sha256 {sha256}, "
            f"expected {size} bytes with sha256 {expected}"
        )


# -- serve-demo ---------------------------------------------------------------------------------


async def run_serve_demo(args: argparse.Namespace, console: Console) -> int:
    from utcp_http_stream.demo import DemoServer

    server = DemoServer(args.host, args.port)
    await _listen(server, args.host, args.port)
    stop = asyncio.Event()
    try:
        with _set_on_signals(stop):
            _print_serving(server, args.host, console)
            await stop.wait()
    finally:
        await server.close()
    console.status("demo server stopped")
    return 0


async def _listen(server: Any, host: str, port: int) -> None:
    """Start ``server``; a port it cannot listen on is a :class:`CallFailed`."""
    try:
        await server.start()
    except OSError as exc:
        raise CallFailed(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            + ("; pass --port 0 for a free port" if port else "")
        ) from None


@contextlib.contextmanager
def _set_on_signals(event: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``event`` (where the loop can handle signals)."""
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, event.set)
    try:
        yield
    finally:
        for signum in _STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def _print_serving(server: Any, host: str, console: Console) -> None:
    """Where the server listens, and a warning when clients will refuse its tool URLs."""
    from utcp_http_stream.security import is_loopback_host

    console.line(f"demo server listening on {server.base_url}")
    console.line(f"manual: {server.manual_url}")
    console.line(f"stats:  {server.base_url}/stats")
    if host not in ("0.0.0.0", "::") and not is_loopback_host(host):
        console.warning("the manual's tool URLs are plain http to a non-loopback host; clients will refuse them")
    console.status("press Ctrl-C to stop")
