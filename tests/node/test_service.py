"""NodeService: local writes are signed at the next position, refused whole, never half."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

import pytest

from ledger.action import Action
from ledger.errors import KindNotAllowed, RuleViolation
from ledger.feed import verify_chain
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.openings import Sidecar
from node.replication.pull import LocalPeer, pull
from node.service import NodeService
from node.store import Store
from node.store import local_writes as store_module
from tests.node.world import GTIN, LOT, case, key, make_world, pack

EXPIRY = "2030-12-31"


def service(store: Store, feed: str = "acme/line1", seed: int = 11) -> NodeService:
    return NodeService(store, make_world().membership, feed, key(seed))


def test_a_batch_is_commissioned_in_chunks_under_one_transaction(store_url: str) -> None:
    with Store(store_url) as store:
        done = service(store).commission(GTIN, LOT, EXPIRY, count=2_500, chunk=1_000)
        assert [len(e.opening.values) for e in done.entries if isinstance(e.opening, Sidecar)] == [
            1_000,
            1_000,
            500,
        ]
        assert store.count("packs") == 2_500
        verify_chain(store.entries("acme/line1"), make_world().membership, feed="acme/line1")


def test_a_batch_with_one_duplicate_serial_is_refused_whole(store_url: str) -> None:
    with Store(store_url) as store:
        node = service(store)
        node.commission(GTIN, LOT, EXPIRY, serials=["A1", "A2"])
        with pytest.raises(RuleViolation) as refused:
            node.commission(
                GTIN, LOT, EXPIRY, serials=[f"B{i}" for i in range(1_500)] + ["A2"], chunk=1_000
            )
        assert refused.value.code == "duplicate_commission"
        assert store.count("packs") == 2
        assert store.heads()["acme/line1"].size == 1


def test_a_batch_larger_than_one_flush_is_still_refused_whole(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pack rows are written every ``_FLUSH_PACKS`` packs inside the batch's transaction: a
    serial repeated after such a write is still found, and the refusal leaves nothing stored."""
    monkeypatch.setattr(store_module, "_FLUSH_PACKS", 1_000)
    with Store(store_url) as store:
        node = service(store)
        with pytest.raises(RuleViolation) as refused:
            node.commission(
                GTIN, LOT, EXPIRY, serials=[f"B{i}" for i in range(2_500)] + ["B10"], chunk=500
            )
        assert refused.value.code == "duplicate_commission"
        assert store.count("packs") == 0
        assert "acme/line1" not in store.heads() or store.heads()["acme/line1"].size == 0
        done = node.commission(
            GTIN, LOT, EXPIRY, serials=[f"B{i}" for i in range(2_500)], chunk=500
        )
        assert store.count("packs") == 2_500
        assert done.entries[0].payload.seq == 0


@pytest.mark.parametrize(
    ("earlier", "batch", "chunk", "taken"),
    [
        # against an earlier batch, in the first chunk and after a flush of this batch
        (["A1", "A2"], ["A2", *(f"B{i}" for i in range(10))], 1_000, "A2"),
        (["A1", "A2"], [*(f"B{i}" for i in range(1_500)), "A2"], 1_000, "A2"),
        # within the batch: in a later chunk of the same flush, and after a flush
        ([], [*(f"B{i}" for i in range(700)), "B3"], 500, "B3"),
        ([], [*(f"B{i}" for i in range(2_500)), "B10"], 1_000, "B10"),
    ],
    ids=["earlier-first-chunk", "earlier-after-flush", "within-unflushed", "within-flushed"],
)
def test_duplicate_serial_in_batch_stores_nothing(
    store_url: str, earlier: list[str], batch: list[str], chunk: int, taken: str
) -> None:
    """A serial stored before, or repeated in the batch, refuses the whole batch with the
    lifecycle's own error naming it, whether the store finds it by its unique index while
    writing or among the packs it holds: no pack, entry or sidecar of the batch stays."""
    with Store(store_url) as store:
        node = service(store)
        first = node.commission(GTIN, LOT, EXPIRY, serials=earlier) if earlier else None
        with pytest.raises(RuleViolation) as refused:
            node.commission(GTIN, LOT, EXPIRY, serials=batch, chunk=chunk)
        assert refused.value.code == "duplicate_commission"
        assert str(refused.value) == f"serial {taken} of {GTIN} is already commissioned"
        assert refused.value.subject == pack(taken)
        if first is not None:  # the evidence names the entry that commissioned it first
            assert refused.value.evidence[0] == first.entries[0].id
        assert store.count("packs") == len(earlier)
        assert store.count("sidecars") == (1 if earlier else 0)
        head = store.heads().get("acme/line1")
        assert (head.size if head else 0) == (1 if earlier else 0)
        # the feed goes on at the next position
        after = node.commission(GTIN, LOT, EXPIRY, serials=["C1"])
        assert after.entries[0].payload.seq == (1 if earlier else 0)


def test_packs_commissioned_and_changed_in_one_write_are_stored_changed(store_url: str) -> None:
    """A pack changed by a later entry of the write that commissions it, before its row is
    written, is stored as changed; the lot's packs keep their order in the commissioning (its
    leaf order)."""
    with Store(store_url) as store:
        written = service(store).submit_many(
            [
                Action(
                    Kind.COMMISSION,
                    [lot_uri(GTIN, LOT)],
                    body={
                        "gtin": GTIN,
                        "ilmd": {"lotNumber": LOT, "itemExpirationDate": EXPIRY},
                        "serials": ["A1", "A2", "A3"],
                    },
                ),
                Action(Kind.PACK, subjects=[case(1), pack("A2")]),
            ]
        )
        packed, loose = store.pack(pack("A2")), store.pack(pack("A3"))
        assert packed is not None
        assert packed.container == case(1)
        assert loose is not None
        assert loose.container is None
        made = written[0].opening
        assert isinstance(made, Sidecar)
        assert store.lot_serials(GTIN, LOT)[1] == list(made.values)


