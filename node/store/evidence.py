"""What a write keeps besides entries and states: alerts, the two signed entries of a fork,
and entries a member signed but was not allowed to write. Each is kept once, however often
it arrives, and counted in the ``IngestReport`` of the write that found it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, insert, select, update

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry, entry_id
from ledger.errors import GtinOutsidePrefixes, LedgerError
from ledger.feed import ForkDetected, check_fork, verify_entry
from ledger.membership import Membership
from ledger.openings import OpeningInvalid
from ledger.timefmt import now_ts
from node.store import models as m

A = m.ALERTS.c
F = m.FEEDS.c


@dataclass
class IngestReport:
    added: int = 0
    duplicates: int = 0
    alerts: list[Alert] = field(default_factory=list)
    forks: list[ForkDetected] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (entry id, reason)
    #: entries stored that were dated further ahead of this node's clock than the tolerance
    #: (``ledger.clock``): each raised the node-local alert ``future_dated``
    future_dated: list[SignedEntry] = field(default_factory=list)


def store_alerts(conn: Connection, alerts: Iterable[Alert], report: IngestReport) -> None:
    for alert in alerts:
        if conn.execute(select(A.id).where(A.id == alert.id)).scalar() is not None:
            continue
        conn.execute(
            insert(m.ALERTS).values(
                id=alert.id,
                code=alert.code.value,
                level=alert.level.value,
                subject=alert.subject,
                message=alert.message,
                evidence=json.dumps(list(alert.evidence)),
                ts=now_ts(),
            )
        )
        report.alerts.append(alert)


def record_fork(conn: Connection, fork: ForkDetected, report: IngestReport) -> None:
    """Keep both entries of a fork (the first pair found at its position), raise its alert."""
    a, b = fork.first, fork.second
    known = conn.execute(
        select(func.count())
        .select_from(m.FORKS)
        .where(
            m.FORKS.c.feed == a.payload.feed,
            m.FORKS.c.seq == a.payload.seq,
        )
    ).scalar_one()
    if not known:
        conn.execute(
            insert(m.FORKS).values(
                feed=a.payload.feed,
                seq=a.payload.seq,
                first_payload=a.payload_bytes,
                first_signature=a.signature,
                second_payload=b.payload_bytes,
                second_signature=b.signature,
            )
        )
    report.forks.append(fork)
    store_alerts(conn, [_fork_alert(a.payload.feed, str(fork), a, b)], report)


def _fork_alert(feed: str, message: str, a: SignedEntry, b: SignedEntry) -> Alert:
    """Evidence in id order: every node raises the same alert for the same two entries, whichever
    it held first and whether it saw the fork itself or was sent the evidence."""
    return Alert(Code.FORK, feed, message, tuple(sorted((a.id, b.id))))


def restore_fork_alerts(conn: Connection, report: IngestReport) -> None:
    """The fork alerts again, from the stored pairs (a rebuild dropped every alert)."""
    for a, b in fork_pairs(conn):
        p = a.payload
        message = f"feed {p.feed}: expected one entry at seq {p.seq}, found two signed ones ({a.id[:16]}… and {b.id[:16]}…)"
        store_alerts(conn, [_fork_alert(p.feed, message, a, b)], report)


def fork_pairs(conn: Connection) -> list[tuple[SignedEntry, SignedEntry]]:
    """Every stored fork: its two signed entries, by feed and position."""
    rows = conn.execute(select(m.FORKS).order_by(m.FORKS.c.feed, m.FORKS.c.seq)).all()
    return [
        (
            SignedEntry.from_bytes(row.first_payload, row.first_signature),
            SignedEntry.from_bytes(row.second_payload, row.second_signature),
        )
        for row in rows
    ]


def fork_entry_ids(conn: Connection) -> dict[str, set[str]]:
    """Each forked feed's name to the ids of the entries of its fork."""
    forks: dict[str, set[str]] = {}
    for row in conn.execute(select(m.FORKS)).all():
        for payload in (row.first_payload, row.second_payload):
            forks.setdefault(row.feed, set()).add(entry_id(payload))
    return forks


def freeze(conn: Connection, feed: str, seq: int) -> None:
    """Freeze ``feed`` at the fork at ``seq`` (or keep it frozen at an earlier fork)."""
    conn.execute(
        update(m.FEEDS)
        .where(F.name == feed, (F.frozen_at.is_(None)) | (F.frozen_at > seq))
        .values(frozen_at=seq)
    )


def take_fork_evidence(
    conn: Connection,
    first: SignedEntry,
    second: SignedEntry,
    membership: Membership,
    report: IngestReport,
) -> int | None:
    """Record a fork a peer found, after verifying it here: both entries of one feed and
    position, different, each signed by the key the membership lists for that position. Returns
    the position the feed must be frozen at, or ``None`` (already known, not held yet, refused).

    Evidence is taken only at a position this node holds (it pulls the feed up to there first),
    so a frozen feed's size always lies past its fork, as when a node finds the fork itself.
    Evidence that does not verify is refused as forged (``report.rejected``): one signature of
    the owner and one made up would otherwise freeze an honest feed.
    """
    a, b = first.payload, second.payload
    if (a.feed, a.seq) != (b.feed, b.seq) or first.id == second.id:
        report.rejected.append(
            (
                second.id,
                f"fork evidence: expected two different entries at one position, found "
                f"{a.feed} #{a.seq} {first.id[:16]}… and {b.feed} #{b.seq} {second.id[:16]}…",
            )
        )
        return None
    row = conn.execute(select(F.size).where(F.name == a.feed)).one_or_none()
    if row is None or row.size <= a.seq:
        return None
    if {first.id, second.id} <= fork_entry_ids(conn).get(a.feed, set()):
        return None
    for entry in (first, second):
        try:
            verify_entry(entry, membership)
        except LedgerError as exc:
            report.rejected.append(
                (entry.id, f"fork evidence for {a.feed} #{a.seq} refused as forged: {exc}")
            )
            return None
    try:
        check_fork(first, second, membership)
    except ForkDetected as fork:
        record_fork(conn, fork, report)
    return a.seq


def record_rejected(
    conn: Connection,
    entry: SignedEntry,
    exc: LedgerError,
    membership: Membership,
    report: IngestReport,
) -> None:
    """Keep an unauthorised entry as evidence only if its member really signed it."""
    try:
        entry.verify_signature(membership.feed(entry.payload.feed).key_at(entry.payload.seq))
    except LedgerError as forged:
        report.rejected.append((entry.id, str(forged)))
        return
    table = m.REJECTED
    if conn.execute(select(table.c.entry_id).where(table.c.entry_id == entry.id)).scalar() is None:
        conn.execute(
            insert(table).values(
                entry_id=entry.id,
                feed=entry.payload.feed,
                seq=entry.payload.seq,
                reason=str(exc),
                payload=entry.payload_bytes,
                signature=entry.signature,
            )
        )
    code = (
        Code.FOREIGN_GTIN
        if isinstance(exc, GtinOutsidePrefixes)
        else Code.SIDECAR_INVALID
        if isinstance(exc, OpeningInvalid)
        else Code.UNAUTHORISED_KIND
    )
    store_alerts(conn, [Alert(code, entry.payload.feed, str(exc), (entry.id,))], report)
    report.rejected.append((entry.id, str(exc)))
