"""Storing entries replicated from peers: any feeds, any order within a page, one transaction.

Each entry is verified against the membership and its feed's head; a rule it breaks becomes an
alert; a second signed entry at a used position is kept as fork evidence and freezes the feed.

Entries are taken in their order key (within a feed that is seq order), so a page that holds
the whole of a late history is applied in order rather than refolded. An entry ordered after
everything stored (the common case: a peer's new entries) cannot be late, so it is applied on
one view shared by the page and written with its neighbours in bulk. Any other entry is flushed
behind and taken the careful way: looked for later entries, applied under a SAVEPOINT,
refolded if late (node/store/refold.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, update

from ledger.clock import latest_believable_ts
from ledger.entry import SignedEntry
from ledger.errors import (
    ChainError,
    GtinOutsidePrefixes,
    KindNotAllowed,
    LedgerError,
    MembershipError,
    SequenceGap,
    SignatureInvalid,
)
from ledger.feed import ForkDetected, check_fork, verify_link
from ledger.identifiers import DL_ROOT
from ledger.lifecycle import apply
from ledger.membership import Membership
from ledger.openings import OpeningInvalid
from ledger.state import OrderKey
from node.signatures import CheckedAhead, checked_ahead
from node.store import models as m
from node.store.entry_rows import entry_at, head_of, insert_entries, insert_entry, set_head
from node.store.evidence import IngestReport, record_fork, record_rejected, store_alerts
from node.store.ids import Ids, ThreadIds
from node.store.local_writes import _FLUSH_PACKS
from node.store.refold import later_than, refold, subjects_touched
from node.store.view import DbStateView

E = m.ENTRIES.c
F = m.FEEDS.c

#: Positions asked for in one SELECT of ``_held_ids``.
_HELD_CHUNK = 500


@dataclass
class _Cursor:
    """Where ingestion stands in one feed during a page."""

    size: int
    frozen: int | None
    head: SignedEntry | None
    moved: bool = False
    stopped: bool = False

    def after(self, seq: int) -> bool:
        """Whether an entry at ``seq`` may be new here (and so needs verifying)."""
        return seq >= self.size and self.frozen is None


@dataclass
class _Batch:
    """Entries of a page taken in order, applied to ``view`` but not yet written."""

    view: DbStateView
    entries: list[SignedEntry] = field(default_factory=list)
    #: the same entries by (feed, seq), for a duplicate of one later in the page
    at: dict[tuple[str, int], SignedEntry] = field(default_factory=dict)

    def add(self, entry: SignedEntry) -> None:
        self.entries.append(entry)
        self.at[(entry.payload.feed, entry.payload.seq)] = entry


def ingest_sorted(
    conn: Connection,
    ids: Ids,
    keys: ThreadIds,
    ordered: Sequence[SignedEntry],
    membership: Membership,
    report: IngestReport,
) -> None:
    """Ingest ``ordered`` (sorted by order key) inside the write transaction ``conn``; ``ids``
    is this thread's from ``keys``, which a rolled-back SAVEPOINT makes forget."""
    feeds = dict.fromkeys(e.payload.feed for e in ordered)
    cursors = {feed: _cursor(conn, feed) for feed in feeds}
    new = [e for e in ordered if cursors[e.payload.feed].after(e.payload.seq)]
    with checked_ahead(new, membership) as ahead:
        _ingest_page(conn, ids, keys, ordered, cursors, ahead, membership, report)


