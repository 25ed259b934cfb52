"""Anti-entropy between stores in one process (``LocalPeer``): writes at several stores while
they pull from each other, then equal digests, heads, pack states and alerts; and the pull
logic's own defences, whatever the transport."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.serials import generate_serials
from ledger.state import MemoryState
from node.replication.pull import LocalPeer, PeerError, pull, pull_many, pull_round
from node.store import FeedHead
from tests.node.test_store_order import history, snapshot_memory, snapshot_store
from tests.node.world import GTIN, key, make_world
from tests.replication.support import base_history, ingest_all, open_node

HOME = {
    "acme/line1": "a",
    "dist/wh": "b",
    "ph/a": "c",
    "ph/b": "c",
    "reg/main": "d",
    "border/post": "d",
}


def longer_history() -> list[SignedEntry]:
    """``history()`` (clone, recall, late dispense …) and then 40 independent entries: more
    batches commissioned, more lots recalled."""
    entries, _ = history()
    last = {e.payload.feed: e for e in entries}
    acme = FeedWriter("acme/line1", key(11), last["acme/line1"])
    reg = FeedWriter("reg/main", key(16), last["reg/main"])
    for n in range(20):
        ts = f"2026-11-22T11:{n // 60:02d}:{n % 60:02d}.000Z"
        body = {
            "gtin": GTIN,
            "ilmd": {"lotNumber": f"X{n}", "itemExpirationDate": "2031-01-31"},
            "serials": generate_serials(3),
        }
        entries.append(
            acme.append(Kind.COMMISSION, ts=ts, subjects=[lot_uri(GTIN, f"X{n}")], body=body)
        )
        entries.append(reg.append(Kind.RECALL, ts=ts, subjects=[lot_uri(GTIN, f"X{n // 2}")]))
    return entries


def test_writes_at_four_stores_while_they_pull_converge(tmp_path: Path) -> None:
    """Each entry of a history is stored first at its feed's home store (as its node would
    sign it), in threads, while a puller keeps running ``pull_many`` at every store; then a few
    quiet rounds. Every store ends with the same heads, digest and entries, and pack states
    and alerts equal to the pure fold of the history."""
    entries = longer_history()
    membership = make_world().membership
    world = make_world()
    stores = {name: open_node(tmp_path / f"{name}.db", world) for name in "abcd"}
    try:
        by_home: dict[str, list[SignedEntry]] = {name: [] for name in stores}
        for entry in entries:
            by_home[HOME[entry.payload.feed]].append(entry)
        peers = {name: LocalPeer(name, store) for name, store in stores.items()}
        done = threading.Event()
        failures: list[BaseException] = []

        def writer(name: str) -> None:
            rng = random.Random(name)
            try:
                for entry in by_home[name]:
                    report = stores[name].ingest([entry], membership)
                    assert not report.rejected, report.rejected
                    done.wait(rng.random() / 100)
            except BaseException as exc:  # noqa: BLE001 (reported by the test thread)
                failures.append(exc)

        def puller() -> None:
            try:
                while not done.is_set():
                    for name, store in stores.items():
                        others = [p for n, p in peers.items() if n != name]
                        pull_many(others, store, membership, page=3)
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

        pulling = threading.Thread(target=puller)
        pulling.start()
        writers = [threading.Thread(target=writer, args=(name,)) for name in stores]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        pulling.join()
        assert not failures, failures
        for _ in range(3):
            for name, store in stores.items():
                pull_many([p for n, p in peers.items() if n != name], store, membership)

        digests = {store.digest() for store in stores.values()}
        assert len(digests) == 1
        heads = [store.heads() for store in stores.values()]
        assert all(h == heads[0] for h in heads)
        for store in stores.values():
            assert sorted(e.id for e in store.iter_entries()) == sorted(e.id for e in entries)
        expected = MemoryState()
        expected_alerts = sorted(a.id for a in fold(entries, membership, expected))
        for store in stores.values():
            assert snapshot_store(store) == snapshot_memory(expected)
            assert sorted(a.id for a in store.alerts()) == expected_alerts
    finally:
        for store in stores.values():
            store.close()


class Failing:
    """A peer whose every call fails, as an unreachable node does."""

    name = "down"

    def heads(self) -> dict[str, FeedHead]:
        raise PeerError("peer down: connection refused")

    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]:
        raise PeerError("peer down: connection refused")


class Liar(LocalPeer):
    """A store behind a peer that advertises more of every feed than it serves."""

    def heads(self) -> dict[str, FeedHead]:
        return {
            feed: FeedHead(feed, head.size + 50, head.head, None)
            for feed, head in self.store.heads().items()
        }


def test_one_failing_peer_does_not_stop_pull_many(tmp_path: Path) -> None:
    h = base_history()
    with open_node(tmp_path / "a.db", h.world) as a, open_node(tmp_path / "b.db", h.world) as b:
        ingest_all(a, h.base, h.world)
        result = pull_round([Failing(), LocalPeer("a", a)], b, h.world.membership)
        assert result.errors == {"down": "peer down: connection refused"}
        assert result.report.added == len(h.base)
        assert b.digest() == a.digest()
        # the old entry points keep working and log rather than raise
        assert pull_many([Failing()], b, h.world.membership).added == 0
        assert pull(LocalPeer("a", a), b, h.world.membership).added == 0


def test_a_peer_advertising_more_than_it_serves_is_dropped_and_others_used(
    tmp_path: Path,
) -> None:
    h = base_history()
    paths = [tmp_path / f"{n}.db" for n in "abc"]
    with (
        open_node(paths[0], h.world) as a,
        open_node(paths[1], h.world) as liar_store,
        open_node(paths[2], h.world) as b,
    ):
        ingest_all(a, h.base, h.world)
        ingest_all(liar_store, h.base[:2], h.world)
        result = pull_round([Liar("liar", liar_store), LocalPeer("a", a)], b, h.world.membership)
        assert "served none" in result.errors["liar"]
        assert b.digest() == a.digest()


def test_a_divergent_shorter_copy_is_compared_and_the_fork_recorded(tmp_path: Path) -> None:
    """The distributor signs two different entries at dist/wh #1 and gives one to each store;
    store a also holds a later entry, so b's copy is *shorter*. Pulling each way finds the
    other entry at #1: both stores keep both as evidence and freeze the feed there."""
    h = base_history()
    w = h.world
    genuine = h.base[-1]  # dist/wh #1
    writer = FeedWriter("dist/wh", key(12), h.base[-2])
    other = writer.append(Kind.UNPACK, ts=genuine.payload.ts, subjects=genuine.payload.subjects[:2])
    later = w.write("dist/wh", Kind.LOCK, subjects=[h.uris[7]])  # dist/wh #2, after genuine
    with open_node(tmp_path / "a.db", w) as a, open_node(tmp_path / "b.db", w) as b:
        ingest_all(a, [*h.base, later], w)
        ingest_all(b, [*h.base[:-1], other], w)
        to_b = pull_round([LocalPeer("a", a)], b, w.membership)
        to_a = pull_round([LocalPeer("b", b)], a, w.membership)
        assert len(to_a.report.forks) == 1
        assert len(to_b.report.forks) == 1
        for store in (a, b):
            assert store.heads()["dist/wh"].frozen_at == 1
            [alert] = store.alerts(code="fork")
            assert set(alert.evidence) == {genuine.id, other.id}


