"""With the official utcp-http plugin installed too, this plugin wins the
``streamable_http`` type deterministically, and still accepts templates that
utcp-http's serializer parsed."""

from __future__ import annotations

import pytest
from aiohttp import web

utcp_http = pytest.importorskip("utcp_http")

from utcp.data.call_template import CallTemplateSerializer  # noqa: E402
from utcp.interfaces.communication_protocol import CommunicationProtocol  # noqa: E402
from utcp.plugins.discovery import register_call_template, register_communication_protocol  # noqa: E402

from utcp_http_stream import StreamableHttpCommunicationProtocol, register  # noqa: E402
from utcp_http_stream.template import StreamableHttpCallTemplateSerializer  # noqa: E402


async def test_factory_wins_over_utcp_http_instance_in_any_load_order(utcp_client):
    from utcp_http.streamable_http_call_template import StreamableHttpCallTemplateSerializer as TheirSerializer
    from utcp_http.streamable_http_communication_protocol import StreamableHttpCommunicationProtocol as Theirs

    # utcp-http loading after us: an instance and a non-overriding serializer.
    register_communication_protocol("streamable_http", Theirs(), override=True)
    register_call_template("streamable_http", TheirSerializer())
    assert isinstance(utcp_client._protocol_for("streamable_http"), StreamableHttpCommunicationProtocol)
    assert isinstance(CallTemplateSerializer.call_template_serializers["streamable_http"],
                      StreamableHttpCallTemplateSerializer)
    # ...and before us: we override.
    register_call_template("streamable_http", TheirSerializer(), override=True)
    register()
    assert isinstance(CallTemplateSerializer.call_template_serializers["streamable_http"],
                      StreamableHttpCallTemplateSerializer)
    assert CommunicationProtocol.communication_protocol_factories["http_stream"] is StreamableHttpCommunicationProtocol


async def test_template_parsed_by_utcp_http_is_accepted(serve):
    from utcp_http.streamable_http_call_template import StreamableHttpCallTemplate as TheirTemplate

    async def lines(request):
        return web.Response(text='{"a":1}\n{"a":2}\n', content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/lines", lines)
    base = await serve(app)
    theirs = TheirTemplate(url=base + "/lines", headers={"X-A": "1"})
    protocol = StreamableHttpCommunicationProtocol()
    try:
        items = [x async for x in protocol.call_tool_streaming(None, "m.t", {}, theirs)]
        assert items == [{"a": 1}, {"a": 2}]
        assert await protocol.call_tool(None, "m.t", {}, theirs) == [{"a": 1}, {"a": 2}]
    finally:
        await protocol.close()
