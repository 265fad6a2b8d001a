"""Exit codes, and turning any exception into one readable line.

- 0 success
- 1 a call failed (HTTP status, timeout, cut-off stream, bad data, auth, network)
- 2 usage or validation error (bad arguments, invalid manual/template, refused URL,
  unset variable): something the user fixes before trying again
- 130 interrupted (Ctrl-C)
"""

from __future__ import annotations

from utcp_http_stream.errors import HttpStreamError, InsecureUrlError, TemplateError
from utcp_http_stream.security import printable_excerpt

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CallFailed",
    "CliError",
    "UsageError",
    "describe",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI reports as ``error: <message>`` and exits with ``code``."""

    code = EXIT_FAILED

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        #: extra lines printed after the message (validation problems)
        self.details = details or []


class UsageError(CliError):
    code = EXIT_USAGE


class CallFailed(CliError):
    code = EXIT_FAILED


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception."""
    described = _describe_own(exc) or _describe_utcp(exc) or _describe_os(exc)
    if described is not None:
        return described
    return _unexpected(exc), EXIT_FAILED


def _unexpected(exc: BaseException) -> str:
    """The message for an exception nothing else describes: its type and text."""
    text = printable_excerpt(str(exc), 300)
    return f"unexpected {type(exc).__name__}{': ' + text if text else ''} (run with --debug for the traceback)"


def _describe_own(exc: BaseException) -> tuple[str, int] | None:
    """:func:`describe` for the CLI's and the plugin's errors, else None."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, (TemplateError, InsecureUrlError)):
        return str(exc), EXIT_USAGE
    if isinstance(exc, HttpStreamError):
        return str(exc), EXIT_FAILED
    return None


def _describe_utcp(exc: BaseException) -> tuple[str, int] | None:
    """:func:`describe` for utcp's and pydantic's errors, else None. They are
    imported lazily by the commands; matched by name so this module stays
    import-light."""
    name = type(exc).__name__
    if name == "UtcpVariableNotFound":
        variable = getattr(exc, "variable_name", "?")
        return (
            f"variable {variable} is not set: define it in the environment or in a file passed with "
            "--env-file (UtcpClient looks up ${VAR} of manual M as M_VAR, with underscores in M doubled)",
            EXIT_USAGE,
        )
    if name == "UtcpSerializerValidationError":
        return _last_line(str(exc)), EXIT_USAGE
    if name == "ValidationError":  # pydantic
        from utcp_http_stream.template import format_validation_error

        return format_validation_error(exc), EXIT_USAGE  # type: ignore[arg-type]
    return None


def _describe_os(exc: BaseException) -> tuple[str, int] | None:
    """:func:`describe` for a missing file and other OS errors, else None."""
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file", EXIT_USAGE
    if not isinstance(exc, OSError):
        return None
    name = type(exc).__name__
    text = printable_excerpt(str(exc) or name, 300)
    if isinstance(exc, (ConnectionError, TimeoutError)):  # OSErrors that say little without their name
        return f"{name}: {text}", EXIT_FAILED
    return text, EXIT_FAILED


_TRACEBACK_FURNITURE = ("Traceback", "File ", "^", "~", "For further information")
_EXCEPTION_MODULES = ("utcp.exceptions", "pydantic_core")


def _last_line(text: str) -> str:
    """utcp serializer errors embed a traceback; keep the line that says what is wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "invalid document"
    message = _message_line(lines)
    return printable_excerpt(lines[0] if message is None else message, 400)


def _message_line(lines: list[str]) -> str | None:
    """The last line holding a message (not traceback furniture), without
    its exception's module; None when there is none."""
    for line in reversed(lines):
        if ":" in line and not line.startswith(_TRACEBACK_FURNITURE):
            return line.split(":", 1)[1].strip() if line.startswith(_EXCEPTION_MODULES) else line
    return None
