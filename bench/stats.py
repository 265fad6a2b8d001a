"""Paired statistics: medians of values and of per-pair ratios.

A ratio "vs X" is computed between the two runs of one sample (adjacent in
time, so under the same background load), and the median of those ratios is
reported, never the ratio of two medians."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """One measured run of one implementation (a NaN value: the run failed, see error)."""

    wall: float
    cpu: float
    value: float
    connections: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def median(values: list[float]) -> float | None:
    """The median, NaN (a failed run) left out; None when nothing is left."""
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else None


def summarize(case: Any, recs: dict[str, list[Record]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": case.title,
        "unit": case.unit,
        "higher_is_better": case.higher_is_better,
        "refs": case.refs,
        "impls": {},
    }
    for name, rows in recs.items():
        values = [row.value for row in rows]
        entry: dict[str, Any] = {
            "values": [round(v, 4) for v in values],
            "walls_s": [round(row.wall, 5) for row in rows],
            "cpus_s": [round(row.cpu, 5) for row in rows],
            "median": median(values),
            "median_wall_s": median([row.wall for row in rows]),
            "median_cpu_s": median([row.cpu for row in rows]),
            "errors": [row.error for row in rows if row.error],
        }
        if case.count_connections:
            conns = [row.connections for row in rows if row.connections is not None]
            entry["connections"] = conns
            entry["median_connections"] = median([float(x) for x in conns])
        if any(row.extra for row in rows):
            entry["extra"] = [row.extra for row in rows]
        ratios: dict[str, Any] = {}
        for ref in case.refs:
            if ref == name or ref not in recs:
                continue
            pairs = [
                (a.value, b.value)
                for a, b in zip(rows, recs[ref], strict=False)
                if a.value == a.value and b.value == b.value and b.value
            ]
            ratios[ref] = {
                "paired_ratio": median([a / b for a, b in pairs]),
                "paired_diff": median([a - b for a, b in pairs]),
                "ratios": [round(a / b, 4) for a, b in pairs],
                # >1: this implementation used less client CPU than the reference
                "cpu_saving": median([b.cpu / a.cpu for a, b in zip(rows, recs[ref], strict=False) if a.cpu and b.cpu]),
            }
        entry["vs"] = ratios
        out["impls"][name] = entry
    return out


def block_ratios(a: list[float], b: list[float], per_block: int = 2) -> list[float]:
    """``sum(a) / sum(b)`` over each block of ``per_block`` consecutive runs per side.

    With rounds run A B B A (the next one B A A B), a block is one round: which
    side runs first, and any load that rises or falls steadily through the
    round, weigh the same on both sides, so the per-round ratio cancels them.
    (Ratios of single runs taken in alternating order split into two clusters,
    A-first and B-first, and their median can land anywhere between the two.)
    """
    out = []
    for start in range(0, min(len(a), len(b)) - per_block + 1, per_block):
        num, den = sum(a[start : start + per_block]), sum(b[start : start + per_block])
        if num == num and den == den and den > 0:  # NaN: a failed run
            out.append(num / den)
    return out
