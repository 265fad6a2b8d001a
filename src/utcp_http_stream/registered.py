"""What a call needs of its registered tool, looked up once per tool and template.

Two things of the tool as UtcpClient registered it: its call template before
the variables were substituted (comparing it with the substituted one tells
which values are secrets) and its ``inputs`` schema (the arguments are
checked against it). UtcpClient's repository answers every look-up with a
deep copy of the tool: ~100 us for a small tool, about an eighth of a call
through ``UtcpClient.call_tool``, which has already made one copy of its own.

:class:`RegisteredTools` keeps the answer per tool name, with the
substituted template the call came with. A later call of the same tool
whose template is equal (same tool, same variable values) reuses it; a
changed template, another repository or a (de)registered manual looks the
tool up again. A tool re-registered with a new ``inputs`` but the very same
template could be checked against the old schema: a refusal is therefore
always checked again against a fresh look-up (``fresh()``), so a kept
schema never refuses what the current one accepts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["RegisteredTool", "RegisteredTools"]


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """A registered tool's template before substitution, and its inputs schema."""

    raw_template: Any
    inputs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Kept:
    repository: Any
    template: Any  # a copy of the substituted template the tool was looked up for
    tool: RegisteredTool


class RegisteredTools:
    """The registered tools one protocol instance has called, bounded."""

    MAX = 256

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[str, _Kept] = {}

    async def get(self, repository: Any, tool_name: str, template: Any) -> RegisteredTool | None:
        """The tool ``tool_name`` of ``repository``, called with the
        substituted ``template``; None when the repository does not know it."""
        kept = self._kept.get(tool_name)
        if kept is not None and kept.repository is repository and kept.template == template:
            return kept.tool
        return await self.fresh(repository, tool_name, template)

    async def fresh(self, repository: Any, tool_name: str, template: Any) -> RegisteredTool | None:
        """:meth:`get`, always from the repository (and kept for next time)."""
        found = await repository.get_tool(tool_name)
        if found is None:
            self._kept.pop(tool_name, None)
            return None
        tool = RegisteredTool(found.tool_call_template, found.inputs.model_dump(by_alias=True, exclude_none=True))
        if len(self._kept) >= self.MAX:
            self._kept.clear()
        # A copy: the caller may change its template object after the call.
        self._kept[tool_name] = _Kept(repository, copy.deepcopy(template), tool)
        return tool

    def forget_manual(self, manual_name: str) -> None:
        """Drop every kept tool of ``manual_name`` (it was registered again or removed)."""
        prefix = manual_name + "."
        # list(): one step under the GIL, so a call on another thread's loop
        # that keeps a tool meanwhile cannot break the iteration.
        for name in list(self._kept):
            if name.startswith(prefix):
                self._kept.pop(name, None)
