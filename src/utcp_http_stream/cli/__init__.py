"""The ``utcp-http-stream`` command line.

``main()`` parses arguments, quiets the libraries' logging (utcp configures
INFO logging on import; the CLI reports what matters itself), runs the
command, and turns every failure into one ``error:`` line and an exit code
(see :mod:`.failures`). Ctrl-C cancels the running command, whose ``async
with`` blocks close the stream and the connection, then exits 130.

Importing this package is cheap: utcp, aiohttp and rich load only when a
command needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from utcp_http_stream.cli.console import Console
from utcp_http_stream.cli.failures import EXIT_INTERRUPTED, EXIT_OK, describe
from utcp_http_stream.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    args = _parse(argv)
    debug = getattr(args, "debug", False)
    _configure_logging(debug=debug, verbose=getattr(args, "verbose", False))
    console = Console()
    try:
        return _dispatch(args, console)
    except KeyboardInterrupt:
        console.status("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `... | head`: the reader took what it wanted and left. Like other
        # Unix tools, end quietly and successfully (no second EPIPE at shutdown).
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:
        return _report(exc, console, debug=debug)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not _late_pairs(args, extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.pairs = [*args.pairs, *extra]
    return args


def _late_pairs(args: argparse.Namespace, extra: list[str]) -> bool:
    """Whether the arguments argparse left over are ``call``'s ``key=value``
    pairs: it stops collecting positionals at the first option, and they
    may continue after options (``call m t --json a=1``)."""
    return args.command == "call" and not any(item.startswith("-") for item in extra)


def _report(exc: Exception, console: Console, *, debug: bool) -> int:
    """Say what failed (the traceback too with ``--debug``); the exit code."""
    if debug:
        traceback.print_exc()
    message, code = describe(exc)
    console.error(message)
    for detail in getattr(exc, "details", ()):
        console.status(f"  {detail}")
    return code


#: command -> (module of utcp_http_stream.cli, its runner); imported when the
#: command runs, so each command loads only what it needs.
_COMMANDS = {
    "validate": ("validate", "run_validate"),
    "convert": ("convert", "run_convert"),
    "demo": ("demo", "run_demo"),
    "serve-demo": ("demo", "run_serve_demo"),
    "discover": ("discover", "run_discover"),
    "call": ("call", "run_call"),
    "request": ("call", "run_request"),
}


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    module, name = _COMMANDS[args.command]  # argparse rejects unknown commands
    runner = getattr(importlib.import_module(f"utcp_http_stream.cli.{module}"), name)
    if inspect.iscoroutinefunction(runner):
        return asyncio.run(runner(args, console))
    return runner(args, console)


def _configure_logging(*, debug: bool, verbose: bool) -> None:
    """A root handler before anything imports utcp, whose ``basicConfig`` then
    does nothing. Silent unless ``--verbose``/``--debug``."""
    root = logging.getLogger()
    if debug or verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG if debug else logging.INFO)
    else:
        handler = logging.NullHandler()
        root.setLevel(logging.CRITICAL)
    root.addHandler(handler)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
