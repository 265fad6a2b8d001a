"""``StreamableHttpCommunicationProtocol``: the UTCP face of the transport.

``UtcpClient`` creates one instance per client through the factory that
``register()`` installs, so each client has its own connection pool and
closes it in ``client.close()``. The network work itself is done by
:class:`~utcp_http_stream.transport.StreamClient`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from utcp.data.call_template import CallTemplate
from utcp.data.register_manual_response import RegisterManualResult
from utcp.data.utcp_manual import UtcpManual
from utcp.interfaces.communication_protocol import CommunicationProtocol

from utcp_http_stream import CALL_TEMPLATE_TYPES
from utcp_http_stream.arguments import argument_problems, check_arguments
from utcp_http_stream.documents import discovery_urls, load_document, manual_from_document
from utcp_http_stream.errors import HttpStreamError
from utcp_http_stream.manual import ManualParseResult
from utcp_http_stream.registered import RegisteredTools
from utcp_http_stream.security import printable_excerpt, redact_url, scrub
from utcp_http_stream.template import StreamableHttpCallTemplate
from utcp_http_stream.transport import StreamClient, coerce_template

if TYPE_CHECKING:
    from utcp.utcp_client import UtcpClient

__all__ = ["StreamableHttpCommunicationProtocol"]

logger = logging.getLogger(__name__)

#: Documents up to this size are parsed on the event loop (a few ms at most); larger ones in a
#: worker thread: OpenAI's 2.9 MB OpenAPI document takes 2 s, during which every other call on
#: the loop would stand still.
PARSE_INLINE_MAX = 64 * 1024


def _parse_manual(body: bytes, content_type: str | None, url: str) -> ManualParseResult:
    """The manual a fetched document holds (UTCP manual or OpenAPI). Pure."""
    return manual_from_document(load_document(body, content_type), source_url=url)


def _namespace(tool_name: str) -> str:
    """The manual name UtcpClient namespaces variables with."""
    return tool_name.split(".", 1)[0]


def _repository(caller: UtcpClient | None) -> Any:
    """UtcpClient's tool repository (its public config); None when the caller
    has none (a framework may hand over its own client object)."""
    return getattr(getattr(caller, "config", None), "tool_repository", None)


class StreamableHttpCommunicationProtocol(CommunicationProtocol):
    """Discovers manuals from ``/utcp`` endpoints and streams tool calls.

    Keyword arguments are forwarded to :class:`StreamClient` (connection
    limits, ``trust_env``); the factory calls it with none.
    """

    def __init__(self, **client_options: Any) -> None:
        self.client = StreamClient(**client_options)
        self._tools = RegisteredTools()

    def __repr__(self) -> str:
        return f"<StreamableHttpCommunicationProtocol {self.client!r}>"

    async def register_manual(self, caller: UtcpClient, manual_call_template: CallTemplate) -> RegisterManualResult:
        """Fetch and validate the manual; every failure is a ``success=False``
        result with a readable error, never an exception.

        ``streamable_http`` and ``http_stream`` are one protocol: unless the
        user set ``allowed_communication_protocols`` on the manual call
        template, it is set to both names, so utcp (which by default keeps only
        the tools of the manual's own type) keeps the tools of either.
        """
        _allow_both_names(manual_call_template)
        self._tools.forget_manual(manual_call_template.name)
        try:
            parsed = await self._discover(coerce_template(manual_call_template))
        except (HttpStreamError, ValueError) as exc:
            return self._failed(manual_call_template, scrub(str(exc), ()))
        except Exception as exc:  # keep the contract: nothing escapes to the client
            return self._failed(
                manual_call_template, f"{type(exc).__name__}: {printable_excerpt(str(exc), 300)}", exc_info=True
            )
        for error in parsed.errors:
            logger.warning("manual %r: %s", manual_call_template.name, error)
        return RegisterManualResult(
            manual_call_template=manual_call_template,
            manual=parsed.manual,
            success=True,
            errors=parsed.errors,
        )

    async def _discover(self, template: StreamableHttpCallTemplate) -> ManualParseResult:
        """The manual at the template's URL (a UTCP manual or an OpenAPI
        document); a bare origin tries ``/utcp``, then ``/openapi.json``."""
        failures: list[str] = []
        for url in discovery_urls(template.url):
            try:
                body, content_type, final_url = await self.client.fetch_document(
                    template.model_copy(update={"url": url}), limit=template.max_item_bytes
                )
                if len(body) <= PARSE_INLINE_MAX:
                    return _parse_manual(body, content_type, final_url)
                # A large document (an OpenAPI spec of megabytes takes seconds to parse)
                # is parsed in a worker thread, so the loop's other calls keep streaming.
                return await asyncio.to_thread(_parse_manual, body, content_type, final_url)
            except HttpStreamError as exc:  # names the URL itself
                failures.append(str(exc))
            except ValueError as exc:
                failures.append(f"{redact_url(url)}: {exc}")
        raise HttpStreamError("; ".join(failures))

    @staticmethod
    def _failed(manual_call_template: CallTemplate, message: str, *, exc_info: bool = False) -> RegisterManualResult:
        # Returned in the result: logged once, as a warning (the caller decides
        # whether it is an error), never at ERROR level.
        logger.warning("could not register manual %r: %s", manual_call_template.name, message, exc_info=exc_info)
        return RegisterManualResult(
            manual_call_template=manual_call_template,
            manual=UtcpManual(tools=[]),
            success=False,
            errors=[message],
        )

    async def deregister_manual(self, caller: UtcpClient, manual_call_template: CallTemplate) -> None:
        """Forget the manual's tools (connections belong to the pool)."""
        self._tools.forget_manual(manual_call_template.name)

    async def call_tool_streaming(
        self, caller: UtcpClient, tool_name: str, tool_args: dict[str, Any], tool_call_template: CallTemplate
    ) -> AsyncGenerator[Any, None]:
        """Yield each decoded item the moment it arrives."""
        raw = await self._prepare(caller, tool_name, tool_args, tool_call_template)
        async with self.client.stream(
            tool_call_template, tool_args, variable_namespace=_namespace(tool_name), raw_template=raw
        ) as response:
            async for batch in response.iter_batches():
                for item in batch:
                    yield item

    async def call_tool(
        self, caller: UtcpClient, tool_name: str, tool_args: dict[str, Any], tool_call_template: CallTemplate
    ) -> Any:
        """The aggregated result: bytes, the JSON document, the text, or the
        list of items (ARCHITECTURE section 3)."""
        raw = None if caller is None else await self._prepare(caller, tool_name, tool_args, tool_call_template)
        return await self.client.call(
            tool_call_template, tool_args, variable_namespace=_namespace(tool_name), raw_template=raw
        )

    async def _prepare(
        self, caller: UtcpClient | None, tool_name: str, tool_args: Any, template: Any
    ) -> CallTemplate | None:
        """The registered tool (kept from an earlier call when its template
        is unchanged, :mod:`~utcp_http_stream.registered`): its arguments are
        checked against its ``inputs`` (a ``TemplateError`` naming what is
        wrong, unless the client setting ``validate_arguments`` is off), and
        its raw template is returned (comparing it with the substituted one
        tells which values came from variables, hence are secrets)."""
        repository = _repository(caller)
        if repository is None:
            return None
        tool = await self._tools.get(repository, tool_name, template)
        if tool is not None and self.client.settings.validate_arguments and argument_problems(tool.inputs, tool_args):
            # A kept schema may be older than the registered one: a refusal is judged on a fresh look-up.
            tool = await self._tools.fresh(repository, tool_name, template)
            if tool is not None:
                check_arguments(tool_name, tool.inputs, tool_args)
        return None if tool is None else tool.raw_template

    async def close(self) -> None:
        await self.client.close()


def _allow_both_names(manual_call_template: CallTemplate) -> None:
    """Let a manual of either type name keep the tools of both (in place:
    utcp filters the tools by the object it passed in)."""
    if manual_call_template.call_template_type in CALL_TEMPLATE_TYPES and not (
        manual_call_template.allowed_communication_protocols
    ):
        manual_call_template.allowed_communication_protocols = list(CALL_TEMPLATE_TYPES)
