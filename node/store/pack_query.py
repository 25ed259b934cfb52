"""The pack verification query's read path: one statement on one pooled connection.

``GET /api/v1/packs/<gtin>/<serial>`` is the query a scanner makes for every pack it reads, so
it is served without the lifecycle's ``DbStateView`` (built for writes: an identity map, one
SELECT per lot, entry and feed key, and one pooled connection each for the recall, the
withdrawal and the alerts). Here one SELECT joins the pack row to its lot (expiry, recall),
the commissioning and last-changing entries (their ids and time), the custodian's feed name,
the product's withdrawal and the pack's alerts: one row per alert, or a single row without.
Being one statement, it reads one snapshot without a ``BEGIN``.

On PostgreSQL it runs on one psycopg connection per thread in autocommit mode, as the shared
counters' take does (``node/store/counters.py``): one round trip per query. Through the pool it
took three (the checkout's pre-ping, the statement with its implicit ``BEGIN``, the check-in's
``ROLLBACK``), and PostgreSQL answered the pack query at about half SQLite's rate on the same
two cores (docs/performance.md). A connection the server dropped is replaced and the statement
run once more; the connections close when the engine is disposed.

The statement is compiled once per dialect and run through the DBAPI cursor: SQLAlchemy's
per-execution work (statement cache lookup, execution context, result wrapping) costs several
times what SQLite spends answering it. The answer equals what ``DbStateView`` plus
``Store.recall_of``, ``Store.withdrawal_of`` and ``Store.alerts`` give (tests/node/test_reads.py
checks it on SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine, bindparam, create_engine, event, select

from ledger.alerts import Alert, Code
from ledger.status import Status
from node.store.counters import Counters, Taken, TakeRequest, take_params, taken_of
from node.store.models import ALERTS, ENTRIES, FEEDS, LOTS, PACKS, WITHDRAWALS
from node.store.thread_connections import ThreadConnections
from node.store.view import pack_uri_of


@dataclass(frozen=True, slots=True)
class PackReading:
    """What the pack query shows of one pack, as stored (effective status is the caller's)."""

    uri: str
    gtin: str
    serial: str
    lot: str
    expiry: str
    status: Status
    custodian: str
    destination: str | None
    container: str | None
    commissioned: str
    changed_by: str | None
    changed_at: str | None
    recalled_by: str | None
    withdrawn_by: str | None
    alerts: tuple[Alert, ...]


def _pack_query() -> Any:
    p, lot, feed, withdrawal, alert = PACKS.c, LOTS.c, FEEDS.c, WITHDRAWALS.c, ALERTS.c
    commissioning = ENTRIES.alias("commissioning")
    changing = ENTRIES.alias("changing")
    joined = (
        PACKS.join(LOTS, lot.id == p.lot)
        .join(commissioning, commissioning.c.id == p.commissioned)
        .join(FEEDS, feed.id == p.custodian)
        .outerjoin(changing, changing.c.id == p.changed_by)
        .outerjoin(WITHDRAWALS, withdrawal.gtin == p.gtin)
        .outerjoin(ALERTS, alert.subject == bindparam("subject"))
    )
    # Column order is the row layout ``_reading`` unpacks.
    return (
        select(
            p.gtin,
            p.serial,
            lot.lot,
            lot.expiry,
            p.status,
            feed.name,
            p.destination,
            p.container,
            commissioning.c.entry_id,
            changing.c.entry_id,
            changing.c.ts,
            lot.recalled_by,
            withdrawal.entry_id,
            alert.code,
            alert.subject,
            alert.message,
            alert.evidence,
        )
        .select_from(joined)
        .where(p.gtin == bindparam("gtin"), p.serial == bindparam("serial"))
        .order_by(alert.ts, alert.id)
    )


_PACK_QUERY = _pack_query()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # parameter names in order, for a positional paramstyle


_compiled: dict[str, _Compiled] = {}
_compiling = threading.Lock()


def _compile(engine: Engine) -> _Compiled:
    name = engine.dialect.name
    found = _compiled.get(name)
    if found is None:
        with _compiling:
            compiled = _PACK_QUERY.compile(dialect=engine.dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = _compiled[name] = _Compiled(str(compiled), order)
    return found


class _Autocommit:
    """One autocommit connection per thread for one engine's pack reads: psycopg on
    PostgreSQL; on SQLite a ``sqlite3`` connection with the store's pragmas and no ``BEGIN`` (one
    SELECT reads one snapshot), which spares the pool's checkout and check-in (~15 µs)."""

    def __init__(self, engine: Engine) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.path = engine.url.database or ""
        sqlite = engine.dialect.name == "sqlite"
        self._connections = ThreadConnections(self._sqlite if sqlite else self._postgres)

    def _postgres(self) -> Any:
        return psycopg.connect(self.conninfo, autocommit=True)

    def _sqlite(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def rows(self, sql: str, params: Any) -> list[Any]:
        return self._connections.run(lambda conn: conn.execute(sql, params).fetchall())

    def close(self) -> None:
        self._connections.close()


_autocommit: dict[Engine, _Autocommit] = {}


def _readers(engine: Engine) -> _Autocommit:
    found = _autocommit.get(engine)
    if found is None:
        with _compiling:
            found = _autocommit.get(engine)
            if found is None:
                found = _autocommit[engine] = _Autocommit(engine)
                event.listen(engine, "engine_disposed", _disposed)
    return found


def _disposed(engine: Engine) -> None:
    found = _autocommit.pop(engine, None)
    if found is not None:
        found.close()


def read_pack(engine: Engine, gtin: str, serial: str) -> PackReading | None:
    """The pack ``(gtin, serial)`` as the pack query shows it, or ``None`` if it is unknown."""
    statement = _compile(engine)
    uri = pack_uri_of(gtin, serial)
    values = {"gtin": gtin, "serial": serial, "subject": uri}
    params: Any = values if statement.order is None else [values[n] for n in statement.order]
    found = _readers(engine).rows(statement.sql, params)
    return _reading(uri, found) if found else None


class Taking(Protocol):
    """``node.store.counters.Counters`` as ``read_pack_taking`` uses it."""

    def take_sql(self, bucket: str) -> str: ...
    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]: ...


_taking: dict[str, str] = {}


def _taking_sql(take: str) -> str:
    """One PostgreSQL statement that takes from a bucket (``take``, an upsert ``RETURNING ok,
    tat, harvest_until``) and, if the take allows the request, reads the pack: the take's three
    columns on every row, then the pack query's columns (NULL when refused or unknown)."""
    found = _taking.get(take)
    if found is None:
        query = _PACK_QUERY.add_columns(ALERTS.c.ts, ALERTS.c.id)
        dialect = create_engine("postgresql+psycopg://").dialect  # compiles, never connects
        inner = str(query.compile(dialect=dialect))
        for name in ("gtin", "serial", "subject"):  # the take has a "subject" of its own
            inner = inner.replace(f"%({name})s", f"%(pack_{name})s")
        count = len(query.selected_columns)
        names = [f"c{i}" for i in range(count)]  # the pack query's own names repeat
        columns = ", ".join(f"pack.{n}" for n in names[:-2])
        found = _taking[take] = (
            f"WITH taken AS ({take}) SELECT taken.*, {columns} FROM taken "  # noqa: S608 (our own compiled statements)
            f"LEFT JOIN LATERAL ({inner}) AS pack({', '.join(names)}) ON taken.ok "
            f"ORDER BY pack.{names[-2]}, pack.{names[-1]}"
        )
    return found


def read_pack_taking(
    counters: Taking, bucket: str, take: dict[str, Any], gtin: str, serial: str
) -> tuple[Any, PackReading | None]:
    """On PostgreSQL, with the counters in the pack's database: the take from ``bucket`` with
    ``take``'s parameters and, if it is allowed, the pack query, in one statement on the
    counters' connection (one round trip instead of two). The take's row (``ok, tat,
    harvest_until``) and the reading (``None``: unknown, or not read because refused)."""
    sql = _taking_sql(counters.take_sql(bucket))
    uri = pack_uri_of(gtin, serial)
    params = {**take, "pack_gtin": gtin, "pack_serial": serial, "pack_subject": uri}
    rows = counters.rows(sql, params)
    first = rows[0]
    if not first[0] or first[3] is None:
        return first[:3], None
    return first[:3], _reading(uri, [row[3:] for row in rows])


def take_and_read(
    counters: Counters, replica: Engine, engine: Engine, take: TakeRequest, gtin: str, serial: str
) -> tuple[Taken, PackReading | None]:
    """``Store.read_pack_taking``: one statement where the counters live in the pack's
    PostgreSQL database and it is read there (no replica); else the take, then the read."""
    if counters.is_sqlite or replica is not engine:
        taken = counters.take(
            take.subject, take.bucket, per_minute=take.per_minute, burst=take.burst, now=take.now
        )
        return taken, (read_pack(replica, gtin, serial) if taken.wait <= 0 else None)
    params = take_params(
        take.subject, take.bucket, per_minute=take.per_minute, burst=take.burst, now=take.now
    )
    row, reading = read_pack_taking(counters, take.bucket, params, gtin, serial)
    return taken_of(row, params), reading


def _reading(uri: str, rows: Sequence[Sequence[Any]]) -> PackReading:
    first = rows[0]
    alerts = tuple(
        Alert(Code(code), subject, message, tuple(json.loads(evidence)))
        for *_, code, subject, message, evidence in rows
        if code is not None
    )
    return PackReading(
        uri=uri,
        gtin=first[0],
        serial=first[1],
        lot=first[2],
        expiry=first[3],
        status=Status(first[4]),
        custodian=first[5],
        destination=first[6],
        container=first[7],
        commissioned=first[8],
        changed_by=first[9],
        changed_at=first[10],
        recalled_by=first[11],
        withdrawn_by=first[12],
        alerts=alerts,
    )
