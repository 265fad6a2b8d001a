"""Showing a stream as it arrives: text live, JSON lines, or bytes to a file.

Rendering rules, the same whichever way the items were obtained:

- ``--json``: one JSON value per line (bytes chunks as ``{"base64": ...}``).
- str items: when the tool selects a field out of each event (``select``,
  typically a token delta) they are written back to back, as the text they
  form; otherwise (text lines, plain SSE messages) one per line. ``--lines``
  forces one per line.
- other JSON items: one compact JSON document per line (a whole ``json``
  response pretty-printed).
- bytes: to ``-o FILE`` with a progress bar, or to stdout when stdout is not
  a terminal; never dumped onto a terminal.

``-o FILE`` is written to a temporary file beside it and renamed into place
only when the stream completed, so an interrupted download never leaves a
truncated file under the final name.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from utcp_http_stream.cli.console import Console, Progress, format_bytes, format_duration
from utcp_http_stream.cli.failures import UsageError

__all__ = ["StreamRenderer"]


class StreamRenderer:
    """Writes one stream's items; ``with`` it around the iteration."""

    def __init__(
        self,
        console: Console,
        *,
        json_lines: bool = False,
        output: str | None = None,
        lines: bool = False,
        tokens: bool = False,
        label: str = "stream",
    ) -> None:
        self.console = console
        self.json_lines = json_lines
        self.output = None if output in (None, "-") else Path(output)  # type: ignore[arg-type]
        self.lines = lines
        self.tokens = tokens and not lines
        self.label = label
        self.framing: str | None = None
        self.total: int | None = None
        self.items = 0
        self.bytes = 0
        self.first_item_at: float | None = None
        self._started = time.perf_counter()
        self._file: IO[bytes] | None = None
        self._temp_path: Path | None = None
        self._sha256 = hashlib.sha256()
        self._progress: Progress | None = None
        self._at_line_start = True

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> StreamRenderer:
        if self.output is not None:
            self._open_part_file(self.output)
        return self

    def _open_part_file(self, output: Path) -> None:
        """A temporary file beside ``output``, renamed into place when the stream completes."""
        directory = output.parent if str(output.parent) else Path(".")
        if not directory.is_dir():
            raise UsageError(f"-o {output}: directory {directory} does not exist")
        fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=directory)
        self._file = os.fdopen(fd, "wb")
        self._temp_path = Path(temp)

    def begin(self, *, framing: str | None = None, total: int | None = None) -> None:
        """What the response said about itself, when known (direct calls)."""
        self.framing = framing
        self.total = total
        if framing == "bytes":
            self._start_progress()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
            self._progress = None
        if exc_type is None:
            self._finish()
        else:
            self._discard()

    # -- items ---------------------------------------------------------------------

    def feed(self, item: Any) -> None:
        if self.first_item_at is None:
            self.first_item_at = time.perf_counter()
        self.items += 1
        if self.json_lines:
            self._json_line(item)
        elif isinstance(item, bytes | bytearray | memoryview):
            self._binary(bytes(item))
        else:
            self._text(self._shown(item))

    def _shown(self, item: Any) -> str:
        """A text or JSON item as it is written: tokens back to back, other
        text a line each, JSON compact (a whole ``json`` response pretty)."""
        if isinstance(item, str):
            return item if self.tokens else item + "\n"
        indent = 2 if self.framing == "json" else None
        return json.dumps(item, ensure_ascii=False, indent=indent) + "\n"

    def _json_line(self, item: Any) -> None:
        """``--json``: the item as one JSON line, bytes as ``{"base64": ...}``."""
        if isinstance(item, bytes | bytearray | memoryview):
            self.bytes += len(item)
            item = {"base64": base64.b64encode(bytes(item)).decode("ascii")}
        self._text(json.dumps(item, ensure_ascii=False) + "\n")

    def _text(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8")
        self.bytes += len(data)
        if self._file is not None:
            self._file.write(data)
            self._sha256.update(data)
        else:
            self.console.write(text)
        self._at_line_start = text.endswith("\n")

    def _binary(self, data: bytes) -> None:
        if self._file is None and self.console.stdout.isatty():
            raise UsageError(
                "the tool streams binary data; refusing to write it to the terminal: pass -o FILE (or redirect stdout)"
            )
        self._start_progress()
        self.bytes += len(data)
        if self._file is not None:
            self._file.write(data)
            self._sha256.update(data)
        else:
            buffer = self.console.stdout.buffer  # type: ignore[attr-defined]
            buffer.write(data)
            buffer.flush()
        if self._progress is not None:
            self._progress.update(self.bytes)

    def _start_progress(self) -> None:
        # A bar only when the bytes go to a file and someone watches stderr.
        if self._progress is None and self._file is not None and self.console.fancy_err:
            self._progress = self.console.progress(self.label, self.total, unit="bytes", err=True)
            self._progress.__enter__()

    # -- the end ---------------------------------------------------------------------

    def _finish(self) -> None:
        if self._file is not None:
            self._save_output(self._file)
            return
        if self._line_open():
            self.console.write("\n")
        if self.console.fancy_err:
            self._show_stats()

    def _save_output(self, file: IO[bytes]) -> None:
        """Close the complete ``-o`` file, rename it into place, and say so."""
        file.close()
        self._file = None
        assert self._temp_path is not None and self.output is not None
        os.replace(self._temp_path, self.output)
        self._temp_path = None
        self.console.status(
            f"wrote {self.bytes} bytes to {self.output} (sha256 {self._sha256.hexdigest()})",
            style="green",
        )

    def _show_stats(self) -> None:
        """Items, bytes and timings of the stream, on stderr."""
        elapsed = time.perf_counter() - self._started
        first = None if self.first_item_at is None else self.first_item_at - self._started
        self.console.status(
            f"{self.items} item(s), {format_bytes(self.bytes)}, "
            f"first item after {format_duration(first)}, done in {format_duration(elapsed)}",
            style="dim",
        )

    def _line_open(self) -> bool:
        """Whether token text on stdout still lacks its final newline."""
        return self.tokens and not self._at_line_start and self._file is None

    def _discard(self) -> None:
        if self._line_open():
            with contextlib.suppress(OSError):
                self.console.write("\n")
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)
            self._temp_path = None
