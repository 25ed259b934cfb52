"""RFC 9162 (Certificate Transparency 2.0) Merkle trees over SHA-256: tree heads, inclusion
and consistency proofs.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, the head of
``n`` leaves split at the largest power of two below ``n`` (RFC 9162 §2.1.1). A ``MerkleTree``
keeps every level of complete subtrees, so its root costs O(n) once and a proof O(log n).
Verification raises ``ProofInvalid``; it never returns False. Conventions of the published
transparency-dev vectors are kept: a consistency proof from the empty tree is refused, and a
leaf hash, root or proof hash that is not 32 bytes is refused (two trees of equal size are
consistent exactly when their roots are the same bytes, with an empty proof).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ledger.errors import LedgerError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofInvalid(LedgerError):
    """A Merkle inclusion or consistency proof does not hold, or is malformed."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class MerkleTree:
    """The tree over ``leaf_hashes`` (already hashed with ``leaf_hash``), with its levels kept."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        if leaf_hashes and set(map(len, leaf_hashes)) != {HASH_SIZE}:
            for index, value in enumerate(leaf_hashes):
                _check_hash(value, f"leaf hash {index}")
        level = list(leaf_hashes)
        self._levels: list[list[bytes]] = [level]
        sha256 = hashlib.sha256  # node_hash inlined: a commissioning builds 1,000s of nodes
        while len(level) > 1:
            pairs = iter(level)  # (0, 1), (2, 3), …: an odd last hash is left for a higher level
            level = [
                sha256(b"\x01" + left + right).digest()
                for left, right in zip(pairs, pairs, strict=False)
            ]
            self._levels.append(level)
        self.size = len(leaf_hashes)
        self.root = self.root_at(self.size) if self.size else EMPTY_ROOT

    def _range(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``; ``start`` is aligned as RFC 9162's recursion makes it."""
        size = end - start
        if size & (size - 1) == 0 and start % size == 0:
            level = size.bit_length() - 1
            return self._levels[level][start >> level]
        k = _split(size)
        return node_hash(self._range(start, start + k), self._range(start + k, end))

    def root_at(self, size: int) -> bytes:
        """The head of the tree made of the first ``size`` leaves."""
        if not 0 <= size <= self.size:
            raise ProofInvalid(f"expected a tree size from 0 to {self.size}, found {size}")
        return self._range(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, nearest the leaf first."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ProofInvalid(
                f"expected a leaf index below the tree size {size} (at most {self.size}), "
                f"found {index}"
            )
        siblings: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                siblings.append(self._range(start + k, end))
                end = start + k
            else:
                siblings.append(self._range(start, start + k))
                start += k
        return siblings[::-1]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:size]) of RFC 9162 §2.1.4.1, innermost first."""
        size = self.size if size is None else size
        if not 0 < old_size <= size <= self.size:
            raise ProofInvalid(
                f"expected 0 < old size <= new size <= {self.size}, found {old_size} and {size}"
            )
        outer: list[bytes] = []
        start, end, m, whole = 0, size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                outer.append(self._range(start + k, end))
                end = start + k
            else:
                outer.append(self._range(start, start + k))
                start, m, whole = start + k, m - k, False
        inner = [] if whole else [self._range(start, end)]
        return inner + outer[::-1]


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over ``leaf_hashes``: SHA-256 of nothing for no leaves."""
    return MerkleTree(leaf_hashes).root


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofInvalid(f"expected a {what} of {HASH_SIZE} bytes, found {len(value)} bytes")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofInvalid(f"expected a leaf index below the tree size {size}, found {index}")
    _check_hash(leaf, "leaf hash")
    fn, sn, r = index, size - 1, leaf
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
        if sn == 0:
            raise ProofInvalid(
                f"expected an inclusion proof of {position} hashes for leaf {index} of a tree "
                f"of {size}, found {len(proof)}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not (fn & 1 or fn == 0):
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofInvalid(
            f"expected a longer inclusion proof for leaf {index} of a tree of {size}, "
            f"found {len(proof)} hashes"
        )
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ``ProofInvalid`` unless ``leaf`` is leaf ``index`` of the tree of ``size`` with
    head ``root``."""
    _check_hash(root, "root hash")
    found = root_from_inclusion_proof(index, size, leaf, proof)
    if found != root:
        raise ProofInvalid(
            f"expected the inclusion proof of leaf {index} of {size} to lead to root "
            f"{root.hex()}, found {found.hex()}"
        )


def verify_consistency(
    old_size: int, size: int, proof: Sequence[bytes], old_root: bytes, root: bytes
) -> None:
    """Raise ``ProofInvalid`` unless the tree of ``size`` with head ``root`` extends the tree
    of ``old_size`` with head ``old_root`` (RFC 9162 §2.1.4.2)."""
    if not 0 < old_size <= size:
        raise ProofInvalid(f"expected 0 < old size <= new size, found {old_size} and {size}")
    if old_size == size:
        if proof:
            raise ProofInvalid(f"expected an empty proof for equal sizes, found {len(proof)}")
        if old_root != root:
            raise ProofInvalid(
                f"expected equal roots for equal sizes {size}, found {old_root.hex()} "
                f"and {root.hex()}"
            )
        return
    _check_hash(old_root, "old root hash")
    _check_hash(root, "root hash")
    if not proof:
        raise ProofInvalid(f"expected a consistency proof from {old_size} to {size}, found none")
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
    hashes = list(proof)
    if old_size & (old_size - 1) == 0:
        hashes.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofInvalid(
                f"expected a shorter consistency proof from {old_size} to {size}, "
                f"found {len(proof)} hashes"
            )
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not (fn & 1 or fn == 0):
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofInvalid(
            f"expected a longer consistency proof from {old_size} to {size}, "
            f"found {len(proof)} hashes"
        )
    if fr != old_root or sr != root:
        raise ProofInvalid(
            f"expected the consistency proof to lead to roots {old_root.hex()} and "
            f"{root.hex()}, found {fr.hex()} and {sr.hex()}"
        )
