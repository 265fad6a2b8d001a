"""``StreamableHttpCommunicationProtocol``: the UTCP face of the transport.

``UtcpClient`` creates one instance per client through the factory that
``register()`` installs, so each client has its own connection pool and
closes it in ``client.close()``. The network work itself is done by
:class:`~utcp_http_stream.transport.StreamClient`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from utcp.data.call_template import CallTemplate
from utcp.data.register_manual_response import RegisterManualResult
from utcp.data.utcp_manual import UtcpManual
from utcp.interfaces.communication_protocol import CommunicationProtocol

from utcp_http_stream.errors import HttpStreamError
from utcp_http_stream.manual import parse_manual
from utcp_http_stream.security import printable_excerpt, scrub
from utcp_http_stream.transport import StreamClient, coerce_template

if TYPE_CHECKING:
    from utcp.utcp_client import UtcpClient

__all__ = ["StreamableHttpCommunicationProtocol"]

logger = logging.getLogger(__name__)


def _namespace(tool_name: str) -> str:
    """The manual name UtcpClient namespaces variables with."""
    return tool_name.split(".", 1)[0]


async def _raw_template(caller: UtcpClient | None, tool_name: str) -> CallTemplate | None:
    """The tool's call template before UtcpClient substituted its variables
    (comparing the two tells which values are secrets), or None."""
    config = getattr(caller, "config", None)
    repository = getattr(config, "tool_repository", None)
    if repository is None:
        return None
    tool = await repository.get_tool(tool_name)
    return tool.tool_call_template if tool is not None else None


class StreamableHttpCommunicationProtocol(CommunicationProtocol):
    """Discovers manuals from ``/utcp`` endpoints and streams tool calls.

    Keyword arguments are forwarded to :class:`StreamClient` (connection
    limits, ``trust_env``); the factory calls it with none.
    """

    def __init__(self, **client_options: Any) -> None:
        self.client = StreamClient(**client_options)

    def __repr__(self) -> str:
        return f"<StreamableHttpCommunicationProtocol {self.client!r}>"

    async def register_manual(self, caller: UtcpClient, manual_call_template: CallTemplate) -> RegisterManualResult:
        """Fetch and validate the manual; every failure is a ``success=False``
        result with a readable error, never an exception."""
        try:
            template = coerce_template(manual_call_template)
            document, final_url = await self.client.fetch_json(template, limit=template.max_item_bytes)
            parsed = parse_manual(document, source_url=final_url)
        except (HttpStreamError, ValueError) as exc:
            return self._failed(manual_call_template, scrub(str(exc), ()))
        except Exception as exc:  # keep the contract: nothing escapes to the client
            logger.exception("unexpected error while registering manual %r", manual_call_template.name)
            return self._failed(manual_call_template, f"{type(exc).__name__}: {printable_excerpt(str(exc), 300)}")
        for error in parsed.errors:
            logger.warning("manual %r: %s", manual_call_template.name, error)
        return RegisterManualResult(
            manual_call_template=manual_call_template,
            manual=parsed.manual,
            success=True,
            errors=parsed.errors,
        )

    @staticmethod
    def _failed(manual_call_template: CallTemplate, message: str) -> RegisterManualResult:
        logger.error("could not register manual %r: %s", manual_call_template.name, message)
        return RegisterManualResult(
            manual_call_template=manual_call_template,
            manual=UtcpManual(tools=[]),
            success=False,
            errors=[message],
        )

    async def deregister_manual(self, caller: UtcpClient, manual_call_template: CallTemplate) -> None:
        """Nothing is held per manual: connections belong to the pool."""

    async def call_tool_streaming(
        self, caller: UtcpClient, tool_name: str, tool_args: dict[str, Any], tool_call_template: CallTemplate
    ) -> AsyncGenerator[Any, None]:
        """Yield each decoded item the moment it arrives."""
        async with self.client.stream(
            tool_call_template,
            tool_args,
            variable_namespace=_namespace(tool_name),
            raw_template=await _raw_template(caller, tool_name),
        ) as response:
            async for batch in response.iter_batches():
                for item in batch:
                    yield item

    async def call_tool(
        self, caller: UtcpClient, tool_name: str, tool_args: dict[str, Any], tool_call_template: CallTemplate
    ) -> Any:
        """The aggregated result: bytes, the JSON document, the text, or the
        list of items (ARCHITECTURE section 3)."""
        return await self.client.call(
            tool_call_template,
            tool_args,
            variable_namespace=_namespace(tool_name),
            raw_template=await _raw_template(caller, tool_name),
        )

    async def close(self) -> None:
        await self.client.close()
