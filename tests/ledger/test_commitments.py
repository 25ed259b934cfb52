"""Salted per-pack leaves: golden encodings, proofs that reveal no sibling, roots not mixed up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.commitments import (
    PACK_DOMAIN,
    SALT_SIZE,
    Batch,
    ChildIds,
    CommitmentInvalid,
    PackIds,
    PackProof,
    commitment_leaf,
    leaf_data,
    new_salt,
    verify_pack,
)
from ledger.errors import IdentifierError, LedgerError
from ledger.merkle import HASH_SIZE, ProofInvalid, leaf_hash, node_hash

GTIN = "09506000134352"
LOT, EXPIRY = "L2026A", "2028-06-30"
SERIALS = ("7Q2X4K9M1T0B", "KD3P8W6N2R5C", "M4V7H1Z9X3QF", "0S8J2Y6T4E7A")
SALTS = tuple(bytes([i]) * SALT_SIZE for i in range(1, 5))
PACKS = tuple(PackIds(GTIN, serial, LOT, EXPIRY) for serial in SERIALS)
CONTAINER = "https://id.gs1.org/00/095060001343528686"

#: The golden batch, as docs/spec/proofs.md shows it: leaf data and hash of the first pack,
#: each pack's leaf hash and index (leaves sorted by hash), the root, the first pack's path.
GOLDEN_LEAF_DATA = (
    "6d656474726163652f6c6561662f7061636b2f763100"  # medtrace/leaf/pack/v1 0x00
    "01010101010101010101010101010101"  # salt
    "000e3039353036303030313334333532"  # GTIN-14
    "000c37513258344b394d3154304200064c3230323641000a323032382d30362d3330"
)
GOLDEN_LEAVES = {
    SERIALS[0]: ("6b65dd71ffd0dc45aee5c91544cd7cf3347b0edc3f99700cba148da0e031ade8", 1),
    SERIALS[1]: ("b7ada39e0bba1563e4e937d12a0eced60b21197ffbade11a7d65cf41dd8cf793", 3),
    SERIALS[2]: ("8755572943d6e043e43ed17ebbb575d0a9f84cf270f3a7273ea27361642df0a7", 2),
    SERIALS[3]: ("0837a02d8d9b4f75bc00f1a99e7453b6416be12a3f01e9aa0790b86b2aa4331d", 0),
}
GOLDEN_ROOT = "09aa446c143cc585334ad95361a2c7c8f5cf3fd0c8459a64dea62d5d96fb10b8"
GOLDEN_PATH = (
    "0837a02d8d9b4f75bc00f1a99e7453b6416be12a3f01e9aa0790b86b2aa4331d",
    "92d3fcde945c0a9ac7dac3c8938ccb0ba65fb618daac15fa993c3ad7f1a47666",
)


def _batch() -> Batch:
    return Batch(list(zip(PACKS, SALTS, strict=True)))


def test_golden_leaf_encoding_and_root() -> None:
    assert leaf_data(PACKS[0], SALTS[0]).hex() == GOLDEN_LEAF_DATA
    batch = _batch()
    for pack, salt in zip(PACKS, SALTS, strict=True):
        digest, index = GOLDEN_LEAVES[pack.serial]
        assert commitment_leaf(pack, salt).hex() == digest
        assert batch.index_of(pack.subject) == index
    assert batch.root.hex() == GOLDEN_ROOT
    proof = batch.proof(PACKS[0].subject)
    assert (proof.index, proof.size) == (1, 4)
    assert tuple(h.hex() for h in proof.path) == GOLDEN_PATH
    verify_pack(proof, batch.root)


def test_the_order_of_the_input_does_not_change_the_root() -> None:
    items = list(zip(PACKS, SALTS, strict=True))
    assert Batch(items[::-1]).root == _batch().root


def test_every_pack_proof_verifies_and_an_altered_one_does_not() -> None:
    batch = _batch()
    for pack in PACKS:
        proof = batch.proof(pack.subject)
        verify_pack(proof, batch.root)
        other = PackIds(GTIN, pack.serial, "L2026B", EXPIRY)
        for bad in (
            PackProof(other, proof.salt, proof.index, proof.size, proof.path),
            PackProof(pack, bytes(SALT_SIZE), proof.index, proof.size, proof.path),
            PackProof(pack, proof.salt, (proof.index + 1) % 4, proof.size, proof.path),
            PackProof(pack, proof.salt, proof.index, 5, proof.path),
        ):
            with pytest.raises(CommitmentInvalid, match=r"expected .* under root") as caught:
                verify_pack(bad, batch.root)
            assert caught.value.subject == bad.ids.subject


def test_harvest_from_sibling_hashes() -> None:
    """Pack A's answer holds A's identifiers and salt and bare hashes; B's serial, from a small
    space a harvester could enumerate, cannot be confirmed from B's leaf hash without B's salt."""
    a = PackIds(GTIN, "1000", LOT, EXPIRY)
    b = PackIds(GTIN, "4711", LOT, EXPIRY)
    salt_a, salt_b = bytes.fromhex("aa" * 16), bytes.fromhex("5b" * 16)
    batch = Batch([(a, salt_a), (b, salt_b)])
    answer = batch.proof(a.subject)
    assert answer.ids == a
    assert answer.salt == salt_a
    assert all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in answer.path)
    (sibling,) = answer.path
    assert sibling == commitment_leaf(b, salt_b)  # the sibling is B's salted leaf...
    unsalted = leaf_hash(PACK_DOMAIN + b.encode())
    assert sibling != unsalted  # ...not the hash of B's identifiers alone
    assert b"4711" not in b"".join(answer.path)
    wrong_salts = (b"", bytes(SALT_SIZE), salt_a, bytes.fromhex("5b" * 15 + "5c"))
    for serial in (f"{n:04d}" for n in range(10_000)):
        guess = PackIds(GTIN, serial, LOT, EXPIRY)
        assert leaf_hash(PACK_DOMAIN + guess.encode()) != sibling
        for salt in wrong_salts[1:]:
            assert commitment_leaf(guess, salt) != sibling
    # with B's salt (which only B's holder is given) the same search finds it: the test can tell
    assert commitment_leaf(PackIds(GTIN, "4711", LOT, EXPIRY), salt_b) == sibling
    with pytest.raises(CommitmentInvalid, match="salt of 16 bytes"):
        commitment_leaf(b, wrong_salts[0])


def test_inclusion_proof_from_another_tree() -> None:
    batch = _batch()
    other = Batch([(pack, new_salt()) for pack in PACKS])
    assert other.root != batch.root
    for pack in PACKS:
        with pytest.raises(CommitmentInvalid, match=f"under root {other.root.hex()}"):
            verify_pack(batch.proof(pack.subject), other.root)
        verify_pack(other.proof(pack.subject), other.root)
    bigger = Batch([*zip(PACKS, SALTS, strict=True), (PackIds(GTIN, "ZZ1", LOT, EXPIRY), SALTS[0])])
    with pytest.raises(CommitmentInvalid):
        verify_pack(batch.proof(PACKS[0].subject), bigger.root)


def test_aggregation_children_commit_under_their_parent() -> None:
    children = [ChildIds(pack.subject, CONTAINER) for pack in PACKS]
    batch = Batch(list(zip(children, SALTS, strict=True)))
    for child in children:
        verify_pack(batch.proof(child.child), batch.root)
    assert commitment_leaf(children[0], SALTS[0]) != commitment_leaf(PACKS[0], SALTS[0])
    moved = ChildIds(PACKS[0].subject, "https://id.gs1.org/00/095060001343528693")
    proof = batch.proof(PACKS[0].subject)
    with pytest.raises(CommitmentInvalid):
        verify_pack(PackProof(moved, proof.salt, proof.index, proof.size, proof.path), batch.root)


def test_what_cannot_be_committed_is_refused() -> None:
    with pytest.raises(CommitmentInvalid, match="at least one pack"):
        Batch([])
    with pytest.raises(CommitmentInvalid, match="twice"):
        Batch([(PACKS[0], SALTS[0]), (PackIds("9506000134352", SERIALS[0], LOT, EXPIRY), SALTS[1])])
    with pytest.raises(CommitmentInvalid, match="one kind of leaf"):
        Batch([(PACKS[0], SALTS[0]), (ChildIds(PACKS[1].subject, CONTAINER), SALTS[1])])
    with pytest.raises(CommitmentInvalid, match="YYYY-MM-DD"):
        PackIds(GTIN, "1", LOT, "20280630")
    with pytest.raises(CommitmentInvalid, match="calendar date"):
        PackIds(GTIN, "1", LOT, "2028-02-30")
    with pytest.raises(IdentifierError):
        PackIds(GTIN, "bad serial with spaces", LOT, EXPIRY)
    with pytest.raises(CommitmentInvalid, match="container as parent"):
        ChildIds(CONTAINER, PACKS[0].subject)
    with pytest.raises(CommitmentInvalid, match="expected a pack of this batch"):
        _batch().proof(CONTAINER)
    assert issubclass(CommitmentInvalid, ProofInvalid)
    assert issubclass(CommitmentInvalid, LedgerError)
    assert len(new_salt()) == SALT_SIZE


SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "proofs.md"


def _blocks() -> list[str]:
    return re.findall(r"^```\n(.*?)^```$", SPEC.read_text(encoding="utf-8"), re.S | re.M)


def test_the_spec_example_batch_is_what_the_code_builds() -> None:
    text = SPEC.read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `(\w+)` \| `([0-9a-f]{32})` \| `([0-9a-f]{64})` \| (\d) \|$", text, re.M
    )
    batch = _batch()
    assert len(rows) == 4
    for serial, salt, digest, index in rows:
        pack = PackIds(GTIN, serial, LOT, EXPIRY)
        assert commitment_leaf(pack, bytes.fromhex(salt)).hex() == digest
        assert batch.index_of(pack.subject) == int(index)
    leaf_block = next(b for b in _blocks() if "salt" in b)
    hex_parts = [line.split("  ")[0].replace(" ", "") for line in leaf_block.splitlines()]
    assert "".join(hex_parts) == leaf_data(PACKS[0], SALTS[0]).hex()
    assert f"```\n{batch.root.hex()}\n```" in text
    path = "\n".join(h.hex() for h in batch.proof(PACKS[0].subject).path)
    assert f"```\n{path}\n```" in text
    first = node_hash(batch.proof(PACKS[0].subject).path[0], commitment_leaf(PACKS[0], SALTS[0]))
    assert f"`{first.hex()}`" in text
