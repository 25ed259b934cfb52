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
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, bindparam, event, select

from ledger.alerts import Alert, Code
from ledger.status import Status
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
    """One autocommit psycopg connection per thread for one PostgreSQL engine's reads."""

    def __init__(self, engine: Engine) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._connections = ThreadConnections(
            lambda: psycopg.connect(self.conninfo, autocommit=True)
        )

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
    if engine.dialect.name == "postgresql":
        found = _readers(engine).rows(statement.sql, params)
        return _reading(uri, found) if found else None
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(statement.sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    finally:
        conn.close()  # back to the pool, which ends the transaction PostgreSQL opened
    return _reading(uri, rows) if rows else None


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
