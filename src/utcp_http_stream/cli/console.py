"""Terminal output: rich on a terminal, plain lines everywhere else.

Results go to stdout, status and errors to stderr. ``rich`` is imported only
when a stream is an interactive terminal and ``NO_COLOR`` is unset (and
``TERM`` is not ``dumb``), and only if it is installed (the ``cli`` extra);
otherwise every method writes plain text without a single escape code, so
piped output and logs stay clean.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import IO, Any

__all__ = ["Console", "Progress", "format_bytes", "format_duration", "plural", "wants_fancy"]


def wants_fancy(stream: IO[str]) -> bool:
    """True when ``stream`` is a terminal that may get colour and live bars
    (and rich, the ``cli`` extra, is installed)."""
    if not _colour_allowed():
        return False
    if importlib.util.find_spec("rich") is None:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _colour_allowed() -> bool:
    """Neither ``NO_COLOR`` (set, non-empty) nor ``TERM=dumb`` asks for plain output."""
    return os.environ.get("NO_COLOR", "") == "" and os.environ.get("TERM") != "dumb"


def format_bytes(count: float) -> str:
    """``1536`` -> ``1.5 KiB``: binary units, as download tools show them."""
    value, unit = float(count), "B"
    for larger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def plural(count: int, noun: str) -> str:
    """``1 tool``, ``3 tools``."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


