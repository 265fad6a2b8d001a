"""``${VAR}`` placeholders: which ones utcp can fill, and the name to set.

UtcpClient substitutes ``${NAME}`` and ``$NAME`` where NAME is made of
letters, digits and ``_`` only, looked up as ``<manual>_NAME`` with the
underscores of the manual name doubled. Any other ``${...}`` (``${API-KEY}``,
``${api.key}``) is never substituted, whatever is set: the only fix is to
rename the placeholder. The advice here says exactly that. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "UNRESOLVED",
    "VARIABLE_NAME",
    "find_unresolved",
    "is_usable_name",
    "iter_placeholders",
    "unresolved_advice",
    "usable_name",
    "variable_name_to_set",
]

#: Any ``${...}`` placeholder; group 1 is what is between the braces.
UNRESOLVED = re.compile(r"\$\{([^}]*)\}")
#: A variable name utcp's substitutor fills.
VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")


def is_usable_name(name: str) -> bool:
    return VARIABLE_NAME.fullmatch(name) is not None


def usable_name(name: str) -> str:
    """The name to rename a placeholder to: every other character as ``_``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "VAR"


def variable_name_to_set(variable: str, namespace: str | None) -> str:
    """The name UtcpClient looks up for ``${variable}`` in manual ``namespace``."""
    if not namespace:
        return variable
    return namespace.replace("_", "__") + "_" + variable


def iter_placeholders(value: Any) -> Iterator[str]:
    """Every ``${NAME}`` in a string, dict (keys too) or list, in order."""
    if isinstance(value, str):
        yield from UNRESOLVED.findall(value)
    elif isinstance(value, Mapping | list | tuple):
        # A dict is walked as its (key, value) pairs.
        for item in value.items() if isinstance(value, Mapping) else value:
            yield from iter_placeholders(item)


def find_unresolved(value: Any) -> str | None:
    """The first ``${NAME}`` left in a string, dict or list, or None."""
    return next(iter_placeholders(value), None)


def unresolved_advice(name: str, namespace: str | None) -> str:
    """What to do about a ``${name}`` still present when a request is built."""
    if is_usable_name(name):
        return (
            f"Set {variable_name_to_set(name, namespace)} in the environment, a .env file loaded by the client, "
            "or the client config's variables."
        )
    fixed = usable_name(name)
    return (
        f"utcp substitutes only variable names made of letters, digits and _, so no setting can fill "
        f"${{{name}}}: rename the placeholder to ${{{fixed}}} in the manual, then set "
        f"{variable_name_to_set(fixed, namespace)}."
    )
