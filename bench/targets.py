"""The clients compared: the plugin, utcp-http and raw aiohttp loops.

Each family gets the same work from the loopback server; the raw loops are
the practical limit of a hand-written aiohttp client (README: Method)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp


def _json_backend_api():
    try:
        from utcp_http_stream.decoders import jsonlib
    except ImportError:  # pragma: no cover - older layouts
        return None
    return jsonlib if hasattr(jsonlib, "set_backend") else None


def plugin_default_backend() -> str:
    jsonlib = _json_backend_api()
    return jsonlib.backend() if jsonlib is not None else "unknown"


def plugin_backends() -> list[str]:
    """The JSON backends the plugin can run with here: stdlib always, orjson if installed."""
    jsonlib = _json_backend_api()
    if jsonlib is None:
        return []
    return ["json", "orjson"] if jsonlib.ORJSON_AVAILABLE else ["json"]


@contextlib.contextmanager
def json_backend(name: str | None):
    jsonlib = _json_backend_api()
    if name is None or jsonlib is None:
        yield
        return
    previous = jsonlib.backend()
    jsonlib.set_backend(name)
    try:
        yield
    finally:
        jsonlib.set_backend(previous)


class Clients:
    """The long-lived clients (one pool each) that the streaming cases share,
    the control session that reads the server's connection counter, and the
    call templates. (The call cases build a fresh client per run instead.)"""

    def __init__(self, base: str, with_utcp_http: bool) -> None:
        self.base = base
        self.with_utcp_http = with_utcp_http
        self.raw: aiohttp.ClientSession | None = None
        self.ctl: aiohttp.ClientSession | None = None
        self.plugin: Any = None
        self.uh_stream: Any = None
        self.uh_sse: Any = None

    async def __aenter__(self) -> Clients:
        from utcp_http_stream.protocol import StreamableHttpCommunicationProtocol

        self.raw = aiohttp.ClientSession()
        # The control session only reads /stats; a long keep-alive keeps it on
        # one connection so it never shows up in a connection count.
        self.ctl = aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=600))
        self.plugin = StreamableHttpCommunicationProtocol()
        if self.with_utcp_http:
            from utcp_http.sse_communication_protocol import SseCommunicationProtocol
            from utcp_http.streamable_http_communication_protocol import (
                StreamableHttpCommunicationProtocol as UhStreamProtocol,
            )

            self.uh_stream = UhStreamProtocol()
            self.uh_sse = SseCommunicationProtocol()
        await self.connections()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.plugin.close()
        for session in (self.raw, self.ctl):
            if session is not None:
                await session.close()

    async def connections(self) -> int:
        assert self.ctl is not None
        async with self.ctl.get(self.base + "/stats") as resp:
            return (await resp.json())["connections"]

    # templates ---------------------------------------------------------------

    def plugin_template(self, path: str, **fields: Any) -> Any:
        from utcp_http_stream.template import StreamableHttpCallTemplate

        return StreamableHttpCallTemplate(name="bench", url=self.base + path, **fields)

    def uh_template(self, path: str, **fields: Any) -> Any:
        from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate

        return StreamableHttpCallTemplate(name="bench", url=self.base + path, **fields)

    def uh_sse_template(self, path: str) -> Any:
        from utcp_http.sse_call_template import SseCallTemplate

        return SseCallTemplate(name="bench", url=self.base + path)


# What a consumer does with each piece: count it (bytes: count its length).
async def drain_protocol(proto: Any, template: Any, args: dict[str, Any], *, measure_bytes: bool) -> int:
    total = 0
    if measure_bytes:
        async for chunk in proto.call_tool_streaming(None, "bench.tool", args, template):
            total += len(chunk)
    else:
        async for _item in proto.call_tool_streaming(None, "bench.tool", args, template):
            total += 1
    return total


async def raw_bytes_chunked(session: aiohttp.ClientSession, url: str, chunk_size: int) -> int:
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_chunked(chunk_size):
            total += len(chunk)
    return total


async def raw_bytes_any(session: aiohttp.ClientSession, url: str) -> int:
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            total += len(chunk)
    return total


async def _raw_items(session: aiohttp.ClientSession, url: str, chunk_size: int) -> AsyncIterator[bytes]:
    from utcp_http_stream.decoders.chunks import cut

    async with session.get(url) as resp:
        resp.raise_for_status()
        async for data in resp.content.iter_any():
            if len(data) <= chunk_size:
                yield data
            else:
                for item in cut(data, chunk_size):
                    yield item


async def raw_bytes_items(session: aiohttp.ClientSession, url: str, chunk_size: int) -> int:
    """The leanest aiohttp loop that keeps ``bytes_4k``'s contract: each
    wake-up's bytes cut into ``chunk_size`` items (the plugin's own ``cut``)
    and yielded one by one from an async generator, as
    ``call_tool_streaming`` yields them. What is left between it and the
    plugin is the plugin's code around the cut."""
    total = 0
    async for item in _raw_items(session, url, chunk_size):
        total += len(item)
    return total


