"""Node-local alerts: raised by a node about the requests it served, not by a signed entry.

Alerts about facts (``ledger/alerts.py``) are a projection of the ledger: every node raises the
same ones and a rebuild raises them again. A node-local alert (serial harvesting, ADR 0012) has
no entry behind it, so it lives in its own table ``node_alerts`` of this node's database, which
a rebuild does not touch and replication does not carry. It is served by ``GET /api/v1/alerts``
with the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from ledger.alerts import LEVEL, NODE_LOCAL, Code
from ledger.timefmt import format_ts, now_ts
from node.store import Store


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


@dataclass(frozen=True)
class LocalAlert:
    code: Code
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    ts: str = field(default_factory=now_ts)

    def __post_init__(self) -> None:
        if self.code not in NODE_LOCAL:
            raise ValueError(f"expected a node-local alert code, found {self.code.value!r}")

    @property
    def id(self) -> str:
        return hashlib.sha256(
            "\n".join([self.code.value, self.subject, self.ts]).encode()
        ).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The shape of ``GET /api/v1/alerts``: no entries prove it, ``details`` does."""
        return {
            "id": self.id,
            "code": self.code.value,
            "level": LEVEL[self.code].value,
            "subject": self.subject,
            "message": self.message,
            "evidence": [],
            "entries": [],
            "details": self.details,
            "ts": self.ts,
        }


class LocalAlerts:
    """The node-local alerts of one store (table created on first use, idempotently)."""

    def __init__(self, store: Store) -> None:
        self.writer: Engine = store.engine
        self.reader: Engine = store.reader
        store.create_tables(_LocalAlertBase.metadata)

    def raise_once(self, alert: LocalAlert, window_s: float) -> bool:
        """Store ``alert`` unless one with its code and subject was stored within ``window_s``
        (another worker of this node may have seen the same burst): True if stored."""
        moment = datetime.fromisoformat(alert.ts) - timedelta(seconds=window_s)
        since = format_ts(moment.astimezone(UTC))
        with self.writer.begin() as conn:  # SQLite: BEGIN IMMEDIATE, so workers take turns
            recent = conn.execute(
                select(N.id)
                .where(N.code == alert.code.value, N.subject == alert.subject, N.ts > since)
                .limit(1)
            ).first()
            if recent is not None:
                return False
            conn.execute(
                insert(NODE_ALERTS).values(
                    id=alert.id,
                    code=alert.code.value,
                    subject=alert.subject,
                    message=alert.message,
                    details=json.dumps(alert.details, sort_keys=True),
                    ts=alert.ts,
                )
            )
        return True

    def find(self, subject: str | None = None, code: str | None = None) -> list[LocalAlert]:
        """Oldest first."""
        if code is not None and code not in {c.value for c in NODE_LOCAL}:
            return []
        query = select(NODE_ALERTS).order_by(N.ts, N.id)
        if subject is not None:
            query = query.where(N.subject == subject)
        if code is not None:
            query = query.where(N.code == code)
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            LocalAlert(Code(r.code), r.subject, r.message, json.loads(r.details), r.ts)
            for r in rows
        ]
