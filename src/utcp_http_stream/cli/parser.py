"""The command line: argparse only, so ``--help`` needs no third-party import."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from utcp_http_stream.cli.failures import EXIT_USAGE

__all__ = ["build_parser"]

PROG = "utcp-http-stream"

_NAMING = (
    "Variables: ${VAR} placeholders resolve as in UtcpClient, namespaced by the manual name with its "
    "underscores doubled: ${API_KEY} of manual 'my_api' is looked up as my__api_API_KEY, in the environment "
    "or the --env-file. The manual name is --name if given, else a call template file's name field, else "
    "(a UTCP manual has no name) the manual file's name without .json, else the URL's host "
    "(api.example.com -> example, 127.0.0.1:8765 -> local8765). 'discover' lists the exact names to set."
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line (plus where to get help), exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def _paragraphs(*texts: str) -> str:
    """Paragraphs wrapped for a raw-formatted help text; one holding a line
    break (an example) is kept as written."""
    return "\n\n".join(text if "\n" in text else textwrap.fill(text, 78, break_on_hyphens=False) for text in texts)


def _common() -> argparse.ArgumentParser:
    # SUPPRESS: the flags work before or after the subcommand without the
    # subparser's default overwriting the top-level value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs"
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the libraries' info logs",
    )
    return common


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="one JSON value per line for each item")
    group.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the stream to FILE (bytes as they are, with a progress bar); '-' for stdout",
    )
    group.add_argument("--lines", action="store_true", help="print every text item on its own line")
    group.add_argument("-i", "--include", action="store_true", help="show the response status and headers (on stderr)")


def build_parser() -> argparse.ArgumentParser:
    from utcp_http_stream import __version__

    common = _common()
    parser = _Parser(
        prog=PROG,
        description="Stream UTCP tool calls over HTTP (SSE, NDJSON, text, bytes) from the command line.",
        epilog="Exit codes: 0 ok, 1 call failed, 2 usage or validation error, 130 interrupted.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="start the embedded demo server and stream every demo tool through UtcpClient",
        description="Start the embedded demo server on a free loopback port, register its manual with a "
        "UtcpClient and stream each tool: an SSE token stream, NDJSON job progress, a text log tail and a "
        "multi-megabyte download (sha256-checked), then print a summary.",
    )
    demo.add_argument("--prompt", default="Why stream tool output?", help="what to ask the demo model")

    serve = sub.add_parser(
        "serve-demo",
        parents=[common],
        help="run the demo server alone until Ctrl-C",
        description="Run the demo server (its manual at /utcp, open streams at /stats) until Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port (default 8765, as in manuals/demo.json; 0 = any free port)",
    )

    discover = sub.add_parser(
        "discover",
        parents=[common],
        help="list a manual's tools, their inputs and the variables to set",
        description=_paragraphs(
            "List a manual's tools with their inputs, their call, and every ${VAR} they need under the "
            "exact name to set. SOURCE is a /utcp URL (registered through UtcpClient; the scheme may be left out: "
            "http:// for loopback, https:// otherwise), a manual call template file, or a UTCP manual file."
        ),
        epilog=_paragraphs(_NAMING),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    discover.add_argument("source", metavar="SOURCE", help="a /utcp URL, a manual call template file or a manual file")
    discover.add_argument("--json", action="store_true", help="print the manual as JSON")
    discover.add_argument("--name", help="manual name, the namespace of its variables (see below)")
    discover.add_argument("--env-file", metavar="FILE", help="a .env file to resolve ${VAR} from")

    call = sub.add_parser(
        "call",
        parents=[common],
        help="call one tool of a manual and stream its output",
        description=_paragraphs(
            "Call one tool and stream its output live. MANUAL is a UTCP manual file, a manual call "
            "template file, or a /utcp URL (registered with UtcpClient; the scheme may be left out). key=value "
            "arguments take the type the tool's inputs give them (job_id=42 stays a string when the schema says "
            "string) and are checked against the schema before anything is sent."
        ),
        epilog=_paragraphs(
            "Example:\n  utcp-http-stream call manuals/demo.json chat prompt='hello' max_tokens=20", _NAMING
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("manual", metavar="MANUAL", help="manual file, manual call template file, or /utcp URL")
    call.add_argument("tool", metavar="TOOL", help="tool name (with or without the 'manual.' prefix)")
    call.add_argument(
        "pairs",
        metavar="key=value",
        nargs="*",
        default=[],
        help="tool arguments, converted to the types of the tool's inputs",
    )
    call.add_argument("--args", metavar="JSON", help="tool arguments as a JSON object (or @file.json)")
    call.add_argument("--env-file", metavar="FILE", help="a .env file to resolve ${VAR} from")
    call.add_argument("--name", help="manual name, the namespace of its variables (see below)")
    _output_options(call)

    request = sub.add_parser(
        "request",
        parents=[common],
        help="an ad-hoc streaming request, to try an endpoint before writing a manual",
        description="Send one streaming request with the plugin's decoding and security rules.",
    )
    request.add_argument("method", metavar="METHOD", type=str.upper, help="GET, POST, PUT, PATCH, DELETE or HEAD")
    request.add_argument("url", metavar="URL", help="https URL (plain http only to loopback)")
    request.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a request header (repeatable)",
    )
    request.add_argument("--body", metavar="JSON", help="request body: JSON is sent as JSON, other text as is; @file")
    request.add_argument("--content-type", metavar="TYPE", help="Content-Type of the body")
    request.add_argument(
        "--format",
        choices=("auto", "sse", "ndjson", "json_seq", "json", "text", "bytes"),
        default="auto",
        help="framing of the response (default: from its Content-Type)",
    )
    request.add_argument("--select", metavar="POINTER", help="JSON Pointer applied to each item, e.g. /choices/0")
    request.add_argument("--timeout", type=int, default=60_000, metavar="MS", help="whole call, 0 = none")
    request.add_argument("--connect-timeout", type=int, default=None, metavar="MS",
                         help="until headers (default: the client setting, 5000)")
    request.add_argument("--idle-timeout", type=int, metavar="MS", help="between two pieces of body")
    _output_options(request)

    convert = sub.add_parser(
        "convert",
        parents=[common],
        help="write the UTCP manual an OpenAPI document converts to",
        description="Convert an OpenAPI 3.x or Swagger 2.0 document (JSON or YAML, a file or a URL) to the UTCP "
        "manual register_manual would build from it, to review, edit and commit. Operations that cannot be "
        "converted are named on stderr.",
    )
    convert.add_argument("spec", metavar="SPEC", help="an OpenAPI document: file or URL")
    convert.add_argument("-o", "--output", metavar="FILE", help="write the manual to FILE (default: stdout)")
    convert.add_argument(
        "--base-url", metavar="URL", help="resolve relative server URLs against URL (default: SPEC's URL)"
    )

    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check manuals and call templates; upgrade legacy v0.1 http_stream providers",
        description="Report every problem with its JSON path (exit 2), or say OK (exit 0). A legacy v0.1 "
        "provider, provider list or manual is upgraded and its v1 equivalent printed.",
    )
    validate.add_argument("files", metavar="FILE", nargs="+", help="JSON file(s) to check")
    validate.add_argument("--write", action="store_true", help="save an upgraded file over the original (.bak kept)")
    return parser
