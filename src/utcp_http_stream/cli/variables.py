"""A manual's ``${VAR}``s as the CLI resolves them: exactly as UtcpClient does.

utcp's own substitutor, its config (``--env-file`` through utcp's dotenv
loader) and the manual name as the namespace: ``${API_KEY}`` of manual
``my_api`` is looked up as ``my__api_API_KEY``. This module lists the names a
tool needs, resolves a tool's template, and turns an unset variable into one
error that says which name to set and where the manual name came from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from utcp_http_stream.cli.failures import UsageError
from utcp_http_stream.cli.sources import ManualName

__all__ = ["is_set", "required_variables", "resolve_template", "variables_of"]


def required_variables(template: Any, name: str) -> list[str]:
    """The exact names to set for a call template (a dict or a CallTemplate)
    of manual ``name``, in order, without repeats."""
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.implementations.default_variable_substitutor import DefaultVariableSubstitutor

    data = template if isinstance(template, dict) else CallTemplateSerializer().to_dict(template)
    found = DefaultVariableSubstitutor().find_required_variables(data, name)
    return list(dict.fromkeys(found))


def is_set(variable: str, env_file: str | None) -> bool:
    """Whether UtcpClient would find ``variable`` (the full, namespaced name)
    in the environment or the ``--env-file``."""
    if os.environ.get(variable):
        return True
    if env_file is None:
        return False
    from dotenv import dotenv_values

    return bool(dotenv_values(env_file).get(variable))


def resolve_template(template: Any, config: dict[str, Any], name: str) -> Any:
    """``template`` with its variables substituted as UtcpClient would."""
    from utcp.data.call_template import CallTemplateSerializer
    from utcp.data.utcp_client_config import UtcpClientConfigSerializer
    from utcp.implementations.default_variable_substitutor import DefaultVariableSubstitutor

    client_config = UtcpClientConfigSerializer().validate_dict(dict(config))
    serializer = CallTemplateSerializer()
    resolved = DefaultVariableSubstitutor().substitute(serializer.to_dict(template), client_config, name)
    return serializer.validate_dict(resolved)


@contextlib.contextmanager
def variables_of(name: ManualName) -> Iterator[None]:
    """An unset ``${VAR}`` as a usage error naming the variable, the exact
    name to set, and where the manual name came from."""
    from utcp.exceptions import UtcpVariableNotFound

    try:
        yield
    except UtcpVariableNotFound as exc:
        full = exc.variable_name
        short = full.removeprefix(name.value.replace("_", "__") + "_")
        raise UsageError(
            f"variable {short} of manual {name.value!r} is not set: define {full} in the environment or in a "
            f"file passed with --env-file (UtcpClient prefixes a manual's variables with its name, underscores "
            f"doubled; {name.explain()})"
        ) from None
