"""Node.js's own HTTP server (``node``, when the machine has it) on 127.0.0.1:
the server that announces its keep-alive (``Keep-Alive: timeout=N``) and
closes idle connections on that timer, ``keepAliveTimeout`` (5 s by default,
as Express and Next.js inherit it).

Every request is answered with JSON ``{"connection": n, "method": ...}`` (the
number of the TCP connection it came on) after its body was read;
``/stats`` answers ``{"connections": n}``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator

__all__ = ["NODE", "running_node"]

#: The ``node`` executable, or None (tests that need it skip).
NODE = shutil.which("node")

_SERVER = r"""
const http = require('http');
let connections = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = req.url === '/stats'
      ? JSON.stringify({connections})
      : JSON.stringify({connection: req.socket.number, method: req.method});
    res.writeHead(200, {'Content-Type': 'application/json'});
    res.end(body);
  });
});
server.on('connection', (socket) => { socket.number = ++connections; });
server.keepAliveTimeout = parseInt(process.argv[1], 10);
server.listen(0, '127.0.0.1', () => { console.log('PORT ' + server.address().port); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
"""


@contextlib.contextmanager
def running_node(keep_alive_ms: int) -> Iterator[str]:
    """A Node server whose ``keepAliveTimeout`` is ``keep_alive_ms``; yields
    its base URL. It exits when its stdin closes (or is killed after 5 s)."""
    assert NODE is not None
    process = subprocess.Popen(
        [NODE, "-e", _SERVER, str(keep_alive_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"node did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
