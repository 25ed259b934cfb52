"""Resident memory of node process trees, read from /proc, and whether it stayed flat.

A node is a server's master process and its forked workers; a leak may live in either, and a
worker that the master re-forks starts small again, so each sample sums the whole tree at that moment.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every descendant of ``pid`` (by the parent pid in /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone since the listing
        # the command name is in parentheses and may hold spaces: split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident set size of one process in bytes; 0 if it is gone."""
    try:
        resident = int((proc / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * _PAGE


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the start of the load
    processes: int
    rss: int  # bytes, the whole tree


def sample_tree(pid: int, t: float) -> Sample:
    pids = [pid, *children(pid)]
    sizes = [rss(p) for p in pids]
    return Sample(t, sum(1 for s in sizes if s), sum(sizes))


@dataclass(frozen=True)
class Trend:
    start_mb: float  # the first sample
    warm_mb: float  # median of the samples in the window after warm-up
    end_mb: float  # median of the samples in the last window
    growth_mb: float  # end - warm
    slope_mb_per_min: float  # least squares over the samples after warm-up
    bound_mb: float
    processes: int

    @property
    def flat(self) -> bool:
        return self.growth_mb <= self.bound_mb

    def to_json(self) -> dict[str, float | int | bool]:
        return {
            "start_mb": round(self.start_mb, 1),
            "warm_mb": round(self.warm_mb, 1),
            "end_mb": round(self.end_mb, 1),
            "growth_mb": round(self.growth_mb, 2),
            "slope_mb_per_min": round(self.slope_mb_per_min, 3),
            "bound_mb": round(self.bound_mb, 1),
            "processes": self.processes,
            "flat": self.flat,
        }


def trend(
    samples: list[Sample], warmup_s: float, *, fraction: float, floor_mb: float, window_s: float
) -> Trend:
    """Growth after ``warmup_s``: medians of a window at each end (one sample is noise), the
    bound ``max(fraction * warm, floor_mb)``, and the least-squares slope in MB per minute."""
    if not samples:
        raise ValueError("expected memory samples, found none")
    after = [s for s in samples if s.t >= warmup_s] or samples[-1:]
    first = [s.rss for s in after if s.t <= after[0].t + window_s]
    last = [s.rss for s in after if s.t >= after[-1].t - window_s]
    warm = statistics.median(first) / MB
    end = statistics.median(last) / MB
    slope = 0.0
    if len(after) >= 2 and after[-1].t > after[0].t:
        fit = statistics.linear_regression([s.t for s in after], [s.rss / MB for s in after])
        slope = fit.slope * 60
    return Trend(
        start_mb=samples[0].rss / MB,
        warm_mb=warm,
        end_mb=end,
        growth_mb=end - warm,
        slope_mb_per_min=slope,
        bound_mb=max(fraction * warm, floor_mb),
        processes=max(s.processes for s in samples),
    )