def test_generated_serials_already_stored_are_drawn_again(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A random serial the GTIN already has (forced here: the CSPRNG repeats itself) is replaced,
    and the batch is signed again with fresh ones."""
    reads = iter([b"A" * 36, b"A" * 36, b"B" * 36])
    monkeypatch.setattr(secrets, "token_bytes", lambda n: next(reads)[:n])
    with Store(store_url) as store:
        node = service(store)
        first = node.commission(GTIN, LOT, EXPIRY, count=1)
        second = node.commission(GTIN, LOT, EXPIRY, count=1)
        assert first.serials != second.serials
        assert store.count("packs") == 2
        assert [e.payload.seq for e in store.entries("acme/line1")] == [0, 1]


def test_after_a_refusal_the_next_entry_takes_the_next_position(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        node = service(store)
        node.commission(GTIN, LOT, EXPIRY, serials=["A1"])
        with pytest.raises(KindNotAllowed):
            # a manufacturer may not dispense
            node.submit(Action(Kind.DISPENSE, subjects=[pack("A1")]))
        with pytest.raises(RuleViolation):
            node.submit(
                Action(Kind.SHIP, subjects=[pack("A1"), pack("NOPE")], body={"destination": "dist"})
            )
        entry = node.submit(Action(Kind.SHIP, subjects=[pack("A1")], body={"destination": "dist"}))
        assert entry.payload.seq == 1
        assert entry.payload.prev == store.entries("acme/line1")[0].id


def test_a_second_service_on_the_same_store_continues_the_feed(tmp_path: Path) -> None:
    """Two worker processes of one node share the database, never a position."""
    with Store(tmp_path / "node.db") as store:
        first, second = service(store), service(store)
        first.commission(GTIN, LOT, EXPIRY, serials=["A1", "A2"])
        second.submit(Action(Kind.PACK, subjects=[case(1), pack("A1")]))
        first.submit(Action(Kind.PACK, subjects=[case(2), pack("A2")]))
        assert [e.payload.seq for e in store.entries("acme/line1")] == [0, 1, 2]


def test_a_receive_is_stamped_after_the_ship_it_names(tmp_path: Path) -> None:
    world = make_world()
    with Store(tmp_path / "node.db") as store:
        store.ingest(
            [
                world.commission(["A1"]),
                ship := world.write(
                    "acme/line1", Kind.SHIP, subjects=[pack("A1")], body={"destination": "dist"}
                ),
            ],
            world.membership,
        )
        receiving = service(store, "dist/wh", 12)
        received = receiving.submit(Action(Kind.RECEIVE, subjects=[pack("A1")], refs=[ship.id]))
        assert received.payload.ts > ship.payload.ts


def test_refusals_name_the_rule(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        node = service(store)
        node.commission(GTIN, LOT, EXPIRY, serials=["A1"])
        with pytest.raises(RuleViolation, match="never commissioned") as unknown:
            node.submit(Action(Kind.SHIP, subjects=[pack("ZZZ")], body={"destination": "dist"}))
        assert unknown.value.code == "unknown_pack"


def test_concurrent_writers_of_one_feed_never_fork_it(store_url: str) -> None:
    """Several workers of one node write at once (real threads, real database): every entry
    lands at its own position and the feed stays one chain."""
    with Store(store_url) as store:
        service(store).commission(GTIN, LOT, EXPIRY, serials=[f"C{i}" for i in range(40)])
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with Store(store_url) as own:
                node = service(own)
                for i in range(index, 40, 4):
                    node.submit(Action(Kind.PACK, subjects=[case(100 + i), pack(f"C{i}")]))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with Store(store_url) as store:
        entries = store.entries("acme/line1")
        assert [e.payload.seq for e in entries] == list(range(41))
        verify_chain(entries, make_world().membership, feed="acme/line1")


def test_a_node_restored_from_an_old_backup_learns_its_own_head_before_signing(
    tmp_path: Path,
) -> None:
    membership = make_world().membership
    with Store(tmp_path / "node.db") as live:
        service(live).commission(GTIN, LOT, EXPIRY, serials=["A1"])
        backup = tmp_path / "backup.db"
        with (
            sqlite3.connect(live.url.removeprefix("sqlite:///")) as src,
            sqlite3.connect(backup) as dst,
        ):
            src.backup(dst)
        service(live).submit(Action(Kind.PACK, subjects=[case(1), pack("A1")]))
        with Store(tmp_path / "peer.db") as peer:
            pull(LocalPeer("live", live), peer, membership)  # a peer holds seq 1 too
            with Store(backup) as restored:
                node = service(restored)
                node.before_first_write = lambda: pull(
                    LocalPeer("peer", peer), restored, membership
                )
                entry = node.submit(Action(Kind.PACK, subjects=[case(2), pack("A1")]))
                assert entry.payload.seq == 2  # not a second, different entry at seq 1
                assert not restored.heads()["acme/line1"].frozen_at
