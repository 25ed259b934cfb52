"""What a regulator's chart of selections and outcomes over time reads (issue 16, item 4;
docs/spec/risk.md "Over time"): the declarations, customs decisions and inspection outcomes
this node holds from a moment on, each with the time it was signed (ADR 0022)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from ledger.kinds import Kind
from node.store import models as m

R = m.RECORDS.c


@dataclass(frozen=True)
class Signed:
    """One signed customs record: its kind, the declaration's ``org/reference`` key, its time
    and what it says (the decision or the outcome; ``""`` for a declaration)."""

    kind: Kind
    key: str
    ts: str
    what: str


def customs_records_since(conn: Connection, since: str) -> list[Signed]:
    """Each declaration first lodged at or after ``since`` (once: an amendment is not a new
    lodging), and every version of a ``decide`` or ``outcome`` record signed at or after it
    (a hold later released is two decisions), oldest first."""
    first = (
        select(R.key, func.min(R.ts).label("ts"))
        .where(R.kind == Kind.DECLARE.value)
        .group_by(R.key)
        .subquery()
    )
    found = [
        Signed(Kind.DECLARE, str(key), str(ts), "")
        for key, ts in conn.execute(select(first.c.key, first.c.ts).where(first.c.ts >= since))
    ]
    rows = conn.execute(
        select(R.kind, R.key, R.ts, R.data).where(
            R.kind.in_([Kind.DECIDE.value, Kind.OUTCOME.value]), R.ts >= since
        )
    )
    for kind, key, ts, data in rows:
        field = "decision" if kind == Kind.DECIDE.value else "outcome"
        found.append(Signed(Kind(kind), str(key), str(ts), str(json.loads(data).get(field))))
    return sorted(found, key=lambda s: (s.ts, s.key))
