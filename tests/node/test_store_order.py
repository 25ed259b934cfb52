"""The stored projection equals the pure fold, whatever order entries arrive in."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.serials import generate_serials
from ledger.state import MemoryState
from node.store import Store
from tests.node.world import GTIN, LOT, case, equivocate, make_world, pack

Snapshot = dict[str, tuple[str, str, str | None, str | None]]


def history() -> tuple[list[SignedEntry], list[str]]:
    """Commission, aggregate, ship, receive, split, dispense, clone, recall, dispense late."""
    w = make_world()
    serials = generate_serials(60)
    uris = [pack(s) for s in serials]
    out = [w.commission(serials[:30]), w.commission(serials[30:])]
    out.append(w.write("acme/line1", Kind.PACK, subjects=[case(1), *uris[:20]]))
    out.append(
        ship := w.write("acme/line1", Kind.SHIP, subjects=[case(1)], body={"destination": "dist"})
    )
    out.append(w.write("dist/wh", Kind.RECEIVE, subjects=[case(1)], refs=[ship.id]))
    out.append(w.write("dist/wh", Kind.UNPACK, subjects=[case(1), *uris[:5]]))
    out.append(
        ship2 := w.write("dist/wh", Kind.SHIP, subjects=uris[:5], body={"destination": "ph"})
    )
    out.append(w.write("ph/a", Kind.RECEIVE, subjects=uris[:5], refs=[ship2.id]))
    out.append(w.write("ph/a", Kind.DISPENSE, subjects=[uris[0]]))
    out.append(w.write("ph/b", Kind.DISPENSE, subjects=[uris[0]]))
    out.append(
        w.write("reg/main", Kind.RECALL, subjects=[f"https://id.gs1.org/01/{GTIN}/10/{LOT}"])
    )
    out.append(w.write("ph/a", Kind.DISPENSE, subjects=[uris[1]]))
    out.append(w.write("border/post", Kind.INSPECT, subjects=[case(1)], body={"decision": "hold"}))
    return out, uris


def snapshot_store(store: Store) -> Snapshot:
    return {
        p.uri: (p.status.value, p.custodian, p.container, p.changed_by) for p in store.pack_rows()
    }


def snapshot_memory(state: MemoryState) -> Snapshot:
    return {
        p.uri: (p.status.value, p.custodian, p.container, p.changed_by)
        for p in state.packs.values()
    }


def deliver(store: Store, entries: list[SignedEntry], seed: int) -> None:
    """Interleave feeds at random, one entry per ingest, each feed in its own seq order."""
    by_feed: dict[str, list[SignedEntry]] = {}
    for entry in entries:
        by_feed.setdefault(entry.payload.feed, []).append(entry)
    turns = [feed for feed, items in by_feed.items() for _ in items]
    random.Random(seed).shuffle(turns)
    position = dict.fromkeys(by_feed, 0)
    membership = make_world().membership
    for feed in turns:
        store.ingest([by_feed[feed][position[feed]]], membership)
        position[feed] += 1


def test_rebuild_gives_the_same_state_as_incremental_ingest(store_url: str) -> None:
    entries, _ = history()
    membership = make_world().membership
    with Store(store_url) as store:
        deliver(store, entries, seed=3)
        before, alerts_before = snapshot_store(store), sorted(a.id for a in store.alerts())
        store.rebuild(membership)
        assert snapshot_store(store) == before
        assert sorted(a.id for a in store.alerts()) == alerts_before


def test_the_same_entries_give_the_same_digest_at_two_stores(tmp_path: Path) -> None:
    entries, _ = history()
    with Store(tmp_path / "one.db") as one, Store(tmp_path / "two.db") as two:
        deliver(one, entries, seed=1)
        deliver(two, entries, seed=2)
        assert one.digest() == two.digest()
        assert one.heads() == two.heads()


def test_nodes_that_saw_different_sides_of_a_fork_agree_once_both_hold_both(tmp_path: Path) -> None:
    world = make_world()
    commission, to_dist, to_ph = equivocate(world)
    with Store(tmp_path / "a.db") as one, Store(tmp_path / "b.db") as two:
        one.ingest([commission, to_dist], world.membership)
        two.ingest([commission, to_ph], world.membership)
        assert one.digest() != two.digest()
        assert len(one.ingest([to_ph], world.membership).forks) == 1
        assert len(two.ingest([to_dist], world.membership).forks) == 1
        assert one.heads()["acme/line1"].frozen_at == two.heads()["acme/line1"].frozen_at == 1
        assert one.digest() == two.digest()
        assert {a.code.value for a in one.alerts()} >= {"fork"}


def deliver_in_pages(store: Store, entries: list[SignedEntry], seed: int) -> None:
    """Feeds interleaved at random as in ``deliver``, then cut into shuffled pages of one to
    eight entries: one page mixes entries ordered after everything stored with late ones, and
    sometimes repeats an entry of the page before."""
    by_feed: dict[str, list[SignedEntry]] = {}
    for entry in entries:
        by_feed.setdefault(entry.payload.feed, []).append(entry)
    turns = [feed for feed, items in by_feed.items() for _ in items]
    rng = random.Random(seed)
    rng.shuffle(turns)
    position = dict.fromkeys(by_feed, 0)
    arrival: list[SignedEntry] = []
    for feed in turns:
        arrival.append(by_feed[feed][position[feed]])
        position[feed] += 1
    membership = make_world().membership
    start = 0
    previous: list[SignedEntry] = []
    while start < len(arrival):
        page = arrival[start : start + rng.randint(1, 8)]
        start += len(page)
        repeated = previous[-1:] if rng.random() < 0.3 else []
        previous = list(page)
        page = page + repeated
        rng.shuffle(page)
        report = store.ingest(page, membership)
        assert report.added == len(page) - len(repeated)
        assert report.duplicates == len(repeated)
        assert not report.rejected


DELIVERIES = {"one-entry-at-a-time": deliver, "in-shuffled-pages": deliver_in_pages}


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"order-{s}")
@pytest.mark.parametrize("delivery", DELIVERIES.values(), ids=DELIVERIES.keys())
def test_any_delivery_order_gives_the_folded_state(
    store_url: str, delivery: Callable[[Store, list[SignedEntry], int], None], seed: int
) -> None:
    entries, _ = history()
    membership = make_world().membership
    expected = MemoryState()
    expected_alerts = fold(entries, membership, expected)
    with Store(store_url) as store:
        delivery(store, entries, seed)
        assert snapshot_store(store) == snapshot_memory(expected)
        assert sorted(a.id for a in store.alerts()) == sorted(a.id for a in expected_alerts)
        assert {a.code.value for a in store.alerts()} >= {"suspected_clone", "recalled"}


def test_a_whole_history_in_one_page_gives_the_folded_state(store_url: str) -> None:
    entries, _ = history()
    membership = make_world().membership
    expected = MemoryState()
    expected_alerts = fold(entries, membership, expected)
    with Store(store_url) as store:
        report = store.ingest(list(reversed(entries)) + entries[:3], membership)
        assert (report.added, report.duplicates) == (len(entries), 3)
        assert snapshot_store(store) == snapshot_memory(expected)
        assert sorted(a.id for a in store.alerts()) == sorted(a.id for a in expected_alerts)


def test_a_fork_inside_one_page_is_recorded_and_freezes_the_feed(tmp_path: Path) -> None:
    world = make_world()
    commission, to_dist, to_ph = equivocate(world)
    with Store(tmp_path / "a.db") as store:
        report = store.ingest([commission, to_dist, to_ph], world.membership)
        assert report.added == 2
        assert len(report.forks) == 1
        assert store.heads()["acme/line1"].frozen_at == 1
