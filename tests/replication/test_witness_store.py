"""A node taking checkpoints (``node.replication.witnessing.take_note``) over a real SQLite store
holding the golden scenario: it cosigns what its entries confirm, gathers other witnesses'
cosignatures, and keeps a split view as evidence, freezes the feed and raises
``checkpoint_fork`` (docs/spec/proofs.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger.alerts import Code
from ledger.feedlog import FeedTree, sign_feed_checkpoint
from ledger.witness import cosign_feed_checkpoint, open_feed_checkpoint
from node.replication.witnessing import CheckpointKey, publish_own, served_checkpoints, take_note
from node.store import Store
from tests.vectors import golden

GENESIS = golden.signed_genesis().id
FEED = golden.MANUFACTURER
NOW = 1_772_622_000


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "node.db")
    s.save_membership(golden.signed_genesis())
    s.set_meta("genesis_id", GENESIS)
    s.ingest([entry for _, entry in golden.scenario()], golden.genesis_membership())
    return s


def witness(feed: str = golden.DISTRIBUTOR) -> CheckpointKey:
    return CheckpointKey(feed, golden.feed_keys()[feed], GENESIS)


def writer_note(ids: list[str], size: int | None = None) -> bytes:
    tree = FeedTree(FEED, ids)
    return sign_feed_checkpoint(GENESIS, tree.checkpoint(GENESIS, size), golden.feed_keys()[FEED])


def held_ids(store: Store) -> list[str]:
    return [e.id for e in store.entries(FEED)]


def test_a_witness_cosigns_what_its_entries_confirm(store: Store) -> None:
    m = golden.genesis_membership()
    ids = held_ids(store)
    assert len(ids) == 3
    taken = take_note(store, m, writer_note(ids, 2), NOW, witness())
    assert taken.status == "cosigned"
    taken = take_note(store, m, writer_note(ids), NOW + 1, witness())
    assert taken.status == "cosigned"  # it extends the one cosigned, by a consistency proof
    held = store.checkpoint(FEED)
    assert held is not None
    assert (held.size, held.cosigners, held.own_cosignature) == (3, 1, NOW + 1)
    # Taken again at once: nothing new; an older size is kept but not cosigned again.
    assert take_note(store, m, writer_note(ids), NOW + 2, witness()).status == "held"
    assert store.last_cosigned(FEED) == held
    # Another witness's cosignature, sent by anyone, is gathered.
    other = open_feed_checkpoint(m, GENESIS, writer_note(ids))
    key = golden.feed_keys()[golden.PHARMACY]
    note = cosign_feed_checkpoint(other, GENESIS, golden.PHARMACY, key, NOW + 5)
    assert take_note(store, m, note, NOW + 5).status == "taken"
    held = store.checkpoint(FEED)
    assert held is not None
    assert open_feed_checkpoint(m, GENESIS, held.note).cosigned == {
        "nordic-dist": NOW + 1,
        "city-pharmacy": NOW + 5,
    }
    # Beyond the entries held: waits; a note by another key: refused.
    more = [*ids, hashlib.sha256(b"later").hexdigest()]
    assert take_note(store, m, writer_note(more), NOW, witness()).status == "ahead"
    forged = sign_feed_checkpoint(
        GENESIS, FeedTree(FEED, ids).checkpoint(GENESIS), golden.feed_keys()[golden.DISTRIBUTOR]
    )
    refused = take_note(store, m, forged, NOW, witness())
    assert refused.status == "refused"
    assert "no verifiable signatures" in refused.message


def test_a_node_publishes_its_own_feed(store: Store) -> None:
    m = golden.genesis_membership()
    own = CheckpointKey(FEED, golden.feed_keys()[FEED], GENESIS)
    published = publish_own(store, m, own)
    assert published is not None
    assert published.size == 3
    assert published.root == store.feed_tree(FEED).root
    assert published.own_cosignature is None  # a writer never cosigns its own feed


def test_split_view_two_checkpoints_same_size(store: Store) -> None:
    m = golden.genesis_membership()
    ids = held_ids(store)
    assert take_note(store, m, writer_note(ids), NOW, witness()).status == "cosigned"
    # The writer signs another tree of the same size: a split view.
    other = writer_note([ids[0], ids[1], hashlib.sha256(b"other").hexdigest()])
    taken = take_note(store, m, other, NOW, witness())
    assert taken.status == "fork"
    assert "expected one root at size 3" in taken.message
    (fork,) = store.checkpoint_forks()
    assert fork.first == store.checkpoint(FEED).note  # type: ignore[union-attr]
    assert fork.second.startswith(other.split(b"\n\n")[0])
    assert store.heads()[FEED].frozen_at == 3
    (alert,) = store.alerts(code=Code.CHECKPOINT_FORK.value)
    assert alert.subject == FEED
    # Frozen: nothing more is taken for the feed.
    assert take_note(store, m, writer_note(ids), NOW, witness()).status == "frozen"


def test_inconsistent_checkpoints(store: Store) -> None:
    m = golden.genesis_membership()
    ids = held_ids(store)
    assert take_note(store, m, writer_note(ids, 2), NOW, witness()).status == "cosigned"
    # A checkpoint of size 3 whose tree does not extend the one of size 2 the witness holds
    # (and that the entries held contradict): a fork, never cosigned.
    rewritten = writer_note([ids[0], hashlib.sha256(b"x").hexdigest(), ids[2]])
    taken = take_note(store, m, rewritten, NOW, witness())
    assert taken.status == "fork"
    assert "expected the root" in taken.message
    assert store.heads()[FEED].frozen_at == 3
    assert store.alerts(code=Code.CHECKPOINT_FORK.value)
    assert store.last_cosigned(FEED).size == 2  # type: ignore[union-attr]


def test_checkpoint_fork_evidence_travels(store: Store, tmp_path: Path) -> None:
    """A node that takes another's evidence finds the same split view itself."""
    m = golden.genesis_membership()
    ids = held_ids(store)
    take_note(store, m, writer_note(ids), NOW, witness())
    other = writer_note([ids[0], ids[1], hashlib.sha256(b"other").hexdigest()])
    assert take_note(store, m, other, NOW, witness()).status == "fork"
    served = served_checkpoints(store, m, "distributor")
    (evidence,) = served["evidence"]
    assert evidence["feed"] == FEED
    assert len(evidence["notes"]) == 2

    second = Store(tmp_path / "second.db")
    second.save_membership(golden.signed_genesis())
    second.set_meta("genesis_id", GENESIS)
    second.ingest([entry for _, entry in golden.scenario()], m)
    statuses = [
        take_note(second, m, note.encode(), NOW, witness(golden.PHARMACY)).status
        for note in evidence["notes"]
    ]
    assert "fork" in statuses
    assert second.heads()[FEED].frozen_at == 3
    (alert,) = second.alerts(code=Code.CHECKPOINT_FORK.value)
    assert alert.id == store.alerts(code=Code.CHECKPOINT_FORK.value)[0].id
    second.close()
