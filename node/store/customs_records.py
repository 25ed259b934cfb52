"""Customs decisions and inspection outcomes as this node holds them (ADR 0022): every version
of the ``decide`` and ``outcome`` records of a declaration (``org/reference``), oldest first,
and the newest of each before a point in the total order (the lifecycle's ``record_of``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from ledger.state import OrderKey, Record
from node.store import models as m

R = m.RECORDS.c


@dataclass(frozen=True)
class RecordVersion:
    """One signed version of a record: its entry, feed, timestamp and checked body."""

    entry_id: str
    feed: str
    ts: str
    data: dict[str, Any]


def history(conn: Connection, kind: str, key: str) -> list[RecordVersion]:
    """Every version of record ``key`` of ``kind``, in the total order (oldest first)."""
    rows = conn.execute(
        select(R.entry_id, R.feed, R.ts, R.data)
        .where(R.kind == kind, R.key == key)
        .order_by(R.ts, R.feed, R.seq)
    ).all()
    return [RecordVersion(r.entry_id, r.feed, r.ts, json.loads(r.data)) for r in rows]


def record_before(conn: Connection, kind: str, key: str, before: OrderKey) -> Record | None:
    """The newest version of ``key`` ordered before ``before`` (``(ts, feed, seq)``)."""
    ts, feed, seq = before
    earlier = or_(
        R.ts < ts,
        and_(R.ts == ts, R.feed < feed),
        and_(R.ts == ts, R.feed == feed, R.seq < seq),
    )
    row = conn.execute(
        select(m.RECORDS)
        .where(R.kind == kind, R.key == key, earlier)
        .order_by(R.ts.desc(), R.feed.desc(), R.seq.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return Record(
        kind,
        key,
        row.entry_id,
        row.feed,
        (row.ts, row.feed, row.seq),
        json.loads(row.data),
        tuple(json.loads(row.about)),
    )
