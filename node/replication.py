"""Pull-based anti-entropy: ask a peer for its heads, fetch what is missing in pages, ingest.

A ``Peer`` is anything that answers ``heads`` and ``entries``: another store in the same
process (``LocalPeer``, for tests and the in-process demo) or a node over HTTP. Nothing a peer
sends is trusted: the store verifies every entry before it keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ledger.entry import SignedEntry
from ledger.membership import Membership
from node.store import FeedHead, IngestReport, Store

PAGE = 1000


class Peer(Protocol):
    name: str

    def heads(self) -> dict[str, FeedHead]: ...
    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]: ...


class LocalPeer:
    """A peer that is another store in this process."""

    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self.store = store

    def heads(self) -> dict[str, FeedHead]:
        return self.store.heads()

    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]:
        return self.store.entries(feed, from_seq, limit)


def _merge(total: IngestReport, part: IngestReport) -> None:
    total.added += part.added
    total.duplicates += part.duplicates
    total.alerts.extend(part.alerts)
    total.forks.extend(part.forks)
    total.rejected.extend(part.rejected)


def pull(peer: Peer, store: Store, membership: Membership, page: int = PAGE) -> IngestReport:
    """Fetch from ``peer`` every entry ``store`` lacks; a differing head at the same size is
    fetched too, so a fork shows up as evidence rather than being skipped."""
    report = IngestReport()
    ours = store.heads()
    for feed, theirs in sorted(peer.heads().items()):
        mine = ours.get(feed)
        have = mine.size if mine else 0
        if mine is not None and mine.frozen_at is not None:
            continue
        if theirs.size <= have:
            if (
                theirs.size
                and mine is not None
                and theirs.size == have
                and theirs.head != mine.head
            ):
                _merge(report, store.ingest(peer.entries(feed, theirs.size - 1, 1), membership))
            continue
        seq = have
        while seq < theirs.size:
            batch = peer.entries(feed, seq, page)
            if not batch:
                break
            part = store.ingest(batch, membership)
            _merge(report, part)
            if part.rejected or part.added == 0:
                break
            seq += part.added + part.duplicates
    return report


def pull_many(
    peers: Sequence[Peer], store: Store, membership: Membership, page: int = PAGE
) -> IngestReport:
    """Pull from several peers at once: for each feed, what is missing is fetched from the peer
    that holds most of it, and everything fetched is ingested together in its order key, so a
    history spread over feeds arrives in order instead of being refolded."""
    report = IngestReport()
    ours = store.heads()
    best: dict[str, tuple[Peer, FeedHead]] = {}
    for peer in peers:
        for feed, theirs in peer.heads().items():
            mine = ours.get(feed)
            if mine is not None and mine.frozen_at is not None:
                continue
            if (
                mine is not None
                and theirs.size == mine.size
                and theirs.size
                and theirs.head != mine.head
            ):
                _merge(report, store.ingest(peer.entries(feed, theirs.size - 1, 1), membership))
            if theirs.size > (mine.size if mine else 0) and (
                feed not in best or theirs.size > best[feed][1].size
            ):
                best[feed] = (peer, theirs)
    fetched: list[SignedEntry] = []
    for feed, (peer, theirs) in sorted(best.items()):
        seq = ours[feed].size if feed in ours else 0
        while seq < theirs.size:
            batch = peer.entries(feed, seq, page)
            if not batch:
                break
            fetched.extend(batch)
            seq = batch[-1].payload.seq + 1
    fetched.sort(key=lambda e: e.payload.order_key)
    for start in range(0, len(fetched), page * 5):
        _merge(report, store.ingest(fetched[start : start + page * 5], membership))
    return report
