"""Re-verify a whole store: every entry's bytes, signature, chain and membership, then the
projection against a fresh fold of those entries.

Used by ``medtrace ledger verify``. It trusts nothing derived: ids are recomputed from the
payload bytes, heads from the chain, pack states from the entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from ledger.entry import SignedEntry, entry_id
from ledger.errors import LedgerError, MalformedEntry
from ledger.feed import verify_link
from ledger.lifecycle import fold
from ledger.membership import Membership
from ledger.openings import Sidecar
from ledger.state import MemoryState, PackState
from node.signatures import OrderedChecks, pool
from node.store import Store, StoredRow


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


#: Which entry a signature check is for: (feed name, seq, entry id).
_Tag = tuple[str, int, str]


def _located(tag: _Tag, exc: LedgerError) -> LedgerError:
    feed, seq, entry = tag
    return type(exc)(f"feed {feed} #{seq} (entry {entry}): {exc}")


def verify_store(
    store: Store, membership: Membership, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Raise the first ``LedgerError`` found, in feed and seq order; return counts when
    everything holds.

    Signatures are checked on a thread pool while the entries after them are parsed and linked,
    and while the fold is compared with the projection. Before an error is raised, the checks
    of the entries before it are waited for, so the error is the one that checking one entry at
    a time would give.
    """
    with pool() as executor:
        checks: OrderedChecks[_Tag] = OrderedChecks(executor)

        def fail(exc: LedgerError) -> NoReturn:
            earlier = checks.first_invalid()
            raise (_located(*earlier) if earlier is not None else exc) from None

        entries, feeds = _read_entries(store, membership, checks, fail, progress)
        try:
            packs, alerts = _compare_projection(store, membership, entries)
        except LedgerError as exc:
            fail(exc)
        earlier = checks.first_invalid()
        if earlier is not None:
            raise _located(*earlier) from None
    return VerifyReport(feeds, len(entries), packs, alerts)


def _compare_projection(
    store: Store, membership: Membership, entries: list[SignedEntry]
) -> tuple[int, int]:
    """The stored packs against a fresh fold of ``entries``: the packs and alerts counted."""
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
    return len(stored), len(alerts)


def _read_entries(
    store: Store,
    membership: Membership,
    checks: OrderedChecks[_Tag],
    fail: Callable[[LedgerError], NoReturn],
    progress: Callable[[int], None] | None,
) -> tuple[list[SignedEntry], int]:
    """Every entry, feed by feed: parsed, linked and authorised here, its signature queued on
    ``checks``; the first error found goes to ``fail``. The entries and the number of feeds."""
    entries: list[SignedEntry] = []
    with store.stored_ledger() as ledger:
        feeds = ledger.feeds()
        for feed in feeds:
            head: SignedEntry | None = None
            seq = 0
            while rows := ledger.rows(feed.name, seq, 2000):
                for row in rows:
                    tag = (feed.name, row.seq, row.entry_id)
                    try:
                        entry = _parsed(row)
                        verify_link(head, entry, feed.name)
                        key = membership.authorise(entry.payload)
                    except LedgerError as exc:
                        fail(_located(tag, exc))
                    checks.add(tag, entry, key)
                    head = entry
                    entries.append(entry)
                    if progress is not None:
                        progress(len(entries))
                seq = rows[-1].seq + 1
            found = (head.payload.seq + 1, head.id) if head else (0, None)
            if found != (feed.size, feed.head):
                fail(
                    MalformedEntry(
                        f"feed {feed.name}: expected the stored head (size {feed.size}, {feed.head}) to match "
                        f"the chain, found size {found[0]}, head {found[1]}"
                    )
                )
    return entries, len(feeds)


def _parsed(row: StoredRow) -> SignedEntry:
    """The entry of a stored row, its stored id and seq checked against its payload bytes."""
    if entry_id(row.payload) != row.entry_id:
        raise MalformedEntry(
            f"expected stored id {row.entry_id} to be the SHA-256 of the stored "
            f"payload, found {entry_id(row.payload)} (the payload bytes were changed)"
        )
    entry = SignedEntry.from_bytes(row.payload, row.signature)
    if entry.payload.seq != row.seq:
        raise MalformedEntry(f"expected seq {row.seq} in the payload, found {entry.payload.seq}")
    if row.sidecar is not None and row.sidecar_size is not None:
        entry = entry.with_opening(Sidecar.from_bytes(row.sidecar, row.sidecar_size), check=False)
    entry.require_sidecar()  # the packs stored beside it make the signed root, all of them
    return entry