async def raw_bytes_any_sliced(session: aiohttp.ClientSession, url: str, chunk_size: int) -> int:
    """``iter_any()`` cut into pieces of at most ``chunk_size`` (one copy each):
    the cheapest loop that keeps the chunk_size contract, with no plugin code."""
    total = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for data in resp.content.iter_any():
            if len(data) <= chunk_size:
                total += len(data)
                continue
            view = memoryview(data)
            for start in range(0, len(data), chunk_size):
                total += len(view[start : start + chunk_size].tobytes())
    return total


async def raw_ndjson_line_iter(session: aiohttp.ClientSession, url: str) -> int:
    """aiohttp's line iterator: what most hand-written NDJSON clients do."""
    loads = json.loads
    count = 0
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.strip():
                loads(line)
                count += 1
    return count


async def raw_ndjson_split(session: aiohttp.ClientSession, url: str) -> int:
    """``iter_any()`` and one ``split`` per chunk (stdlib json)."""
    loads = json.loads
    count = 0
    pending = b""
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line:
                    loads(line)
                    count += 1
    if pending.strip():
        loads(pending)
        count += 1
    return count


async def raw_sse_split(session: aiohttp.ClientSession, url: str) -> int:
    """A minimal, not spec-complete SSE loop (LF only, single ``data:`` line):
    the floor any real parser pays."""
    loads = json.loads
    count = 0
    pending = b""
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            blocks = (pending + chunk).split(b"\n\n")
            pending = blocks.pop()
            for block in blocks:
                if block.startswith(b"data: "):
                    data = block[6:]
                    if data != b"[DONE]":
                        loads(data)
                        count += 1
    return count


async def raw_small(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return json.loads(await resp.read())


#: The arguments of a call with arguments (``bench/instructions.py --modes args``),
#: and what raw aiohttp sends for them.
ARGS = {"id": "42", "limit": 10, "lang": "en", "X-Trace": "t1", "body": {"q": "hello", "k": 3}}


async def raw_small_args(session: aiohttp.ClientSession, base: str) -> Any:
    async with session.post(
        base + "/items/42", params={"limit": "10", "lang": "en"}, json={"q": "hello", "k": 3}, headers={"X-Trace": "t1"}
    ) as resp:
        resp.raise_for_status()
        return json.loads(await resp.read())


async def raw_big_read(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return len(await resp.read())


async def first_item_latency(agen_factory: Callable[[], Any]) -> float:
    """Seconds from starting the call to its first item; the rest is drained
    (untimed) so the connection goes back to the pool."""
    start = time.perf_counter()
    agen = agen_factory()
    first = time.perf_counter()
    async for _item in agen:
        first = time.perf_counter()
        break
    async for _item in agen:
        pass
    return first - start


async def raw_first_items(session: aiohttp.ClientSession, url: str):
    async with session.get(url) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.strip():
                yield json.loads(line)


async def make_utcp_client(base: str) -> Any:
    """A real UtcpClient (plugins from entry points) with the bench manual registered."""
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.utcp_client import UtcpClient

    client = await UtcpClient.create()
    manual = CallTemplateSerializer().validate_dict(
        {"name": "bench", "call_template_type": "streamable_http", "url": base + "/utcp"}
    )
    result = await client.register_manual(manual)
    if not result.success:
        await client.close()
        raise RuntimeError(f"could not register the bench manual: {result.errors}")
    return client
