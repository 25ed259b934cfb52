"""Floors: what the same work costs with nothing between Python and SQLite or Ed25519.

* SQLite: stdlib ``sqlite3`` ``executemany`` of rows shaped like ``packs`` (same columns, the
  same UNIQUE(gtin, serial) and container index), WAL, ``synchronous=NORMAL``, one transaction.
* Ed25519: ``Ed25519PublicKey.verify`` of 64-byte signatures over ~300-byte messages, one public
  key object loaded once.
"""

from __future__ import annotations

import gc
import random
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from time import perf_counter, process_time

from bench.consortium import GTIN, key
from bench.files import TimedRun, remove_sqlite, sqlite_bytes

#: The ``packs`` table as the store creates it (node/store/models.py), by hand.
PACKS_DDL = (
    "CREATE TABLE packs ("
    " id INTEGER NOT NULL PRIMARY KEY,"
    " gtin VARCHAR(14) NOT NULL,"
    " serial VARCHAR(20) NOT NULL,"
    " lot INTEGER NOT NULL,"
    " commissioned INTEGER NOT NULL,"
    " custodian INTEGER NOT NULL,"
    " status VARCHAR(12) NOT NULL,"
    " destination VARCHAR(32),"
    " container VARCHAR(64),"
    " prior VARCHAR(12),"
    " changed_by INTEGER,"
    " last INTEGER,"
    " CONSTRAINT uq_packs_gtin_serial UNIQUE (gtin, serial))",
    "CREATE INDEX ix_packs_container ON packs (container)",
)
_INSERT = (
    "INSERT INTO packs (gtin, serial, lot, commissioned, custodian, status, destination,"
    " container, prior, changed_by, last) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

Row = tuple[str, str, int, int, int, str, None, None, None, int, int]


def pack_rows(serials: Sequence[str], chunk: int = 1_000) -> list[Row]:
    """Rows like the pack rows commissioning writes: lot 1, one entry per ``chunk`` serials."""
    return [
        (GTIN, serial, 1, 1 + i // chunk, 1, "active", None, None, None, 1 + i // chunk, 1)
        for i, serial in enumerate(serials)
    ]


def sqlite_floor_once(path: Path, rows: Sequence[Row]) -> TimedRun:
    """Insert ``rows`` into a fresh database at ``path`` in one transaction; time it."""
    remove_sqlite(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in PACKS_DDL:
            conn.execute(statement)
        gc.collect()
        start, cpu = perf_counter(), process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        seconds, cpu = perf_counter() - start, process_time() - cpu
        stored = conn.execute("SELECT count(*) FROM packs").fetchone()[0]
    if stored != len(rows):
        raise RuntimeError(f"expected {len(rows)} rows in the floor table, found {stored}")
    size = sqlite_bytes(path)
    remove_sqlite(path)
    return TimedRun(seconds, len(rows), size, cpu)


def ed25519_floor(verifications: int, *, repeats: int = 3, message_bytes: int = 300) -> float:
    """Best verifications per second over ``repeats`` runs of ``verifications`` calls each."""
    private = key(11)
    public = private.public_key()
    rng = random.Random(7)
    messages = [rng.randbytes(message_bytes) for _ in range(min(verifications, 1_000))]
    pairs = [(private.sign(message), message) for message in messages]
    work = [pairs[i % len(pairs)] for i in range(verifications)]
    for signature, message in pairs[:100]:  # warm-up
        public.verify(signature, message)
    best = float("inf")
    for _ in range(repeats):
        start = perf_counter()
        for signature, message in work:
            public.verify(signature, message)
        best = min(best, perf_counter() - start)
    return verifications / best
