"""What the risk indicators read besides a consignment's packs (issue 16, R8 and R9): the
earlier declarations of one customs organisation, newest versions only, with their clear
commercial fields where this node holds the opening and every customs decision and inspection
outcome recorded about them (ADR 0022)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select, true

from ledger.kinds import Kind
from ledger.sealed import SEALED
from node.store import models as m

R = m.RECORDS.c
O = m.SEALED_OPENINGS.c  # noqa: E741


@dataclass(frozen=True)
class EarlierDeclaration:
    reference: str
    entry_id: str
    ts: str
    order: tuple[str, str, int]  # (ts, feed, seq): the total order of entries
    data: dict[str, Any]
    opened: dict[str, Any] | None
    #: (entry id, decision or outcome) of every ``decide`` and ``outcome`` record about it
    verdicts: tuple[tuple[str, str], ...]
    #: the order of each of ``verdicts``, alike: a score must not see what came after it
    verdict_orders: tuple[tuple[str, str, int], ...] = ()


def order_of(conn: Connection, entry_id: str) -> tuple[str, str, int] | None:
    row = conn.execute(select(R.ts, R.feed, R.seq).where(R.entry_id == entry_id)).one_or_none()
    return (str(row[0]), str(row[1]), int(row[2])) if row is not None else None


Order = tuple[str, str, int]


def _before(order: Order | None) -> Any:
    if order is None:
        return true()
    ts, feed, seq = order
    return or_(R.ts < ts, and_(R.ts == ts, R.feed < feed), and_(R.ts == ts, R.feed == feed, R.seq < seq))  # fmt: skip


def _after(order: Order | None) -> Any:
    if order is None:
        return true()
    ts, feed, seq = order
    return or_(R.ts > ts, and_(R.ts == ts, R.feed > feed), and_(R.ts == ts, R.feed == feed, R.seq > seq))  # fmt: skip


def verdicts_after(conn: Connection, org: str, after: Order) -> list[tuple[str, str, str, Order]]:
    """``(reference, entry id, decision or outcome, order)`` of ``org``'s ``decide`` and
    ``outcome`` records ordered after ``after``, oldest first."""
    rows = conn.execute(
        select(R.key, R.entry_id, R.kind, R.data, R.ts, R.feed, R.seq)
        .where(
            R.kind.in_([Kind.DECIDE.value, Kind.OUTCOME.value]),
            R.key.like(f"{org}/%"),
            _after(after),
        )
        .order_by(R.ts, R.feed, R.seq)
    ).all()
    found = []
    for key, entry_id, kind, data, ts, feed, seq in rows:
        what = json.loads(data).get("decision" if kind == Kind.DECIDE.value else "outcome")
        found.append((str(key).split("/", 1)[1], entry_id, str(what), (ts, feed, int(seq))))
    return found


def earlier_declarations(
    conn: Connection, org: str, before: Order | None, limit: int, after: Order | None = None
) -> list[EarlierDeclaration]:
    """The newest versions of ``org``'s declarations ordered before ``before`` (``(ts, feed,
    seq)``; ``None``: all) and after ``after`` (``None``: from the first), at most the ``limit``
    newest, oldest first."""
    rows = conn.execute(
        select(R.key, R.entry_id, R.ts, R.data, R.feed, R.seq)
        .where(
            R.kind == Kind.DECLARE.value,
            R.key.like(f"{org}/%"),
            _before(before),
            _after(after),
        )
        .order_by(R.ts.desc(), R.feed.desc(), R.seq.desc())
        .limit(limit * 2)
    ).all()
    newest: dict[str, Any] = {}
    for row in rows:
        newest.setdefault(row[0], row)
    keys = list(newest)[:limit]
    verdicts: dict[str, list[tuple[str, str]]] = {k: [] for k in keys}
    verdict_orders: dict[str, list[tuple[str, str, int]]] = {k: [] for k in keys}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key, entry_id, kind, data, v_ts, v_feed, v_seq in conn.execute(
            select(R.key, R.entry_id, R.kind, R.data, R.ts, R.feed, R.seq)
            .where(R.kind.in_([Kind.DECIDE.value, Kind.OUTCOME.value]), R.key.in_(chunk))
            .order_by(R.ts, R.feed, R.seq)
        ):
            body = json.loads(data)
            what = body.get("decision" if kind == Kind.DECIDE.value else "outcome")
            verdicts[key].append((entry_id, str(what)))
            verdict_orders[key].append((v_ts, v_feed, int(v_seq)))
    bodies = {k: json.loads(newest[k][3]) for k in keys}
    digests = [str(b.get(SEALED, {}).get("digest", "")) for b in bodies.values()]
    openings: dict[str, Any] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        rows_ = conn.execute(select(O.digest, O.data).where(O.digest.in_(chunk)))
        openings.update((d, json.loads(raw)["fields"]) for d, raw in rows_)
    found = []
    for key in reversed(keys):
        _, entry_id, ts, _, feed, seq = newest[key]
        body = bodies[key]
        fields = openings.get(str(body.pop(SEALED, {}).get("digest", "")))
        found.append(
            EarlierDeclaration(
                key.split("/", 1)[1],
                entry_id,
                ts,
                (ts, feed, seq),
                body,
                fields,
                tuple(verdicts[key]),
                tuple(verdict_orders[key]),
            )
        )
    return found
