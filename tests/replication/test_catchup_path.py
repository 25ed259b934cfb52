"""The catch-up path (docs/performance.md, "Catch-up after downtime"): one feed streamed page by
page, the replicator's threads sharing feed claims, duplicates told by id, pages served from
the stored bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ledger.entry import SignedEntry
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.openings import commit
from ledger.serials import generate_serials
from node.replication.pull import FeedClaims, LocalPeer, PullResult, pull, pull_round
from node.store import IngestReport, Store
from tests.node.world import EXPIRY, GTIN, LOT, World, make_world
from tests.replication.support import ingest_all, open_node

ENTRIES = 25


def one_pack_entries(world: World, count: int = ENTRIES) -> list[SignedEntry]:
    """``count`` commissioning entries of one pack each, each with its sidecar, as a writer
    with ``chunk: 1`` signs them (format v2)."""
    body = {"gtin": GTIN, "ilmd": {"lotNumber": LOT, "itemExpirationDate": EXPIRY}}
    made = []
    for serial in generate_serials(count):
        subjects, committed, sidecar = commit(
            Kind.COMMISSION, [lot_uri(GTIN, LOT)], {**body, "serials": [serial]}
        )
        entry = world.write("acme/line1", Kind.COMMISSION, subjects=subjects, body=committed)
        made.append(entry.with_opening(sidecar))
    return made


class CountingStore(Store):
    """A store that records the size of every ``ingest`` call."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[int] = []

    def ingest(self, entries: Iterable[SignedEntry], membership: Membership) -> IngestReport:
        listed = list(entries)
        self.calls.append(len(listed))
        return super().ingest(listed, membership)


class CountingPeer(LocalPeer):
    def __init__(self, name: str, store: Store) -> None:
        super().__init__(name, store)
        self.asked: list[int] = []

    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]:
        self.asked.append(from_seq)
        return super().entries(feed, from_seq, limit)


def test_one_feed_is_ingested_page_by_page(tmp_path: Path) -> None:
    """A plan of one feed: every page is ingested as it comes, in order, all verified."""
    world = make_world()
    entries = one_pack_entries(world)
    with open_node(tmp_path / "src.db", world) as source:
        ingest_all(source, entries, world)
        late = CountingStore(tmp_path / "late.db")
        with late:
            peer = CountingPeer("src", source)
            report = pull(peer, late, world.membership, page=4)
            assert report.added == ENTRIES
            assert not report.rejected
            assert peer.asked == list(range(0, ENTRIES, 4))
            assert late.calls == [4, 4, 4, 4, 4, 4, 1]
            assert late.heads() == source.heads()


def test_threads_pulling_one_feed_fetch_it_once(tmp_path: Path) -> None:
    """Three pullers of one store from three peers holding the same feed, at once, with shared
    claims: every entry is fetched once, and the store holds them all."""
    world = make_world()
    entries = one_pack_entries(world)
    with open_node(tmp_path / "src.db", world) as source, Store(tmp_path / "late.db") as late:
        ingest_all(source, entries, world)
        claims = FeedClaims()
        results = [PullResult() for _ in range(3)]
        start = threading.Barrier(3)

        def run(number: int) -> None:
            start.wait()
            pull_round(
                [LocalPeer(f"p{number}", source)],
                late,
                world.membership,
                page=3,
                result=results[number],
                claims=claims,
            )

        threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sum(sum(r.fetched.values()) for r in results) == ENTRIES
        assert sum(r.report.added for r in results) == ENTRIES
        assert not any(r.report.rejected or r.errors for r in results)
        assert late.heads() == source.heads()


def test_a_claim_is_waited_for_until_released_or_stale() -> None:
    claims = FeedClaims(stale_s=0.3)
    taken_at: list[float] = []

    def second() -> None:
        with claims.hold("acme/line1", lambda: None):
            taken_at.append(time.monotonic())

    with claims.hold("acme/line1", lambda: None) as progressed:
        waiter = threading.Thread(target=second)
        waiter.start()
        for _ in range(4):  # progress keeps it waiting past the stale time
            time.sleep(0.15)
            progressed()
        before_release = time.monotonic()
    waiter.join(5)
    assert taken_at
    assert taken_at[0] >= before_release

    with claims.hold("acme/line1", lambda: None):  # no progress: stale after 0.3 s
        held_at = time.monotonic()
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(5)
        assert len(taken_at) == 2
        assert taken_at[1] - held_at >= 0.29


def test_a_page_sent_again_is_told_duplicate_by_id(tmp_path: Path) -> None:
    world = make_world()
    entries = one_pack_entries(world, 10)
    with open_node(tmp_path / "late.db", world) as late:
        first: IngestReport = late.ingest(entries[:6], world.membership)
        again = late.ingest(entries, world.membership)
        assert (first.added, again.added, again.duplicates) == (6, 4, 6)
        assert not again.rejected
        assert not again.forks


def test_served_pages_are_the_wire_form_of_the_stored_entries(tmp_path: Path) -> None:
    world = make_world()
    entries = one_pack_entries(world, 5)
    with open_node(tmp_path / "src.db", world) as source:
        ingest_all(source, entries, world)
        held = source.entries("acme/line1", 1, 3)
        assert source.entries_wire("acme/line1", 1, 3, True) == [e.to_wire() for e in held]
        assert source.entries_wire("acme/line1", 1, 3, False) == [
            e.with_opening(None).to_wire() for e in held
        ]
        wires = [e.to_wire() for e in source.entries("acme/line1", 0, 9)]
        assert all("sidecar" in w for w in wires)
        assert source.entries_wire("acme/line1", 0, 9, True) == wires
        assert source.entries_wire("acme/none", 0, 9, True) == []
