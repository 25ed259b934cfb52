"""Counters every server of a node shares: the token buckets and the serial-harvesting guard
(``api/ratelimit.py``), exact across processes and hosts (ADR 0021).

One row per guarded subject (``guard_counters``). A bucket is kept as GCRA: one number, the
bucket's *theoretical arrival time* ``tat`` (wall-clock seconds). A request at ``now`` is
allowed when ``max(tat, now) - now <= tau`` (``tau``: the burst, in seconds) and then moves
``tat`` on by one period; that is the token bucket of ``api.ratelimit.RateLimiter`` to the
request. One ``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` per take decides and updates
atomically (the database serialises takes of one row), and returns the subject's
serial-harvesting throttle with it: a guarded request costs one statement, one round trip.

Where: on PostgreSQL in the node's database, on one plain psycopg connection per thread in
autocommit mode (no BEGIN, no COMMIT, no pre-ping: one round trip, the statement prepared on the
server after its fifth use; a dropped connection is retried once on a new one). On SQLite in a
file of its own beside the store (``node.db`` -> ``node.counters.db``), so that a take never
waits behind a long ledger write, on one ``sqlite3`` connection per thread; the workers of one
host share it. SQLAlchemy is left out of the hot path on purpose: it cost 80 µs of a take's
90 µs on SQLite (ADR 0021). The rare writes of the harvesting guard go through SQLAlchemy.

The clock is the hosts' wall clock (``time.time``), passed in: servers of one node keep it in
step with NTP, and a few milliseconds of skew move a bucket by as little.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from node.store.engine import open_sqlite
from node.store.models import COUNTER_METADATA
from node.store.thread_connections import ThreadConnections

BUCKETS = ("query", "write")

_TAKE = {
    bucket: (
        f"INSERT INTO guard_counters (subject, query_tat, write_tat, ok, harvest_until, "  # noqa: S608 (bucket: a constant)
        f"harvest_alerted) VALUES (:subject, :start_q, :start_w, true, 0, 0) "
        f"ON CONFLICT (subject) DO UPDATE SET "
        f"ok = (CASE WHEN guard_counters.{bucket}_tat > :now THEN guard_counters.{bucket}_tat "
        f"ELSE :now END) - :now <= :tau, "
        f"{bucket}_tat = CASE WHEN (CASE WHEN guard_counters.{bucket}_tat > :now "
        f"THEN guard_counters.{bucket}_tat ELSE :now END) - :now <= :tau "
        f"THEN (CASE WHEN guard_counters.{bucket}_tat > :now THEN guard_counters.{bucket}_tat "
        f"ELSE :now END) + :period ELSE guard_counters.{bucket}_tat END "
        f"RETURNING ok, {bucket}_tat, harvest_until"
    )
    for bucket in BUCKETS
}
_LOCK_ROW = text(
    "INSERT INTO guard_counters (subject, query_tat, write_tat, ok, harvest_until, "
    "harvest_alerted) VALUES (:subject, 0, 0, true, 0, 0) "
    "ON CONFLICT (subject) DO UPDATE SET ok = guard_counters.ok RETURNING harvest_alerted"
)
_HARVEST_UNTIL = "SELECT harvest_until FROM guard_counters WHERE subject = :subject"
_NAMED = re.compile(r"(?<!:):([a-z_]+)")
_PRUNE = text("DELETE FROM harvest_probes WHERE subject = :subject AND stamp <= :since")
_PROBE = text(
    "INSERT INTO harvest_probes (subject, stamp, probed) VALUES (:subject, :now, :probed)"
)
_NEWEST = text(
    "SELECT stamp, probed FROM harvest_probes WHERE subject = :subject "
    "ORDER BY stamp DESC, id DESC LIMIT :n"
)
_THROTTLE = text(
    "UPDATE guard_counters SET harvest_until = CASE WHEN harvest_until > :until "
    "THEN harvest_until ELSE :until END, harvest_alerted = :alerted WHERE subject = :subject"
)


@dataclass(frozen=True)
class Taken:
    """A take from a bucket: ``wait`` 0.0 when allowed, else seconds until one is free; and
    until when (wall clock, 0.0: not) the subject is throttled for serial harvesting."""

    wait: float
    harvest_until: float


@dataclass(frozen=True, slots=True)
class TakeRequest:
    """One request from ``subject``'s ``bucket`` (``query`` or ``write``) of ``per_minute``
    requests a minute in bursts of ``burst``, at ``now`` (wall clock)."""

    subject: str
    bucket: str
    per_minute: int
    burst: int
    now: float


@dataclass(frozen=True)
class Probed:
    """One more unknown lookup counted: how many are in the window (at most the threshold),
    until when the subject is throttled (0.0: not), whether this one raises the alert, and
    the newest probed keys, oldest first."""

    count: int
    until: float
    alert: bool
    sample: tuple[str, ...]


def take_params(
    subject: str, bucket: str, *, per_minute: int, burst: int, now: float
) -> dict[str, Any]:
    """The parameters of a take's statement (``_TAKE``)."""
    period = 60.0 / max(per_minute, 1)
    return {
        "subject": subject,
        "now": now,
        "period": period,
        "tau": period * (max(burst, 1) - 1),
        "start_q": now + period if bucket == "query" else 0.0,
        "start_w": now + period if bucket == "write" else 0.0,
    }


