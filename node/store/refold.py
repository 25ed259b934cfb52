"""Folding stored entries again: the histories a late entry touches, or everything.

The projection is kept equal to ``lifecycle.fold`` over all stored entries in their order key.
An entry ordered before some stored entry of a subject it names is not applied on top of that
subject's state: every subject connected to it through shared entries is dropped and folded
again from its entries. ``rebuild`` does that for the whole store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress

from sqlalchemy import Connection, delete, select, update

from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.identifiers import SubjectType, gtin14, lot_uri, parse_subject, product_uri
from ledger.kinds import Kind
from ledger.lifecycle import apply
from ledger.membership import Membership
from node.store import models as m
from node.store.entry_rows import entry_by_pk, entry_of, order_key, select_entries
from node.store.evidence import IngestReport, restore_fork_alerts, store_alerts
from node.store.ids import Ids
from node.store.local_writes import _FLUSH_PACKS
from node.store.view import DbStateView, pack_filters, pack_key, pack_uri_of

E = m.ENTRIES.c
P = m.PACKS.c
C = m.CONTAINERS.c
L = m.LOTS.c
S = m.SUBJECT_ENTRIES.c
A = m.ALERTS.c
W = m.WITHDRAWALS.c

#: Subjects per ``IN (…)`` of the closure's queries.
_CHUNK = 400


def subjects_touched(entry: SignedEntry) -> set[str]:
    """The subjects whose history holds ``entry``: those it names (the packs it commits to
    included), or for a commissioning the packs it creates and their lot and product."""
    p = entry.payload
    if p.kind is not Kind.COMMISSION:
        return set(entry.about)
    try:
        packs = set(entry.about)
        g = gtin14(str(p.body.get("gtin", "")))
    except LedgerError:  # a malformed commission is the lifecycle's to report
        return set()
    if not packs:
        return set()
    ilmd = p.body.get("ilmd")
    lot = ilmd.get("lotNumber") if isinstance(ilmd, dict) else None
    # The lot and product too: a recall or withdrawal of them is part of the history.
    classes = {product_uri(g)}
    with suppress(LedgerError):
        classes.add(lot_uri(g, str(lot)))
    return packs | classes


def later_than(conn: Connection, ids: Ids, entry: SignedEntry) -> set[str]:
    """Subjects whose stored history holds an entry ordered after ``entry``: those must be
    refolded rather than have ``entry`` applied on top."""
    key = entry.payload.order_key
    subjects = subjects_touched(entry)
    later: set[str] = set()
    subject_list = list(subjects)
    for start in range(0, len(subject_list), _CHUNK):
        chunk = subject_list[start : start + _CHUNK]
        rows = conn.execute(
            select(S.subject, E.ts, E.feed, E.seq)
            .join(m.ENTRIES, E.id == S.entry)
            .where(S.subject.in_(chunk), E.ts >= key[0], E.id != ids.entry_pk[entry.id])
        ).all()
        for row in rows:
            if (row.ts, ids.name(row.feed), row.seq) > key:
                later.add(row.subject)
    if entry.payload.kind is Kind.RECALL or entry.payload.kind is Kind.WITHDRAW:
        later |= _packs_touched_after(conn, ids, entry)
    if later:
        later |= subjects
    return later


def _packs_touched_after(conn: Connection, ids: Ids, entry: SignedEntry) -> set[str]:
    """The packs of the lot or product a recall or withdrawal names that hold a later entry."""
    subject = parse_subject(entry.payload.subjects[0]) if entry.payload.subjects else None
    if subject is None or subject.gtin is None:
        return set()
    query = (
        select(P.gtin, P.serial, E.ts, E.feed, E.seq)
        .join(m.ENTRIES, E.id == P.last)
        .where(P.gtin == subject.gtin, E.ts >= entry.payload.ts)
    )
    if subject.type is SubjectType.LOT:
        query = query.join(m.LOTS, L.id == P.lot).where(L.lot == subject.lot)
    key = entry.payload.order_key
    return {
        pack_uri_of(r.gtin, r.serial)
        for r in conn.execute(query)
        if (r.ts, ids.name(r.feed), r.seq) > key
    }


def refold(
    conn: Connection,
    ids: Ids,
    seeds: set[str],
    seed_entries: set[int],
    membership: Membership,
    report: IngestReport,
) -> None:
    """Recompute the state of every subject connected to ``seeds`` from its entries, in order."""
    entry_pks, subjects = _closure(conn, seeds, seed_entries)
    packs = [s for s in subjects if s.startswith("https://id.gs1.org/01/") and "/21/" in s]
    containers = [s for s in subjects if s.startswith("https://id.gs1.org/00/")]
    for condition in pack_filters(pack_key(u) for u in packs):
        conn.execute(delete(m.PACKS).where(condition))
    if containers:
        conn.execute(delete(m.CONTAINERS).where(C.uri.in_(containers)))
    subject_list = list(subjects)
    for start in range(0, len(subject_list), _CHUNK):
        conn.execute(delete(m.ALERTS).where(A.subject.in_(subject_list[start : start + _CHUNK])))
    rows = conn.execute(select_entries().where(E.id.in_(entry_pks))).all() if entry_pks else []
    entries = sorted((entry_of(r) for r in rows), key=order_key)
    for entry in entries:
        if entry.payload.kind in (Kind.RECALL, Kind.WITHDRAW):
            _reset_class(conn, entry)
    for entry in entries:
        view = DbStateView(conn, ids)
        store_alerts(conn, apply(view, entry, membership, strict=False), report)
        view.flush()


def _reset_class(conn: Connection, entry: SignedEntry) -> None:
    """Undo a recall's or withdrawal's mark on its lot or product, for the fold to set again."""
    subject = parse_subject(entry.payload.subjects[0])
    if subject.type is SubjectType.LOT:
        conn.execute(
            update(m.LOTS)
            .where(L.gtin == subject.gtin, L.lot == subject.lot)
            .values(recalled_by=None)
        )
    elif subject.type is SubjectType.PRODUCT:
        conn.execute(delete(m.WITHDRAWALS).where(W.gtin == subject.gtin))


def _closure(
    conn: Connection, seeds: set[str], seed_entries: set[int]
) -> tuple[set[int], set[str]]:
    """Entries and subjects connected to ``seeds`` and ``seed_entries`` through shared entries."""
    subjects: set[str] = set()
    entry_pks: set[int] = set(seed_entries)
    todo = set(seeds)
    for pk in seed_entries:
        todo |= subjects_touched(entry_by_pk(conn, pk))
    while todo:
        batch = list(todo - subjects)
        subjects |= todo
        todo = set()
        new: set[int] = set()
        for start in range(0, len(batch), _CHUNK):
            new |= _entries_naming(conn, batch[start : start + _CHUNK])
        new -= entry_pks
        entry_pks |= new
        for pk in new:
            todo |= subjects_touched(entry_by_pk(conn, pk)) - subjects
    return entry_pks, subjects


def _entries_naming(conn: Connection, chunk: list[str]) -> set[int]:
    """Keys of the entries in the history of any subject of ``chunk``: those naming it, a
    pack's commissioning, and the entries naming the pack's lot or product."""
    found = set(conn.execute(select(S.entry).where(S.subject.in_(chunk))).scalars())
    keys = [pack_key(u) for u in chunk if "/21/" in u]
    for condition in pack_filters(keys):
        found |= set(conn.execute(select(P.commissioned).where(condition)).scalars())
        for gtin, lot in conn.execute(
            select(L.gtin, L.lot).join(m.PACKS, P.lot == L.id).where(condition).distinct()
        ):
            for class_uri in (lot_uri(gtin, lot), product_uri(gtin)):
                found |= set(conn.execute(select(S.entry).where(S.subject == class_uri)).scalars())
    return found


def rebuild(
    conn: Connection,
    ids: Ids,
    stored: Iterable[SignedEntry],
    membership: Membership,
    progress: Callable[[int], None] | None,
) -> IngestReport:
    """Drop every projection and fold all ``stored`` entries again in their order key."""
    report = IngestReport()
    for table in (m.PACKS, m.CONTAINERS, m.LOTS, m.WITHDRAWALS, m.ALERTS):
        conn.execute(delete(table))
    restore_fork_alerts(conn, report)
    entries = sorted(stored, key=order_key)
    view = DbStateView(conn, ids)
    for done, entry in enumerate(entries, 1):
        store_alerts(conn, apply(view, entry, membership, strict=False), report)
        if view.pending >= _FLUSH_PACKS:  # in order, so one view may hold many entries
            view.flush()
            view = DbStateView(conn, ids)  # and a new one keeps memory flat
        if progress is not None:
            progress(done)
    view.flush()
    return report
