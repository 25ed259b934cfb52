"""SQLite files of a benchmark run: their size on disk and their removal."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

_SIDECARS = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class TimedRun:
    """One timed run: ``count`` items (packs, rows, entries) written in ``seconds``, leaving a
    database of ``db_bytes``; ``cpu_seconds``, when measured, is the process's CPU time over the
    same span (SQLite's work included), which other processes on the machine disturb less."""

    seconds: float
    count: int
    db_bytes: int = 0
    cpu_seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


def sqlite_bytes(path: Path) -> int:
    """Size of a database as it rests: the main file plus its ``-wal`` after a checkpoint."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(f"{path}-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def remove_sqlite(path: Path) -> None:
    for suffix in _SIDECARS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)
