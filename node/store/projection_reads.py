"""Reading the projections outside a write: lots, packs, alerts, and how many rows a table holds.

The lifecycle's own reads go through ``DbStateView``; the pack query's through
node/store/pack_query.py. Each function reads on the connection it is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import Connection, func, select

from ledger.alerts import Alert, Code
from ledger.state import PackState
from node.store import models as m
from node.store.ids import Ids
from node.store.view import DbStateView, pack_uri_of

P = m.PACKS.c
L = m.LOTS.c
A = m.ALERTS.c

_COUNTED = {
    "entries": m.ENTRIES,
    "packs": m.PACKS,
    "alerts": m.ALERTS,
    "containers": m.CONTAINERS,
    "rejected": m.REJECTED,
    "sidecars": m.SIDECARS,
}


def count_rows(conn: Connection, what: str) -> int:
    """Rows of ``entries``, ``packs``, ``alerts``, ``containers``, ``rejected`` (entries kept
    as evidence only) or ``sidecars``."""
    table = _COUNTED[what]
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def lot_serials(conn: Connection, gtin: str, lot: str, limit: int | None) -> tuple[str, list[str]]:
    query = (
        select(P.serial)
        .join(m.LOTS, L.id == P.lot)
        .where(P.gtin == gtin, L.lot == lot)
        .order_by(P.id)
    )
    if limit is not None:
        query = query.limit(limit)
    expiry = conn.execute(select(L.expiry).where(L.gtin == gtin, L.lot == lot)).scalar()
    serials = [str(s) for s in conn.execute(query).scalars()]
    return (str(expiry) if expiry is not None else ""), serials


def existing_serials(conn: Connection, gtin: str, candidates: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(candidates), 400):
        chunk = candidates[start : start + 400]
        found |= set(
            conn.execute(select(P.serial).where(P.gtin == gtin, P.serial.in_(chunk))).scalars()
        )
    return found


def alerts(conn: Connection, subject: str | None, code: str | None) -> list[Alert]:
    query = select(A.code, A.subject, A.message, A.evidence).order_by(A.ts, A.id)
    if subject is not None:
        query = query.where(A.subject == subject)
    if code is not None:
        query = query.where(A.code == code)
    rows = conn.execute(query).all()
    return [Alert(Code(r.code), r.subject, r.message, tuple(json.loads(r.evidence))) for r in rows]


def pack_rows(conn: Connection) -> Iterator[PackState]:
    """Every stored pack state, page by page."""
    last_id = 0
    while True:
        rows = conn.execute(
            select(P.id, P.gtin, P.serial, P.commissioned, P.changed_by, P.last)
            .where(P.id > last_id)
            .order_by(P.id)
            .limit(2000)
        ).all()
        if not rows:
            return
        # A view per page keeps memory flat; its entries are loaded in one go.
        ids = Ids(conn)
        ids.load_entries(pk for r in rows for pk in (r.commissioned, r.changed_by, r.last))
        found = DbStateView(conn, ids).get_packs([pack_uri_of(r.gtin, r.serial) for r in rows])
        yield from found.values()
        last_id = rows[-1].id
