"""Node-local alerts: raised by a node about the requests it served, not by a signed entry.

Alerts about facts (``ledger/alerts.py``) are a projection of the ledger: every node raises the
same ones and a rebuild raises them again. A node-local alert (serial harvesting, ADR 0012) has
no entry behind it, so it lives in its own table ``node_alerts`` of this node's database
(node/store/node_alerts.py), which
a rebuild does not touch and replication does not carry. It is served by ``GET /api/v1/alerts``
with the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.alerts import LEVEL, NODE_LOCAL, Code
from ledger.timefmt import format_ts, now_ts
from node.store import NodeAlertRecord, Store


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
        self.table = store.node_alert_table()

    def raise_once(self, alert: LocalAlert, window_s: float) -> bool:
        """Store ``alert`` unless one with its code and subject was stored within ``window_s``
        (another worker of this node may have seen the same burst): True if stored."""
        moment = datetime.fromisoformat(alert.ts) - timedelta(seconds=window_s)
        since = format_ts(moment.astimezone(UTC))
        record = NodeAlertRecord(
            alert.id, alert.code.value, alert.subject, alert.message, alert.details, alert.ts
        )
        return self.table.add_unless_recent(record, since)

    def find(self, subject: str | None = None, code: str | None = None) -> list[LocalAlert]:
        """Oldest first."""
        if code is not None and code not in {c.value for c in NODE_LOCAL}:
            return []
        return [
            LocalAlert(Code(r.code), r.subject, r.message, r.details, r.ts)
            for r in self.table.find(subject, code)
        ]