def _ingest_page(
    conn: Connection,
    ids: Ids,
    keys: ThreadIds,
    ordered: Sequence[SignedEntry],
    cursors: dict[str, _Cursor],
    ahead: CheckedAhead,
    membership: Membership,
    report: IngestReport,
) -> None:
    """The sorted page inside its transaction, signatures checked ahead."""
    to_refold: set[str] = set()
    refold_entries: set[int] = set()
    high = _high_water(conn)
    believable = latest_believable_ts()  # this node's clock: an arrival check, not a rule
    batch = _Batch(DbStateView(conn, keys.on(conn)))
    held = _held_ids(conn, ids, ordered, cursors)
    loaded = 0  # entries of ``ordered`` whose packs ``batch.view`` has looked up
    for index, entry in enumerate(ordered):
        if index >= loaded:
            # The next entries' packs (those they commission too) in a few SELECTs, not one
            # per entry; as many as a batch holds, to bound memory on large commissionings.
            uris, loaded = _packs_named(ordered, index, _FLUSH_PACKS)
            batch.view.get_packs(uris)
        cursor = cursors[entry.payload.feed]
        if not _take(conn, ids, cursor, entry, ahead, report, batch, held):
            continue
        if entry.payload.ts > believable:
            report.future_dated.append(entry)
        key = entry.payload.order_key
        if high is None or key > high:
            high = key
            batch.add(entry)
            store_alerts(conn, apply(batch.view, entry, membership, strict=False), report)
            if batch.view.pending >= _FLUSH_PACKS:
                _write_batch(conn, batch)
            continue
        _write_batch(conn, batch)
        late = _ingest_out_of_order(conn, ids, keys, entry, membership, report)
        if late:
            to_refold |= late
            refold_entries.add(ids.entry_pk[entry.id])
        batch = _Batch(DbStateView(conn, keys.on(conn)))
        loaded = index + 1  # a new view: the next entry looks its window up again
    _write_batch(conn, batch)
    for feed, cursor in cursors.items():
        if cursor.moved and cursor.head is not None:
            set_head(conn, ids, cursor.head)
        if cursor.frozen is not None:
            conn.execute(update(m.FEEDS).where(F.name == feed).values(frozen_at=cursor.frozen))
    if to_refold:
        refold(conn, ids, to_refold, refold_entries, membership, report)


def _packs_named(entries: Sequence[SignedEntry], start: int, limit: int) -> tuple[list[str], int]:
    """The pack URIs ``entries[start:]`` touch, commissioned ones included, each once, and
    the index after the last entry looked at: none more once ``limit`` URIs are found."""
    prefix = f"{DL_ROOT}/01/"
    named: dict[str, None] = {}
    end = start
    while end < len(entries):
        entry = entries[end]
        end += 1
        try:  # every pack ``subjects_touched`` names (which adds lots and products)
            about = entry.about
        except LedgerError:  # a malformed commission is the lifecycle's to report
            continue
        for subject in about:
            if subject.startswith(prefix) and "/21/" in subject:
                named[subject] = None
        if len(named) >= limit:
            break
    return list(named), end


def _held_ids(
    conn: Connection, ids: Ids, ordered: Sequence[SignedEntry], cursors: dict[str, _Cursor]
) -> dict[tuple[str, int], str]:
    """The ids stored at the positions of ``ordered`` already held, by (feed, seq), in a few
    SELECTs: a page a peer sent again is told from a fork without reading each entry."""
    wanted: dict[str, list[int]] = {}
    for entry in ordered:
        feed, seq = entry.payload.feed, entry.payload.seq
        if seq < cursors[feed].size:
            wanted.setdefault(feed, []).append(seq)
    held: dict[tuple[str, int], str] = {}
    for feed, seqs in wanted.items():
        pk = ids.feed(feed)
        for start in range(0, len(seqs), _HELD_CHUNK):
            part = seqs[start : start + _HELD_CHUNK]
            rows = conn.execute(select(E.seq, E.entry_id).where(E.feed == pk, E.seq.in_(part)))
            held.update(((feed, row.seq), row.entry_id) for row in rows)
    return held


def _high_water(conn: Connection) -> OrderKey | None:
    """The greatest order key stored: each feed's head, as ts never goes back in a feed."""
    rows = conn.execute(
        select(E.ts, F.name, E.seq).join(m.FEEDS, F.id == E.feed).where(E.seq == F.size - 1)
    ).all()
    return max(((r.ts, r.name, r.seq) for r in rows), default=None)


