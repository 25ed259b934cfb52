"""CPU time spent by a server under load, from ``/proc`` (Linux): a node's process group (the
granian master and its workers) and a PostgreSQL server (the postmaster and its backends).

Clock ticks of user + system time; a process that ended inside the window is counted through
its parent's ``cutime``/``cstime`` once reaped. Elsewhere than Linux the figures are 0.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def _stats() -> list[list[str]]:
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:  # ended while we looked
            continue
        # comm may hold spaces and parentheses: split after its closing one
        found.append(text[text.rindex(")") + 2 :].split())
    return found


def _seconds(fields: list[str], children: bool) -> float:
    # after comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * _TICK_S


def group_cpu_s(pgid: int) -> float:
    """CPU seconds of every process in process group ``pgid`` (and its reaped children)."""
    return sum(_seconds(f, True) for f in _stats() if int(f[2]) == pgid)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of process ``pid``, its reaped children and its live children."""
    total = 0.0
    for fields in _stats():
        if int(fields[1]) == pid:
            total += _seconds(fields, False)
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        text = stat.read_text()
        total += _seconds(text[text.rindex(")") + 2 :].split(), True)
    return total