class Console:
    """The CLI's two output streams and how fancy each may be."""

    def __init__(self, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.fancy_out = wants_fancy(self.stdout)
        self.fancy_err = wants_fancy(self.stderr)
        self._rich: dict[bool, Any] = {}  # err -> rich console

    # -- rich consoles, created on first use ------------------------------------

    def rich(self, *, err: bool = False) -> Any:
        from rich.console import Console as RichConsole

        if err not in self._rich:
            self._rich[err] = RichConsole(file=self.stderr if err else self.stdout, highlight=False, soft_wrap=True)
        return self._rich[err]

    # -- stdout -------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Raw text to stdout, flushed at once (live token output)."""
        self.stdout.write(text)
        self.stdout.flush()

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line to stdout; ``style`` (a rich style) only on a terminal."""
        if self.fancy_out and style:
            from rich.text import Text

            self.rich().print(Text(text, style=style))
        else:
            self.write(text + "\n")

    def heading(self, text: str) -> None:
        if self.fancy_out:
            self.rich().rule(f"[bold]{_escape(text)}[/]", align="left", style="cyan")
        else:
            self.line(f"== {text}")

    def _rich_table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold")
        for index, column in enumerate(columns):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*row)
        self.rich().print(table)

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        """A table; the first column left-aligned, the rest right-aligned."""
        if self.fancy_out:
            self._rich_table(title, columns, rows)
            return
        for text in _plain_table(title, columns, rows):
            self.line(text)

    # -- stderr -------------------------------------------------------------------

    def status(self, text: str, style: str | None = None) -> None:
        """A status line on stderr (never mixed into results on stdout)."""
        if self.fancy_err and style:
            from rich.text import Text

            self.rich(err=True).print(Text(text, style=style))
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def error(self, message: str) -> None:
        self.status(f"error: {message}", style="bold red")

    def warning(self, message: str) -> None:
        self.status(f"warning: {message}", style="yellow")

    # -- progress -------------------------------------------------------------------

    def progress(self, description: str, total: float | None, *, unit: str = "bytes", err: bool = False) -> Progress:
        """A progress display for one task: a live rich bar on a terminal,
        otherwise a plain line at every quarter (or just the end when the
        total is unknown). ``unit`` is ``"bytes"`` or ``"steps"``."""
        fancy = self.fancy_err if err else self.fancy_out
        return Progress(self, description, total, unit=unit, err=err, fancy=fancy)


class Progress:
    """One task's progress; use as a context manager, call :meth:`update`."""

    def __init__(
        self, console: Console, description: str, total: float | None, *, unit: str, err: bool, fancy: bool
    ) -> None:
        self.console = console
        self.description = description
        self.total = total
        self.unit = unit
        self.err = err
        self.fancy = fancy
        self.completed = 0.0
        self.message = ""
        self._started = time.perf_counter()
        self._next_quarter = 1
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.fancy:
            from rich import progress as rp

            self._bar = rp.Progress(*self._columns(), console=self.console.rich(err=self.err), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, message="", done="", rate="")
        return self

    def _columns(self) -> list[Any]:
        """The rich bar's columns for this task's unit and total."""
        from rich import progress as rp

        if self.unit == "bytes" and not self.total:
            # Length unknown: no bar to fill, just the bytes so far and the rate.
            return [
                rp.TextColumn("{task.description}"),
                rp.SpinnerColumn(),
                rp.TextColumn("{task.fields[done]}", style="green"),
                rp.TextColumn("{task.fields[rate]}", style="red"),
                rp.TimeElapsedColumn(),
            ]
        if self.unit == "bytes":
            # Binary units throughout: rich's TransferSpeedColumn would
            # show MB/s beside the MiB of DownloadColumn.
            return [
                rp.TextColumn("{task.description}"),
                rp.BarColumn(),
                rp.TaskProgressColumn(),
                rp.DownloadColumn(binary_units=True),
                rp.TextColumn("{task.fields[rate]}", style="red"),
                rp.TextColumn("ETA"),
                rp.TimeRemainingColumn(),
            ]
        return [
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.TaskProgressColumn(),
            rp.MofNCompleteColumn(),
            rp.TextColumn("{task.fields[message]}", style="dim"),
        ]

    def update(self, completed: float, *, total: float | None = None, message: str | None = None) -> None:
        self.completed = completed
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=completed,
                total=self.total,
                message=self.message,
                done=format_bytes(completed),
                rate=self._rate_text(),
            )
            return
        self._plain_quarters()

    def _plain_quarters(self) -> None:
        """Without a bar: a line for each quarter of a known total reached."""
        while self.total and self._next_quarter <= 4 and self.completed >= self.total * self._next_quarter / 4:
            self._plain(f"{25 * self._next_quarter:3d}%")
            self._next_quarter += 1

    def advance(self, amount: float, *, message: str | None = None) -> None:
        self.update(self.completed + amount, message=message)

    def _plain_done(self) -> str:
        """How far a byte transfer is: done, total, rate and, when known, the ETA."""
        rate, total = self._rate(), self.total or 0
        done = f"{format_bytes(self.completed)} of {format_bytes(total)}, {self._rate_text()}"
        left = total - self.completed
        if left > 0 and rate > 0:
            done += f", ETA {format_duration(left / rate)}"
        return done

    def _rate(self) -> float:
        elapsed = time.perf_counter() - self._started
        return self.completed / elapsed if elapsed > 0 else 0.0

    def _rate_text(self) -> str:
        return f"{format_bytes(self._rate())}/s" if self.unit == "bytes" else ""

    def _plain(self, percent: str) -> None:
        if self.unit == "bytes":
            text = f"  {self.description} {percent}  {self._plain_done()}"
        else:
            text = f"  {self.description} {percent}  {int(self.completed)}/{int(self.total or 0)}"
            if self.message:
                text += f"  {self.message}"
        self._say(text)

    def _say(self, text: str) -> None:
        """A plain line where this task reports: stderr or stdout."""
        (self.console.status if self.err else self.console.line)(text)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif exc_type is None and not self.total:
            self._plain_total()

    def _plain_total(self) -> None:
        """Without a bar or a known total, at the end: how much, in how long."""
        elapsed = time.perf_counter() - self._started
        amount = format_bytes(self.completed) if self.unit == "bytes" else f"{int(self.completed)} steps"
        self._say(f"  {self.description} {amount} in {format_duration(elapsed)}")


def _plain_table(title: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    """A table's lines as plain text: title, header, rule, rows."""
    widths = _widths([columns, *rows])
    rule = ["-" * width for width in widths]
    return [title, *(_aligned(cells, widths) for cells in (columns, rule, *rows))]


def _widths(lines: list[list[str]]) -> list[int]:
    """Each column's width: its widest cell."""
    return [max(len(str(cell)) for cell in column) for column in zip(*lines, strict=False)]


def _aligned(cells: list[str], widths: list[int]) -> str:
    """One table line: the first cell left-aligned, the rest right-aligned."""
    parts = [
        str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=False))
    ]
    return "  ".join(parts).rstrip()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