def _cursor(conn: Connection, feed: str) -> _Cursor:
    row = conn.execute(select(F.size, F.frozen_at).where(F.name == feed)).one_or_none()
    size, frozen = (row.size, row.frozen_at) if row else (0, None)
    return _Cursor(size, frozen, head_of(conn, feed) if size else None)


def _take(
    conn: Connection,
    ids: Ids,
    cursor: _Cursor,
    entry: SignedEntry,
    ahead: CheckedAhead,
    report: IngestReport,
    batch: _Batch,
    held: dict[tuple[str, int], str],
) -> bool:
    """Whether ``entry`` is new at the end of its feed and verified (and the cursor moved
    past it); a duplicate, fork or refusal is recorded instead. ``held``: the ids stored at
    positions of the page, as the page began."""
    feed, seq = entry.payload.feed, entry.payload.seq
    if cursor.stopped:
        report.rejected.append(
            (entry.id, f"feed {feed}: an earlier entry of this page was refused")
        )
        return False
    if seq < cursor.size:
        taken = batch.at.get((feed, seq))
        if (taken.id if taken is not None else held.get((feed, seq))) == entry.id:
            report.duplicates += 1
            return False
        stored = taken or entry_at(conn, ids, feed, seq)
        if stored.id == entry.id:
            report.duplicates += 1
            return False
        try:
            check_fork(stored, entry, ahead.membership)
        except ForkDetected as fork:
            record_fork(conn, fork, report)
            cursor.frozen = seq if cursor.frozen is None else min(cursor.frozen, seq)
        except LedgerError as exc:
            report.rejected.append((entry.id, str(exc)))
        return False
    cursor.stopped = True  # until the entry is taken
    if cursor.frozen is not None:
        report.rejected.append(
            (entry.id, f"feed {feed} is frozen at the fork at seq {cursor.frozen}")
        )
        return False
    if seq > cursor.size:
        gap = SequenceGap(f"feed {feed}: expected seq {cursor.size}, found seq {seq}")
        report.rejected.append((entry.id, str(gap)))
        return False
    try:
        verify_link(cursor.head, entry, feed)
        ahead.check(entry)  # verify_entry, run ahead on a pool
        entry.require_sidecar()  # signed by its member: a wrong list is evidence
    except (KindNotAllowed, GtinOutsidePrefixes, OpeningInvalid) as exc:
        record_rejected(conn, entry, exc, ahead.membership, report)
        return False
    except (ChainError, SignatureInvalid, MembershipError) as exc:
        report.rejected.append((entry.id, str(exc)))
        return False
    cursor.head, cursor.size, cursor.moved, cursor.stopped = entry, seq + 1, True, False
    report.added += 1
    return True


def _ingest_out_of_order(
    conn: Connection,
    ids: Ids,
    keys: ThreadIds,
    entry: SignedEntry,
    membership: Membership,
    report: IngestReport,
) -> set[str]:
    """Store an entry ordered before some stored one; the subjects to refold if it is late."""
    insert_entry(conn, ids, entry)
    late = later_than(conn, ids, entry)
    if not late and not _apply_in_order(conn, keys, entry, membership, report):
        late = subjects_touched(entry)
    return late


def _write_batch(conn: Connection, batch: _Batch) -> None:
    """Write the batch's entries, then the states they changed (which refer to them)."""
    if batch.entries:
        insert_entries(conn, batch.view.ids, batch.entries)
        batch.entries.clear()
        batch.at.clear()
    batch.view.flush()


def _apply_in_order(
    conn: Connection,
    keys: ThreadIds,
    entry: SignedEntry,
    membership: Membership,
    report: IngestReport,
) -> bool:
    """Apply ``entry`` on top of the current state, unless a state it touches (a pack inside
    a container, say) already holds an entry ordered after it: then roll back, ``False``."""
    savepoint = conn.begin_nested()
    view = DbStateView(conn, keys.on(conn))
    alerts = apply(view, entry, membership, strict=False)
    if view.max_last is not None and view.max_last > entry.payload.order_key:
        savepoint.rollback()
        keys.forget()
        return False
    view.flush()
    savepoint.commit()
    store_alerts(conn, alerts, report)
    return True