def _deliver_and_compare(tmp_path: Path, batches: list[list[SignedEntry]]) -> None:
    membership = make_world().membership
    with open_node(tmp_path / "order.db", make_world()) as store:
        for batch in batches:
            assert not store.ingest(batch, membership).rejected
        expected = MemoryState()
        fold(list(store.iter_entries()), membership, expected)
        assert snapshot_store(store) == snapshot_memory(expected)


def test_store_refolds_a_late_commission_under_a_later_recall(tmp_path: Path) -> None:
    """Found by replication: the distributor's receive, unpack and ship arrive before the
    manufacturer's commissioning, which then arrives with the regulator's (later) recall."""
    entries, _ = history()
    at = {(e.payload.feed, e.payload.seq): e for e in entries}
    _deliver_and_compare(
        tmp_path,
        [
            [at["dist/wh", 0]],
            [at["dist/wh", 1]],
            [at["dist/wh", 2]],
            [at["acme/line1", 0], at["reg/main", 0]],
        ],
    )


def test_store_refolds_a_late_dispense_before_an_applied_recall(tmp_path: Path) -> None:
    entries, _ = history()
    at = {(e.payload.feed, e.payload.seq): e for e in entries}
    _deliver_and_compare(tmp_path, [[at["acme/line1", 0]], [at["reg/main", 0]], [at["ph/b", 0]]])
