"""RFC 9162 Merkle trees against transparency-dev/merkle's published vectors, and properties."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofInvalid,
    leaf_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "transparency-dev-merkle"
ABSENT = "RFC 9162 vectors: ../shared/testdata/transparency-dev-merkle is absent"


def _cases(kind: str) -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    return sorted((VECTORS / kind).rglob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _id(path: Path | None) -> str:
    return str(path.relative_to(VECTORS)) if path else "absent"


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (
        case["leafIdx"],
        case["treeSize"],
        _b64(case["leafHash"]),
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (
        case["size1"],
        case["size2"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_the_vectors_are_all_there() -> None:
    if not VECTORS.is_dir():
        pytest.skip(ABSENT)
    assert (len(_cases("inclusion")), len(_cases("consistency"))) == (98, 98)


def test_reference_tree_roots_and_proofs() -> None:
    if not VECTORS.is_dir():
        pytest.skip(ABSENT)
    ref = _load(VECTORS / "rfc6962_reference_tree.json")
    leaves = [leaf_hash(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    assert [h.hex() for h in leaves] == ref["node_hashes_by_level"][0]
    tree = MerkleTree(leaves)
    roots = ref["root_hashes_by_tree_size"]
    roots = roots if isinstance(roots, list) else [roots[str(n)] for n in range(len(leaves) + 1)]
    assert [tree.root_at(n).hex() for n in range(len(leaves) + 1)] == roots
    assert roots[0] == hashlib.sha256(b"").hexdigest() == EMPTY_ROOT.hex()
    for size in range(1, len(leaves) + 1):
        root = tree.root_at(size)
        assert tree_root(leaves[:size]) == root
        for index in range(size):
            verify_inclusion(index, size, leaves[index], tree.inclusion_proof(index, size), root)
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            verify_consistency(old, size, proof, tree.root_at(old), root)


def _tree(count: int) -> tuple[MerkleTree, list[bytes]]:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
    return MerkleTree(leaves), leaves


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_any_bit_flip_fails(count: int, data: Any) -> None:
    tree, leaves = _tree(count)
    index = data.draw(st.integers(0, count - 1))
    proof = tree.inclusion_proof(index)
    verify_inclusion(index, count, leaves[index], proof, tree.root)
    blob = leaves[index] + b"".join(proof) + tree.root
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    flipped = _flip(blob, bit)
    parts = [flipped[i : i + 32] for i in range(0, len(flipped), 32)]
    with pytest.raises(ProofInvalid):
        verify_inclusion(index, count, parts[0], parts[1:-1], parts[-1])
    other = data.draw(st.integers(0, count).filter(lambda i: i != index))
    with pytest.raises(ProofInvalid):
        verify_inclusion(other, count, leaves[index], proof, tree.root)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 300), st.data())
def test_every_consistency_proof_verifies_and_any_bit_flip_fails(count: int, data: Any) -> None:
    tree, _ = _tree(count)
    old = data.draw(st.integers(1, count - 1))
    proof = tree.consistency_proof(old)
    old_root = tree.root_at(old)
    verify_consistency(old, count, proof, old_root, tree.root)
    blob = old_root + b"".join(proof) + tree.root
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    flipped = _flip(blob, bit)
    parts = [flipped[i : i + 32] for i in range(0, len(flipped), 32)]
    with pytest.raises(ProofInvalid):
        verify_consistency(old, count, parts[1:-1], parts[0], parts[-1])


def test_proof_sizes_are_refused_outside_the_tree() -> None:
    tree, leaves = _tree(5)
    with pytest.raises(ProofInvalid, match="below the tree size 5"):
        tree.inclusion_proof(5)
    with pytest.raises(ProofInvalid, match="0 < old size"):
        tree.consistency_proof(0)
    with pytest.raises(ProofInvalid, match="32 bytes, found 3"):
        MerkleTree([b"abc"])
    assert issubclass(ProofInvalid, LedgerError)
    with pytest.raises(ProofInvalid, match="expected the inclusion proof of leaf 0 of 5"):
        verify_inclusion(0, 5, leaves[1], tree.inclusion_proof(0), tree.root)


def test_a_hundred_thousand_leaves_are_quick() -> None:
    started = time.perf_counter()
    tree, leaves = _tree(100_000)
    for index in (0, 1, 65_535, 65_536, 99_999):
        verify_inclusion(index, tree.size, leaves[index], tree.inclusion_proof(index), tree.root)
        assert len(tree.inclusion_proof(index)) <= 17
    proof = tree.consistency_proof(70_000)
    verify_consistency(70_000, 100_000, proof, tree.root_at(70_000), tree.root)
    assert time.perf_counter() - started < 5
