"""A one-line description of the machine a run happened on."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown cpu"
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Processor", "cpu model") and value.strip():
            return " ".join(value.split())
    return platform.machine() or "unknown cpu"


def describe() -> str:
    """``AMD EPYC, 2 cores, Python 3.11.7, SQLite 3.40.1`` (cores as the OS reports them)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, {cores or '?'} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
