"""Storing entries this node signs: verified, the rules applied strictly, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, select

from ledger.alerts import Code
from ledger.clock import FUTURE_TOLERANCE, latest_believable_ts
from ledger.entry import SignedEntry
from ledger.errors import FeedFrozen, LedgerError, RuleViolation
from ledger.feed import verify_entry, verify_link
from ledger.lifecycle import apply
from ledger.membership import Membership
from ledger.timefmt import now_ts
from node.store import models as m
from node.store.entry_rows import head_of, insert_entries, set_head
from node.store.ids import Ids
from node.store.view import DbStateView

F = m.FEEDS.c

#: A large local batch writes its pack rows every this many packs, inside its one transaction:
#: later entries of the batch find those rows in the database, so the batch is still all or
#: nothing, and memory stays bounded. Written while young, the packs' objects never pile up for
#: the garbage collector either: every 50,000 packs measured 17% slower per pack. Ingest and
#: rebuild write their batches at the same size.
_FLUSH_PACKS = 1_000


#: Entries per ``insert_entries``: a 1,000-pack commissioning's sidecar is ~29 kB to write, so
#: a million-pack call holds at most ~3 MB of them at once.
_INSERT_ENTRIES = 100


class StaleTimestamp(LedgerError):
    """A local entry would sort before an entry already applied to a pack it touches.

    The writer re-stamps it no earlier than ``floor`` and tries again, so local entries are
    always applied in their order key (ADR 0003).
    """

    def __init__(self, floor: str) -> None:
        super().__init__(f"expected a timestamp no earlier than {floor} for this entry")
        self.floor = floor


def write_local(
    conn: Connection,
    ids: Ids,
    feed: str,
    build: Callable[[SignedEntry | None], Sequence[SignedEntry]],
    membership: Membership,
    *,
    defer_unique: bool = False,
) -> list[SignedEntry]:
    """Inside the write transaction: ``build`` gets the stored head of ``feed`` and returns the
    entries to append after it, each verified, stored and applied with the rules strict.
    ``defer_unique``: commissioned packs are not looked up first, UNIQUE(gtin, serial) refuses
    any already stored (``PacksTaken``, the transaction to be rolled back and made again
    without it)."""
    feed_pk = ids.feed(feed)
    frozen = conn.execute(select(F.frozen_at).where(F.id == feed_pk)).scalar()
    if frozen is not None:
        raise FeedFrozen(f"feed {feed} is frozen at the fork at seq {frozen}")
    head = head_of(conn, feed)
    entries = list(build(head))
    _refuse_future(entries)
    for entry in entries:
        verify_link(head, entry, feed)
        verify_entry(entry, membership)
        head = entry
    # Their rows in multi-row INSERTs (and their sidecars), then applied in order.
    for start in range(0, len(entries), _INSERT_ENTRIES):
        insert_entries(conn, ids, entries[start : start + _INSERT_ENTRIES])
    view = DbStateView(conn, ids, defer_unique=defer_unique)
    for entry in entries:
        apply(view, entry, membership, strict=True)
        if view.max_last is not None and view.max_last > entry.payload.order_key:
            raise StaleTimestamp(view.max_last[0])
        if view.pending >= _FLUSH_PACKS:
            view.flush()
    view.flush()
    if head is not None:
        set_head(conn, ids, head)
    return entries


def _refuse_future(entries: Sequence[SignedEntry]) -> None:
    """A node never stores (so never sends) an entry of its own dated more than
    ``FUTURE_TOLERANCE`` after its clock. The writer stamps its clock's time unless the entry
    must follow a later one (its feed's head, an entry it refs or that touched its subjects):
    such an entry is itself dated in the future, so the write waits until that time is past."""
    believable = latest_believable_ts()
    for entry in entries:
        p = entry.payload
        if p.ts > believable:
            minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
            raise RuleViolation(
                Code.FUTURE_DATED,
                f"expected this node's {p.kind.value} dated at most {minutes} minutes after its "
                f"clock ({now_ts()}), found it dated {p.ts}: an entry it must follow (its "
                "feed's head, an entry it refers to, an earlier entry about its subjects) is "
                "dated that late; write again once that time has come, or find who signed it",
                subject=p.subjects[0] if p.subjects else p.feed,
            )
