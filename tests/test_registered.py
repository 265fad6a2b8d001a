"""The registered tools a protocol keeps: looked up once per tool and template,
again whenever either may have changed. Pure: utcp's in-memory repository,
no server."""

from __future__ import annotations

from typing import Any

from utcp.data.call_template import CallTemplate
from utcp.data.utcp_manual import UtcpManual
from utcp.implementations.in_mem_tool_repository import InMemToolRepository

from utcp_http_stream.registered import RegisteredTools
from utcp_http_stream.template import StreamableHttpCallTemplate


class CountingRepository:
    """utcp's in-memory repository (``inner``), counting the tool look-ups."""

    def __init__(self) -> None:
        self.inner = InMemToolRepository()
        self.lookups = 0

    async def get_tool(self, tool_name: str) -> Any:
        self.lookups += 1
        return await self.inner.get_tool(tool_name)


def _tool(name: str, url: str, inputs: dict | None = None) -> dict:
    return {
        "name": name,
        "description": name,
        "inputs": inputs or {"type": "object", "properties": {"q": {"type": "string"}}},
        "tool_call_template": {"call_template_type": "streamable_http", "name": name, "url": url},
    }


async def _repository(*tools: dict, manual: str = "svc") -> CountingRepository:
    repository = CountingRepository()
    await _save(repository, manual, *tools)
    return repository


async def _save(repository: CountingRepository, manual: str, *tools: dict) -> None:
    document = {"utcp_version": "1.0.1", "manual_version": "1.0.0", "tools": list(tools)}
    template = CallTemplate(name=manual, call_template_type="streamable_http")
    await repository.inner.save_manual(template, UtcpManual.model_validate(document))


def _called(url: str) -> StreamableHttpCallTemplate:
    """The substituted template UtcpClient hands over (a new object per call)."""
    return StreamableHttpCallTemplate(name="svc.a", url=url)


async def _called_once() -> tuple[CountingRepository, RegisteredTools, StreamableHttpCallTemplate]:
    """A repository with the tool ``svc.a``, and the tools kept after one call of it."""
    repository = await _repository(_tool("svc.a", "https://api.example.com/a"))
    tools = RegisteredTools()
    called = _called("https://api.example.com/a")
    assert await tools.get(repository, "svc.a", called) is not None
    return repository, tools, called


async def test_a_tool_called_again_with_the_same_template_is_looked_up_once() -> None:
    repository = await _repository(_tool("svc.a", "https://api.example.com/a/${KEY}"))
    tools = RegisteredTools()
    first = await tools.get(repository, "svc.a", _called("https://api.example.com/a/k1"))
    assert first is not None
    assert first.raw_template.url == "https://api.example.com/a/${KEY}"  # before substitution
    assert first.inputs == {"type": "object", "properties": {"q": {"type": "string"}}}
    for _ in range(3):
        assert await tools.get(repository, "svc.a", _called("https://api.example.com/a/k1")) is first
    assert repository.lookups == 1


async def test_a_changed_template_or_repository_is_looked_up_again() -> None:
    repository = await _repository(_tool("svc.a", "https://api.example.com/a/${KEY}"))
    tools = RegisteredTools()
    await tools.get(repository, "svc.a", _called("https://api.example.com/a/k1"))
    # the variable's value changed: the template differs
    await tools.get(repository, "svc.a", _called("https://api.example.com/a/k2"))
    assert repository.lookups == 2
    other = await _repository(_tool("svc.a", "https://api.example.com/a/${KEY}"))
    assert await tools.get(other, "svc.a", _called("https://api.example.com/a/k2")) is not None
    assert other.lookups == 1


async def test_the_kept_template_is_a_copy_of_the_callers() -> None:
    repository, tools, template = await _called_once()
    template.url = "https://api.example.com/b"  # changed after the call, in place
    await tools.get(repository, "svc.a", template)
    assert repository.lookups == 2


async def test_fresh_always_asks_the_repository_and_sees_a_new_schema() -> None:
    repository, tools, called = await _called_once()
    # the same template registered again with another schema, without the protocol being told
    await _save(repository, "svc", _tool("svc.a", "https://api.example.com/a", {"type": "object", "required": ["n"]}))
    assert (await tools.get(repository, "svc.a", called)).inputs["properties"] == {"q": {"type": "string"}}
    assert (await tools.fresh(repository, "svc.a", called)).inputs == {"type": "object", "required": ["n"]}
    assert (await tools.get(repository, "svc.a", called)).inputs == {"type": "object", "required": ["n"]}


async def test_an_unknown_or_removed_tool_is_none_and_not_kept() -> None:
    repository, tools, called = await _called_once()
    assert await tools.get(repository, "svc.nope", called) is None
    await repository.inner.remove_manual("svc")
    assert await tools.fresh(repository, "svc.a", called) is None
    assert await tools.get(repository, "svc.a", called) is None  # not answered from what was kept


async def test_forgetting_a_manual_drops_its_tools_only() -> None:
    repository = await _repository(_tool("svc.a", "https://api.example.com/a"))
    await _save(repository, "svcx", _tool("svcx.b", "https://api.example.com/b"))
    tools = RegisteredTools()
    await tools.get(repository, "svc.a", _called("https://api.example.com/a"))
    await tools.get(repository, "svcx.b", _called("https://api.example.com/b"))
    tools.forget_manual("svc")  # not "svcx", whose name starts the same
    await tools.get(repository, "svc.a", _called("https://api.example.com/a"))
    await tools.get(repository, "svcx.b", _called("https://api.example.com/b"))
    assert repository.lookups == 3


async def test_what_is_kept_is_bounded() -> None:
    tools_in_manual = [_tool(f"svc.t{i}", f"https://api.example.com/{i}") for i in range(RegisteredTools.MAX + 1)]
    repository = await _repository(*tools_in_manual)
    tools = RegisteredTools()
    for i in range(RegisteredTools.MAX + 1):
        await tools.get(repository, f"svc.t{i}", _called(f"https://api.example.com/{i}"))
    # full: emptied, then the last one kept
    await tools.get(repository, f"svc.t{RegisteredTools.MAX}", _called(f"https://api.example.com/{RegisteredTools.MAX}"))
    await tools.get(repository, "svc.t0", _called("https://api.example.com/0"))
    assert repository.lookups == RegisteredTools.MAX + 2
