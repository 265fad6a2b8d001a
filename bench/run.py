"""End-to-end benchmark: this plugin vs ``utcp-http`` vs a raw aiohttp loop.

    python bench/run.py                 # full run (every case, 5 rounds), a few minutes
    python bench/run.py --quick         # the headline scenarios, under ~2 minutes
    python bench/run.py --json out.json # results file (default bench/results.json)
    python bench/run.py --profile calls # profile the plugin on one case

A loopback aiohttp server runs in its own process (``bench/loopback_server.py``);
this process is the client only, so ``time.process_time()`` is client CPU.
Implementations run in interleaved rounds and ratios are *paired*: computed
between the runs of one round, then the median is reported. The parts:

- ``config.py``     sizes and modes
- ``servers.py``    the loopback server process
- ``targets.py``    the clients compared (plugin, utcp-http, raw aiohttp)
- ``scenarios.py``  the full benchmark's cases
- ``headline.py``   the headline scenarios (``--quick``)
- ``runner.py``     rounds, warm-up and the once-only extras
- ``stats.py``      paired ratios and medians
- ``report.py``     targets and the text report
- ``slow_consumer.py``, ``profiling.py``, ``decoders.py``

See ``bench/README.md`` for the method and figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script (python bench/run.py), Python puts bench/ first on the path;
# the parts are imported as the ``bench`` package from the repository root.
_HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
        del sys.path[0]  # so that bench/stats.py and friends never shadow a top-level module
    if str(_HERE.parent) not in sys.path:
        sys.path.insert(0, str(_HERE.parent))

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
