"""Stream one tool call through UtcpClient, against the embedded demo server.

    python examples/stream_demo.py "What is streaming good for?"

The demo server runs in this process on a free loopback port. UtcpClient
loads the utcp-http-stream plugin through its entry point, registers the
server's /utcp manual, and ``call_tool_streaming`` yields each token of the
reply the moment the server sends it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from utcp.data.call_template import CallTemplateSerializer
from utcp.utcp_client import UtcpClient

from utcp_http_stream.demo import DemoServer


async def main(prompt: str) -> None:
    async with DemoServer() as server:  # port 0: any free port
        client = await UtcpClient.create(config={})
        try:
            manual = CallTemplateSerializer().validate_dict(
                {"name": "demo", "call_template_type": "streamable_http", "url": server.manual_url}
            )
            result = await client.register_manual(manual)
            if not result.success:
                raise SystemExit(f"could not register the demo manual: {result.errors}")

            async for token in client.call_tool_streaming("demo.chat", {"prompt": prompt}):
                print(token, end="", flush=True)
            print()
        finally:
            await client.close()


if __name__ == "__main__":
    # utcp turns on INFO logging when imported; keep this script's output to the reply.
    logging.getLogger().setLevel(logging.WARNING)
    asyncio.run(main(" ".join(sys.argv[1:]) or "What is streaming good for?"))
