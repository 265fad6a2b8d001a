"""Profile the plugin on one case: pyinstrument's call tree (wall clock), then
cProfile on the CPU clock, functions by self CPU time."""

from __future__ import annotations

import cProfile
import io
import pstats
import time

from bench.config import Config
from bench.runner import run_once
from bench.scenarios import build_cases
from bench.servers import ServerProcess
from bench.targets import Clients, plugin_default_backend

PROFILE_CASES = {
    "bytes4k": ("bytes_4k", "plugin"),
    "bytes64k": ("bytes_64k", "plugin"),
    "ndjson": ("ndjson", None),
    "sse": ("sse", None),
    "calls": ("calls_seq", "plugin"),
    "client": ("calls_seq", "plugin via UtcpClient"),
    "concurrent": ("calls_concurrent", "plugin"),
}


async def profile_case(cfg: Config, which: str, repeat: int, backend: str | None) -> str:
    case_key, impl_name = PROFILE_CASES[which]
    cfg.cases = (case_key,)
    with ServerProcess() as server:
        async with Clients(server.base, with_utcp_http=False) as clients:
            case = build_cases(cfg, clients)[0]
            if impl_name is None:
                chosen = backend or plugin_default_backend()
                impl_name = f"plugin ({chosen})" if any(i.name.startswith("plugin (") for i in case.impls) else "plugin"
            impl = next(i for i in case.impls if i.name == impl_name)
            await run_once(case, impl, clients)  # warm-up
            report = [f"{case.title}: {impl.name}, {repeat} runs per profiler"]
            try:
                from pyinstrument import Profiler
            except ImportError:
                report.append("(pyinstrument not installed: pip install pyinstrument; cProfile only)")
            else:
                profiler = Profiler(interval=0.0002, async_mode="disabled")
                profiler.start()
                for _ in range(repeat):
                    rec = await run_once(case, impl, clients, collect=False)
                profiler.stop()
                report.append(f"pyinstrument (last run {rec.value:,.1f} {case.unit} under the sampler):")
                report.append(profiler.output_text(time="percent_of_total"))
            # CPU time, not wall: on a loaded machine a wall-clock profile of a
            # sequential call shows mostly socket.send (the client waiting for a core).
            prof = cProfile.Profile(time.process_time)
            prof.enable()
            for _ in range(repeat):
                rec = await run_once(case, impl, clients, collect=False)
            prof.disable()
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats("utcp_http_stream", 40)
            report.append(
                f"cProfile (CPU clock), by self CPU time (last run {rec.value:,.1f} {case.unit} under cProfile):"
            )
            report.append(buf.getvalue())
            return "\n".join(report)
