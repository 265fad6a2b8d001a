"""The loopback server (``bench/loopback_server.py``) in its own process."""

from __future__ import annotations

import subprocess
import sys

from bench.config import SERVER_SCRIPT


class ServerProcess:
    """``bench/loopback_server.py`` in a child process; ``.base`` is its URL."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(SERVER_SCRIPT), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the loopback server did not start (got {line!r})")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