def taken_of(row: Any, params: dict[str, Any]) -> Taken:
    """A take's answer from its row (``ok, tat, harvest_until``) and its parameters."""
    ok, tat, until = row[0], row[1], row[2]
    wait = 0.0 if ok else max(float(tat) - params["now"] - params["tau"], 0.001)
    return Taken(wait, float(until))


def counters_url(url: str) -> str:
    """Where the counters of the store at ``url`` live: the same PostgreSQL database, or a
    SQLite file beside the store's."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    database = Path(parsed.database or "node.db")
    return f"sqlite:///{database.with_name(database.stem + '.counters.db')}"


def _private(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (with the umask): its -wal and -shm
    files take the database file's mode, so all three stay private like ``node.db``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class _Fast:
    """One DB-API connection per thread for the hot path's single statements."""

    def __init__(self, url: str, is_sqlite: bool) -> None:
        parsed = make_url(url)
        self.is_sqlite = is_sqlite
        self.path = parsed.database or ""
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connections = ThreadConnections(self._connect)

    def sql(self, statement: str) -> str:
        """``:name`` parameters in the driver's own style."""
        return statement if self.is_sqlite else _NAMED.sub(r"%(\1)s", statement)

    def _connect(self) -> Any:
        if self.is_sqlite:
            conn: Any = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        else:
            conn = psycopg.connect(self.conninfo, autocommit=True)
            # A take need not wait for its WAL record to reach the disk: after a crash the
            # buckets lose their last few hundred milliseconds of takes, nothing else.
            conn.execute("SET synchronous_commit = off")
        return conn

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of one statement (a write: in its own transaction)."""
        return self._connections.run(lambda conn: self._one(conn, sql, params))

    def _one(self, conn: Any, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        # One statement in autocommit mode is its own transaction on both databases. On SQLite
        # an upsert takes the write lock when it starts (waiting up to ``timeout`` for it, as a
        # ``BEGIN IMMEDIATE`` would) and commits when stepped to its end: ``fetchall``, not
        # ``fetchone``, so the statement is done and committed before the row is returned.
        rows = conn.execute(sql, params).fetchall()
        return tuple(rows[0]) if rows else None

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Every row of one statement on this thread's connection (autocommit)."""
        return self._connections.run(lambda conn: conn.execute(sql, params).fetchall())

    def close(self) -> None:
        self._connections.close()


class Counters:
    """The shared counters of one node (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = counters_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            _private(Path(make_url(self.url).database or ""))
            self._tx: Engine = open_sqlite(self.url, writer=True)
        else:
            self._tx = create_engine(self.url, pool_pre_ping=True, pool_size=2, max_overflow=2)
        with self._tx.begin() as conn:
            COUNTER_METADATA.create_all(conn)
        self._fast = _Fast(self.url, self.is_sqlite)
        self._take_sql = {bucket: self._fast.sql(sql) for bucket, sql in _TAKE.items()}
        self._until_sql = self._fast.sql(_HARVEST_UNTIL)

    def close(self) -> None:
        self._fast.close()
        self._tx.dispose()

    def take(self, subject: str, bucket: str, *, per_minute: int, burst: int, now: float) -> Taken:
        """One request from ``subject``'s ``bucket`` (``query`` or ``write``) of ``per_minute``
        requests a minute, in bursts of ``burst``."""
        params = take_params(subject, bucket, per_minute=per_minute, burst=burst, now=now)
        row = self._fast.one(self._take_sql[bucket], params)
        assert row is not None  # an upsert returns its row
        return taken_of(row, params)

    def take_sql(self, bucket: str) -> str:
        """The take's statement in the driver's style, for a statement that takes and reads
        at once (``pack_query.read_pack_taking``): its row is ``ok, <bucket>_tat,
        harvest_until``; its parameters are ``take_params``'."""
        return self._take_sql[bucket]

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Every row of one statement on the counters' own connection of this thread: on
        PostgreSQL the node's database, in autocommit mode (``synchronous_commit`` off)."""
        return self._fast.rows(sql, params)

    def harvest_until(self, subject: str) -> float:
        """Until when ``subject`` is throttled for serial harvesting (0.0: not)."""
        row = self._fast.one(self._until_sql, {"subject": subject})
        return float(row[0]) if row is not None else 0.0

    def probe(
        self,
        subject: str,
        probed: str,
        *,
        now: float,
        max_unknown: int,
        window_s: float,
        sample: int,
    ) -> Probed:
        """Count one unknown lookup of ``subject``; at ``max_unknown`` within ``window_s`` the
        subject is throttled until the oldest of them leaves the window, and the first such
        lookup in a window raises the alert. One transaction, the subject's row locked first,
        so concurrent servers count every probe once and alert once."""
        with self._tx.begin() as conn:
            alerted = float(conn.execute(_LOCK_ROW, {"subject": subject}).scalar_one())
            conn.execute(_PRUNE, {"subject": subject, "since": now - window_s})
            conn.execute(_PROBE, {"subject": subject, "now": now, "probed": probed[:200]})
            rows = conn.execute(_NEWEST, {"subject": subject, "n": max(max_unknown, sample)}).all()
            count = min(len(rows), max_unknown)
            keys = tuple(str(r[1]) for r in reversed(rows[:sample]))
            if count < max_unknown:
                return Probed(count, 0.0, False, keys)
            until = float(rows[max_unknown - 1][0]) + window_s
            alert = alerted <= 0.0 or now - alerted >= window_s
            conn.execute(
                _THROTTLE,
                {"subject": subject, "until": until, "alerted": now if alert else alerted},
            )
        return Probed(count, until, alert, keys)
