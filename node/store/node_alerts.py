"""The ``node_alerts`` table: alerts a node raised about what it saw, not about what the ledger
says: the requests it served (node/local_alerts.py), entries that arrived dated in its future
(``future_dated``, raised here by ``Store.ingest``). Kept apart from the ledger's projection.

A rebuild does not touch it and replication does not carry it. The table has its own metadata:
it is created beside the store's tables when first used, not by the store's set-up.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from ledger.alerts import Code
from ledger.clock import FUTURE_TOLERANCE
from ledger.entry import SignedEntry
from node.store.engine import Database


class _LocalAlertBase(SQLModel, registry=registry()):
    """Own metadata: the table is created beside the store's tables, not by the Store."""


class NodeAlertRow(_LocalAlertBase, table=True):
    __tablename__ = "node_alerts"
    id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=32, index=True)
    subject: str = Field(max_length=200, index=True)
    message: str
    details: str  # JSON object
    ts: str = Field(max_length=24, index=True)


NODE_ALERTS = NodeAlertRow.__table__  # type: ignore[attr-defined]
N = NODE_ALERTS.c


class NodeAlertRecord(NamedTuple):
    id: str
    code: str
    subject: str
    message: str
    details: dict[str, Any]
    ts: str


class NodeAlertTable:
    """The node-local alert rows of one node's database (the table created if missing)."""

    def __init__(self, database: Database) -> None:
        self._writer = database.writer
        self._reader = database.reader
        database.create_tables(_LocalAlertBase.metadata)

    def add_unless_recent(self, record: NodeAlertRecord, since: str) -> bool:
        """Store ``record`` unless one with its code and subject is stored from after ``since``
        (another worker of this node may have seen the same burst): True if stored."""
        with self._writer.begin() as conn:  # SQLite: BEGIN IMMEDIATE, so workers take turns
            recent = conn.execute(
                select(N.id)
                .where(N.code == record.code, N.subject == record.subject, N.ts > since)
                .limit(1)
            ).first()
            if recent is not None:
                return False
            conn.execute(
                insert(NODE_ALERTS).values(
                    id=record.id,
                    code=record.code,
                    subject=record.subject,
                    message=record.message,
                    details=json.dumps(record.details, sort_keys=True),
                    ts=record.ts,
                )
            )
        return True

    def find(self, subject: str | None = None, code: str | None = None) -> list[NodeAlertRecord]:
        """Oldest first."""
        query = select(NODE_ALERTS).order_by(N.ts, N.id)
        if subject is not None:
            query = query.where(N.subject == subject)
        if code is not None:
            query = query.where(N.code == code)
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            NodeAlertRecord(r.id, r.code, r.subject, r.message, json.loads(r.details), r.ts)
            for r in rows
        ]


def future_dated(entry: SignedEntry, received: str) -> NodeAlertRecord:
    """The node-local alert for ``entry``, stored at ``received`` (this node's clock) although
    dated more than ``FUTURE_TOLERANCE`` after it. Its subject names the entry, so the alert is
    raised once per entry; its id is computed as ``node.local_alerts.LocalAlert.id`` does."""
    code, subject, p = Code.FUTURE_DATED.value, f"urn:medtrace:entry:{entry.id}", entry.payload
    minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
    return NodeAlertRecord(
        hashlib.sha256("\n".join([code, subject, received]).encode()).hexdigest(),
        code,
        subject,
        f"expected entries dated at most {minutes} minutes after this node's clock, found "
        f"{p.feed} #{p.seq} ({entry.id[:16]}…) dated {p.ts}, received at {received}: it is "
        "stored, as every signed fact is, but its signer's clock or its signer is wrong",
        {
            "entry": entry.id,
            "feed": p.feed,
            "seq": p.seq,
            "dated": p.ts,
            "received": received,
            "tolerance_s": int(FUTURE_TOLERANCE.total_seconds()),
        },
        received,
    )
