"""Re-verify a whole store: every entry's bytes, signature, chain and membership, then the
projection against a fresh fold of those entries.

Used by ``medtrace ledger verify``. It trusts nothing derived: ids are recomputed from the
payload bytes, heads from the chain, pack states from the entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from ledger.entry import SignedEntry, entry_id
from ledger.errors import LedgerError, MalformedEntry
from ledger.feed import verify_entry, verify_link
from ledger.lifecycle import fold
from ledger.membership import Membership
from ledger.state import MemoryState, PackState
from node.store import Store
from node.store.models import ENTRIES, FEEDS


class ProjectionMismatch(LedgerError):
    """The stored projection differs from the fold of the stored entries."""


@dataclass(frozen=True)
class VerifyReport:
    feeds: int
    entries: int
    packs: int
    alerts: int


def _pack_view(state: PackState) -> tuple[object, ...]:
    return (
        state.status,
        state.custodian,
        state.container,
        state.destination,
        state.changed_by,
        state.lot,
        state.expiry,
    )


def verify_store(
    store: Store, membership: Membership, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Raise the first ``LedgerError`` found; return counts when everything holds."""
    entries: list[SignedEntry] = []
    with store.reader.connect() as conn:
        feeds = conn.execute(
            select(FEEDS.c.id, FEEDS.c.name, FEEDS.c.size, FEEDS.c.head).order_by(FEEDS.c.name)
        ).all()
        for feed in feeds:
            head: SignedEntry | None = None
            seq = 0
            while True:
                rows = conn.execute(
                    select(
                        ENTRIES.c.seq, ENTRIES.c.entry_id, ENTRIES.c.payload, ENTRIES.c.signature
                    )
                    .where(ENTRIES.c.feed == feed.id, ENTRIES.c.seq >= seq)
                    .order_by(ENTRIES.c.seq)
                    .limit(2000)
                ).all()
                if not rows:
                    break
                for row in rows:
                    where = f"feed {feed.name} #{row.seq}"
                    if entry_id(row.payload) != row.entry_id:
                        raise MalformedEntry(
                            f"{where}: expected stored id {row.entry_id} to be the SHA-256 of the stored "
                            f"payload, found {entry_id(row.payload)} (the payload bytes were changed)"
                        )
                    try:
                        entry = SignedEntry.from_bytes(row.payload, row.signature)
                        if entry.payload.seq != row.seq:
                            raise MalformedEntry(
                                f"expected seq {row.seq} in the payload, found {entry.payload.seq}"
                            )
                        verify_link(head, entry, feed.name)
                        verify_entry(entry, membership)
                    except LedgerError as exc:
                        raise type(exc)(f"{where} (entry {row.entry_id}): {exc}") from None
                    head = entry
                    entries.append(entry)
                    if progress is not None:
                        progress(len(entries))
                seq = rows[-1].seq + 1
            found = (head.payload.seq + 1, head.id) if head else (0, None)
            if found != (feed.size, feed.head):
                raise MalformedEntry(
                    f"feed {feed.name}: expected the stored head (size {feed.size}, {feed.head}) to match "
                    f"the chain, found size {found[0]}, head {found[1]}"
                )
    expected = MemoryState()
    alerts = fold(entries, membership, expected)
    stored = {p.uri: p for p in store.pack_rows()}
    if stored.keys() != expected.packs.keys():
        missing = sorted(expected.packs.keys() - stored.keys())[:3]
        extra = sorted(stored.keys() - expected.packs.keys())[:3]
        raise ProjectionMismatch(
            f"expected the packs of the entries, found missing {missing} and extra {extra}"
        )
    for uri, state in expected.packs.items():
        if _pack_view(stored[uri]) != _pack_view(state):
            raise ProjectionMismatch(
                f"pack {uri}: expected {_pack_view(state)} from the entries, found {_pack_view(stored[uri])} stored"
            )
    return VerifyReport(len(feeds), len(entries), len(stored), len(alerts))
