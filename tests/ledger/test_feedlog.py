"""Feed logs, witness policies and the checkpoint verifier a scanner calls (ADR 0018).

Each test named after an attack fails when its protection is removed: the split-view and
consistency checks of ``check_same_history``, the age and quorum checks and the inclusion check
of ``verify_witnessed_checkpoint``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ledger.canonical import canonical_bytes
from ledger.checkpoint import Checkpoint
from ledger.entry import Payload, SignedEntry, sign
from ledger.errors import MembershipError
from ledger.feedlog import (
    CheckpointCode,
    CheckpointNotSigned,
    CheckpointRefused,
    FeedTree,
    InclusionProof,
    InconsistentCheckpoints,
    NotIncluded,
    SplitView,
    StaleCheckpoint,
    TooFewCosignatures,
    check_same_history,
    feed_checkpoint,
    feed_of_origin,
    feed_origin,
    sign_feed_checkpoint,
    verify_included,
)
from ledger.kinds import Kind
from ledger.membership import Membership, WitnessPolicy
from ledger.merkle import MerkleTree, leaf_hash
from ledger.witness import (
    cosign_feed_checkpoint,
    merge_cosignatures,
    open_feed_checkpoint,
    verify_witnessed_checkpoint,
    witness_verifiers,
)
from tests.ledger.builders import keys, membership
from tests.vectors import golden

GENESIS = "fcdedd9db01e8b93b4660f2a7a6e1f0a54cfb181887989eb0891d15d5b984e72"
FEED = golden.MANUFACTURER  # acme-pharma/line-1
NOW = 1_772_622_000


def ids(tag: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{tag} {i}".encode()).hexdigest() for i in range(n)]


def tree(tag: str = "a", n: int = 8) -> FeedTree:
    return FeedTree(FEED, ids(tag, n))


def signed(t: FeedTree, size: int | None = None) -> bytes:
    return sign_feed_checkpoint(GENESIS, t.checkpoint(GENESIS, size), keys()[FEED])


def cosigned(note: bytes, *feeds: str, at: int = NOW, m: Membership | None = None) -> bytes:
    m = m or membership()
    for feed in feeds:
        opened = open_feed_checkpoint(m, GENESIS, note)
        note = cosign_feed_checkpoint(opened, GENESIS, feed, keys()[feed], at)
    return note


def with_policy(policy: WitnessPolicy) -> Membership:
    m = membership()
    return m.with_witness_policy(policy)


# -- the tree ------------------------------------------------------------------------------------


def test_feed_tree_is_rfc9162_over_entry_ids() -> None:
    entry_ids = ids("a", 13)
    grown = FeedTree(FEED)
    for i, entry_id in enumerate(entry_ids):
        grown.extend([entry_id])
        whole = MerkleTree([leaf_hash(bytes.fromhex(e)) for e in entry_ids[: i + 1]])
        assert grown.root == whole.root
        assert grown.size == i + 1
    assert grown.inclusion(5, 11).path == tuple(whole.inclusion_proof(5, 11))
    assert grown.consistency(5, 13) == whole.consistency_proof(5, 13)


def test_origin_names_the_consortium_and_the_feed() -> None:
    origin = feed_origin(GENESIS, FEED)
    assert origin == f"medtrace/{GENESIS}/acme-pharma/line-1"
    assert feed_of_origin(GENESIS, origin) == FEED
    with pytest.raises(CheckpointRefused, match="expected a checkpoint origin"):
        feed_of_origin("0" * 64, origin)


def test_inclusion_proofs_verify() -> None:
    t = tree()
    cp = t.checkpoint(GENESIS)
    for seq in range(8):
        verify_included(cp, GENESIS, ids("a", 8)[seq], t.inclusion(seq))
    with pytest.raises(NotIncluded, match="expected the leaf of entry"):
        verify_included(cp, GENESIS, ids("a", 8)[3], t.inclusion(4))


def test_inclusion_proof_from_another_tree() -> None:
    honest, other = tree("a"), tree("b")
    cp = honest.checkpoint(GENESIS)
    # A node proves an entry of another history (another tree of the same size and feed).
    stranger = ids("b", 8)[2]
    with pytest.raises(NotIncluded) as caught:
        verify_included(cp, GENESIS, stranger, other.inclusion(2))
    assert caught.value.code is CheckpointCode.NOT_INCLUDED
    # Even the honest leaf with the other tree's path does not lead to the root.
    honest_leaf = honest.inclusion(2)
    forged = InclusionProof(FEED, 2, 8, honest_leaf.leaf, other.inclusion(2).path)
    with pytest.raises(NotIncluded, match="to lead to root"):
        verify_included(cp, GENESIS, ids("a", 8)[2], forged)
    # A proof at another size than the checkpoint's is refused.
    with pytest.raises(NotIncluded, match="at size 8, found one in"):
        verify_included(cp, GENESIS, ids("a", 8)[2], honest.inclusion(2, 5))
    # Through the scanner's verifier as well.
    note = cosigned(signed(honest), golden.DISTRIBUTOR)
    entry = _entry_at(2)
    with pytest.raises(NotIncluded):
        verify_witnessed_checkpoint(membership(), GENESIS, note, NOW, [(entry, other.inclusion(2))])


def _entry_at(seq: int) -> SignedEntry:
    """A signed entry of FEED at ``seq`` (its id is not in the trees above)."""
    payload = Payload(
        feed=FEED,
        seq=seq,
        prev=None if seq == 0 else "0" * 64,
        ts="2026-03-04T11:00:00.000Z",
        kind=Kind.LOCK,
        subjects=(golden.PACKS[0],),
        refs=(),
        body={},
    )
    return sign(payload, keys()[FEED])


# -- pairs of checkpoints ------------------------------------------------------------------------


def test_split_view_two_checkpoints_same_size() -> None:
    a, b = tree("a"), tree("b")
    one = open_feed_checkpoint(membership(), GENESIS, signed(a)).checkpoint
    two = open_feed_checkpoint(membership(), GENESIS, signed(b)).checkpoint
    with pytest.raises(SplitView) as caught:
        check_same_history(one, two, [])
    assert caught.value.code is CheckpointCode.SPLIT_VIEW
    assert "expected one root at size 8" in str(caught.value)
    check_same_history(one, one, [])  # the same checkpoint twice is no fork


def test_inconsistent_checkpoints() -> None:
    a = tree("a", 13)
    b = FeedTree(FEED, [*ids("a", 4), *ids("b", 9)[4:]])  # rewrites history after #3
    old = a.checkpoint(GENESIS, 6)
    new = b.checkpoint(GENESIS, 9)
    with pytest.raises(InconsistentCheckpoints) as caught:
        check_same_history(old, new, b.consistency(6, 9))
    assert caught.value.code is CheckpointCode.INCONSISTENT
    with pytest.raises(InconsistentCheckpoints):
        check_same_history(new, old, a.consistency(6, 9))  # any order, any proof
    check_same_history(a.checkpoint(GENESIS, 6), a.checkpoint(GENESIS, 13), a.consistency(6))
    # Prefixes that agree are consistent however they are named.
    check_same_history(b.checkpoint(GENESIS, 4), a.checkpoint(GENESIS, 13), a.consistency(4))


# -- the policy ----------------------------------------------------------------------------------


def test_default_policy_keeps_old_documents_byte_for_byte() -> None:
    m = membership()
    assert m.witness_policy is None
    assert "witness_policy" not in m.to_json()
    policy = m.witnesses()
    assert policy.quorum == 1
    assert policy.max_age_s == 3600
    assert set(policy.witnesses) == set(m.organisations)
    # The writer's own organisation never witnesses its feed.
    labels = witness_verifiers(m, GENESIS, FEED)
    assert "acme-pharma" not in labels.values()
    assert set(labels.values()) == set(m.organisations) - {"acme-pharma"}


def test_policy_round_trips_and_is_checked() -> None:
    policy = WitnessPolicy({"nordic-dist": None, "border-customs": bytes(32)}, 2, 600)
    m = with_policy(policy)
    raw = m.to_json()
    assert raw["witness_policy"] == {
        "max_age_s": 600,
        "quorum": 2,
        "witnesses": {"border-customs": "A" * 43 + "=", "nordic-dist": None},
    }
    again = Membership.from_json(json.loads(canonical_bytes(raw)))
    assert again.witness_policy == policy
    assert again.encode() == m.encode()
    for bad, message in [
        (WitnessPolicy({"nobody": None}, 1, 60), "expected listed organisations"),
        (WitnessPolicy({"nordic-dist": None}, 2, 60), "expected a quorum from 1 to 1"),
        (WitnessPolicy({"nordic-dist": None}, 1, 0), "expected max_age_s"),
    ]:
        with pytest.raises(MembershipError, match=message):
            with_policy(bad)
    raw["witness_policy"]["extra"] = 1
    with pytest.raises(MembershipError, match="witness_policy: expected an object"):
        Membership.from_json(raw)


# -- the scanner's verifier ----------------------------------------------------------------------


def test_witnessed_checkpoint_is_accepted_with_its_age() -> None:
    t = tree()
    note = cosigned(signed(t), golden.DISTRIBUTOR, at=NOW - 100)
    entry = _entry_at(0)
    t2 = FeedTree(FEED, [entry.id, *ids("a", 8)[1:]])
    note2 = cosigned(signed(t2), golden.DISTRIBUTOR, at=NOW - 100)
    checked = verify_witnessed_checkpoint(
        membership(), GENESIS, note2, NOW, [(entry, t2.inclusion(0))]
    )
    assert checked.age_s == 100
    assert checked.feed == FEED
    assert checked.cosigned == {"nordic-dist": NOW - 100}
    assert verify_witnessed_checkpoint(membership(), GENESIS, note, NOW).age_s == 100


def test_stale_checkpoint() -> None:
    note = cosigned(signed(tree()), golden.DISTRIBUTOR, at=NOW)
    assert verify_witnessed_checkpoint(membership(), GENESIS, note, NOW + 3600).age_s == 3600
    with pytest.raises(StaleCheckpoint) as caught:
        verify_witnessed_checkpoint(membership(), GENESIS, note, NOW + 3601)
    assert caught.value.code is CheckpointCode.STALE
    assert "at most 3600 s old, found the newest 3601 s old" in str(caught.value)
    # A fresher cosignature by another witness makes it fresh again: the newest counts.
    fresher = cosigned(note, golden.PHARMACY, at=NOW + 3000)
    assert verify_witnessed_checkpoint(membership(), GENESIS, fresher, NOW + 3601).age_s == 601
    # A policy's own maximum age.
    m = with_policy(WitnessPolicy({"nordic-dist": None}, 1, 60))
    with pytest.raises(StaleCheckpoint, match="at most 60 s old"):
        verify_witnessed_checkpoint(m, GENESIS, note, NOW + 61)


def test_too_few_cosignatures() -> None:
    m = with_policy(WitnessPolicy({"nordic-dist": None, "city-pharmacy": None}, 2, 3600))
    note = signed(tree())
    with pytest.raises(TooFewCosignatures, match="found 0"):
        verify_witnessed_checkpoint(m, GENESIS, note, NOW)
    one = cosigned(note, golden.DISTRIBUTOR, m=m)
    with pytest.raises(TooFewCosignatures) as caught:
        verify_witnessed_checkpoint(m, GENESIS, one, NOW)
    assert caught.value.code is CheckpointCode.TOO_FEW_COSIGNATURES
    assert "at least 2 witnesses" in str(caught.value)
    assert "found 1 (nordic-dist)" in str(caught.value)
    # A witness outside the policy, or the same witness twice, does not count.
    padded = cosigned(one, golden.CUSTOMS, golden.DISTRIBUTOR, m=membership())
    with pytest.raises(TooFewCosignatures, match="found 1"):
        verify_witnessed_checkpoint(m, GENESIS, padded, NOW)
    two = cosigned(one, golden.PHARMACY, m=m)
    assert set(verify_witnessed_checkpoint(m, GENESIS, two, NOW).cosigned) == {
        "nordic-dist",
        "city-pharmacy",
    }
    # The writer cannot witness itself, even when the policy lists it.
    m2 = with_policy(WitnessPolicy({"acme-pharma": None, "nordic-dist": None}, 1, 3600))
    self_cosigned = cosigned(note, FEED, m=membership())
    with pytest.raises(TooFewCosignatures, match="found 0"):
        verify_witnessed_checkpoint(m2, GENESIS, self_cosigned, NOW)
    # A cosignature dated far ahead of the reader's clock does not count either.
    ahead = cosigned(note, golden.DISTRIBUTOR, at=NOW + 3600, m=m2)
    with pytest.raises(TooFewCosignatures):
        verify_witnessed_checkpoint(m2, GENESIS, ahead, NOW)


def test_checkpoint_must_be_signed_by_the_feed_key() -> None:
    cp: Checkpoint = tree().checkpoint(GENESIS)
    forged = sign_feed_checkpoint(GENESIS, cp, keys()[golden.DISTRIBUTOR])
    with pytest.raises(CheckpointNotSigned):
        verify_witnessed_checkpoint(membership(), GENESIS, cosigned_raw(forged), NOW)
    other = sign_feed_checkpoint("0" * 64, tree().checkpoint("0" * 64), keys()[FEED])
    with pytest.raises(CheckpointRefused, match="expected a checkpoint origin"):
        verify_witnessed_checkpoint(membership(), GENESIS, other, NOW)


def cosigned_raw(note: bytes) -> bytes:
    return note


def test_cosignatures_merge_and_replace() -> None:
    note = signed(tree())
    a = cosigned(note, golden.DISTRIBUTOR, at=NOW)
    b = cosigned(note, golden.PHARMACY, at=NOW + 5)
    merged = merge_cosignatures(membership(), GENESIS, a, b)
    assert merged.cosigned == {"nordic-dist": NOW, "city-pharmacy": NOW + 5}
    again = cosigned(merged.note, golden.DISTRIBUTOR, at=NOW + 9)
    opened = open_feed_checkpoint(membership(), GENESIS, again)
    assert opened.cosigned == {"nordic-dist": NOW + 9, "city-pharmacy": NOW + 5}
    assert again.count(b"witness/nordic-dist/wh-1") == 1
    with pytest.raises(CheckpointRefused, match="expected two notes of one checkpoint"):
        merge_cosignatures(membership(), GENESIS, a, signed(tree("b")))


def test_the_proofs_spec_example_holds() -> None:
    """docs/spec/proofs.md, "Checkpoints of feeds": the golden manufacturer's feed."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "spec" / "proofs.md").read_text()
    genesis = golden.signed_genesis().id
    m = golden.genesis_membership()
    entry_ids = [e.id for _, e in golden.scenario() if e.payload.feed == FEED]
    t = FeedTree(FEED, entry_ids)
    opened = open_feed_checkpoint(m, genesis, sign_feed_checkpoint(genesis, t, keys()[FEED]))
    note = cosign_feed_checkpoint(
        opened, genesis, golden.DISTRIBUTOR, keys()[golden.DISTRIBUTOR], 1772622000
    )
    assert note.decode() in text
    proof = t.inclusion(1)
    assert proof.leaf.hex() in text
    assert all(p.hex() in text for p in proof.path)
    assert all(p.hex() in text for p in t.consistency(2, 3))


def test_feed_checkpoint_names_its_feed() -> None:
    t = tree()
    assert feed_checkpoint(GENESIS, FEED, 8, t.root) == t.checkpoint(GENESIS)
    with pytest.raises(CheckpointRefused, match="expected a feed id"):
        feed_checkpoint(GENESIS, "no feed", 8, t.root)
