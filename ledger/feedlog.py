"""A feed as an RFC 9162 log: leaf ``i`` is the entry at seq ``i``, its leaf data the 32 raw
bytes of the entry id (SHA-256 of the payload). The hash chain stays; the tree is a second
commitment over the same entries, so a writer's checkpoint (size, root) can be witnessed and an
entry proved included in O(log n) hashes (ADR 0018, docs/spec/proofs.md).

Origins and key names carry the consortium's genesis id, ``medtrace/<genesis id>/<feed>``: a
member's key may sign in two consortia (issue 17), and a checkpoint of one must never read as
the other's. Every check raises a ``CheckpointRefused`` whose ``code`` says what broke.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import ENTRY_ID, FEED_ID
from ledger.errors import LedgerError
from ledger.membership import Membership, raw_public
from ledger.merkle import (
    MerkleTree,
    ProofInvalid,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.notes import ED25519, Signer, Verifier

ORIGIN_PREFIX = "medtrace"


class CheckpointCode(StrEnum):
    """What a refused checkpoint, proof or pair of checkpoints broke."""

    MALFORMED = "malformed"  # not a checkpoint of a feed of this consortium
    NOT_SIGNED = "not_signed"  # no valid signature by the feed's key for that size
    SPLIT_VIEW = "split_view"  # two different roots at one size
    INCONSISTENT = "inconsistent"  # the larger tree does not extend the smaller
    ROOT_MISMATCH = "root_mismatch"  # the root is not the one of the entries held
    STALE = "stale"  # the newest cosignature is older than the policy allows
    TOO_FEW_COSIGNATURES = "too_few_cosignatures"  # fewer known witnesses than the quorum
    NOT_INCLUDED = "not_included"  # an inclusion proof does not lead to the checkpoint's root


class CheckpointRefused(LedgerError):
    """A feed checkpoint, an inclusion proof or a pair of checkpoints that cannot be taken."""

    code = CheckpointCode.MALFORMED

    def __init__(self, message: str, *, feed: str | None = None) -> None:
        super().__init__(message, subject=feed)
        self.feed = feed


class CheckpointNotSigned(CheckpointRefused):
    code = CheckpointCode.NOT_SIGNED


class SplitView(CheckpointRefused):
    code = CheckpointCode.SPLIT_VIEW


class InconsistentCheckpoints(CheckpointRefused):
    code = CheckpointCode.INCONSISTENT


class RootMismatch(CheckpointRefused):
    code = CheckpointCode.ROOT_MISMATCH


class StaleCheckpoint(CheckpointRefused):
    code = CheckpointCode.STALE


class TooFewCosignatures(CheckpointRefused):
    code = CheckpointCode.TOO_FEW_COSIGNATURES


class NotIncluded(CheckpointRefused):
    code = CheckpointCode.NOT_INCLUDED


# -- names -------------------------------------------------------------------------------------


def feed_origin(genesis_id: str, feed: str) -> str:
    """The checkpoint origin (and log key name) of ``feed``: ``medtrace/<genesis id>/<feed>``."""
    return f"{ORIGIN_PREFIX}/{genesis_id}/{feed}"


def feed_of_origin(genesis_id: str, origin: str) -> str:
    """The feed an origin of this consortium names; ``CheckpointRefused`` for any other."""
    prefix = f"{ORIGIN_PREFIX}/{genesis_id}/"
    feed = origin.removeprefix(prefix)
    if feed == origin or FEED_ID.match(feed) is None:
        raise CheckpointRefused(
            f"expected a checkpoint origin '{prefix}<org>/<site>', found {origin[:120]!r}"
        )
    return feed


def feed_checkpoint(genesis_id: str, feed: str, size: int, root: bytes) -> Checkpoint:
    """The checkpoint of ``feed``'s tree of ``size`` entries with head ``root``."""
    if FEED_ID.match(feed) is None:
        raise CheckpointRefused(f"expected a feed id like 'acme/line-1', found {feed[:80]!r}")
    return Checkpoint(feed_origin(genesis_id, feed), size, root)


def witness_name(genesis_id: str, who: str) -> str:
    """A cosigner's key name: ``medtrace/<genesis id>/witness/<feed>`` for a node cosigning
    with its feed key, ``…/witness/<org>`` for an organisation's listed witness key."""
    return f"{ORIGIN_PREFIX}/{genesis_id}/witness/{who}"


def entry_leaf(entry_id: str) -> bytes:
    """The leaf hash of an entry: ``SHA-256(0x00 || the 32 bytes of its id)``."""
    if ENTRY_ID.match(entry_id) is None:
        raise CheckpointRefused(f"expected an entry id of 64 hex digits, found {entry_id[:80]!r}")
    return leaf_hash(bytes.fromhex(entry_id))


# -- the tree ----------------------------------------------------------------------------------


class FeedTree(MerkleTree):
    """The RFC 9162 tree of one feed's entry ids, grown one entry at a time (amortised O(1)
    hashes per entry; the root O(log n))."""

    def __init__(self, feed: str, entry_ids: Iterable[str] = ()) -> None:
        super().__init__([])
        self.feed = feed
        self.extend(entry_ids)

    def extend(self, entry_ids: Iterable[str]) -> None:
        levels = self._levels
        for entry_id in entry_ids:
            levels[0].append(entry_leaf(entry_id))
            level = 0
            while len(levels[level]) % 2 == 0:
                if level + 1 == len(levels):
                    levels.append([])
                left, right = levels[level][-2:]
                levels[level + 1].append(node_hash(left, right))
                level += 1
            self.size += 1
        self.root = self.root_at(self.size)

    def checkpoint(self, genesis_id: str, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return feed_checkpoint(genesis_id, self.feed, size, self.root_at(size))

    def inclusion(self, seq: int, size: int | None = None) -> InclusionProof:
        size = self.size if size is None else size
        try:
            path = self.inclusion_proof(seq, size)
        except ProofInvalid as exc:
            raise CheckpointRefused(f"feed {self.feed}: {exc}", feed=self.feed) from None
        leaf = self._levels[0][seq]
        return InclusionProof(self.feed, seq, size, leaf, tuple(path))

    def consistency(self, old_size: int, size: int | None = None) -> list[bytes]:
        try:
            return self.consistency_proof(old_size, size)
        except ProofInvalid as exc:
            raise CheckpointRefused(f"feed {self.feed}: {exc}", feed=self.feed) from None


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Entry ``seq`` of ``feed`` is leaf ``seq`` of the tree of ``size``: its leaf hash and the
    RFC 9162 path, nearest the leaf first."""

    feed: str
    seq: int
    size: int
    leaf: bytes
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "seq": self.seq,
            "size": self.size,
            "leaf": self.leaf.hex(),
            "path": [p.hex() for p in self.path],
        }

    @classmethod
    def from_json(cls, obj: Any) -> InclusionProof:
        try:
            feed, seq, size = obj["feed"], obj["seq"], obj["size"]
            leaf = bytes.fromhex(obj["leaf"])
            path = tuple(bytes.fromhex(p) for p in obj["path"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointRefused(
                f"expected an inclusion proof {{feed, seq, size, leaf, path}}, found an error: "
                f"{exc!r}"
            ) from None
        if not (isinstance(feed, str) and type(seq) is int and type(size) is int):
            raise CheckpointRefused(
                f"expected a feed id and integer seq and size, found {feed!r}, {seq!r}, {size!r}"
            )
        return cls(feed, seq, size, leaf, path)


def verify_included(
    checkpoint: Checkpoint, genesis_id: str, entry_id: str, proof: InclusionProof
) -> None:
    """Raise ``NotIncluded`` unless the entry ``entry_id`` is leaf ``proof.seq`` of the tree the
    checkpoint commits to (same feed, same size)."""
    feed = feed_of_origin(genesis_id, checkpoint.origin)
    if proof.feed != feed or proof.size != checkpoint.size:
        raise NotIncluded(
            f"expected an inclusion proof in {feed} at size {checkpoint.size}, found one in "
            f"{proof.feed} at size {proof.size}",
            feed=feed,
        )
    leaf = entry_leaf(entry_id)
    if proof.leaf != leaf:
        raise NotIncluded(
            f"feed {feed} #{proof.seq}: expected the leaf of entry {entry_id[:16]}… "
            f"({leaf.hex()[:16]}…), found {proof.leaf.hex()[:16]}…",
            feed=feed,
        )
    try:
        verify_inclusion(proof.seq, proof.size, leaf, proof.path, checkpoint.root)
    except ProofInvalid as exc:
        raise NotIncluded(f"feed {feed} #{proof.seq}: {exc}", feed=feed) from None


def check_same_history(a: Checkpoint, b: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise ``SplitView`` for two checkpoints of one size with different roots, and
    ``InconsistentCheckpoints`` unless ``proof`` shows the larger tree extends the smaller."""
    if a.origin != b.origin:
        raise CheckpointRefused(
            f"expected two checkpoints of one origin, found {a.origin!r} and {b.origin!r}"
        )
    old, new = (a, b) if a.size <= b.size else (b, a)
    if old.size == new.size:
        if old.root != new.root:
            raise SplitView(
                f"{old.origin}: expected one root at size {old.size}, found "
                f"{old.root.hex()} and {new.root.hex()}"
            )
        return
    if old.size == 0:
        return  # the empty tree is extended by every tree
    try:
        verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ProofInvalid as exc:
        raise InconsistentCheckpoints(
            f"{old.origin}: expected the tree of {new.size} to extend the tree of {old.size}: {exc}"
        ) from None


# -- the log key -------------------------------------------------------------------------------


def log_verifier(membership: Membership, genesis_id: str, feed: str, size: int) -> Verifier:
    """The key that signs ``feed``'s checkpoint of ``size``: the feed key the membership lists
    for the newest entry it covers (seq ``size - 1``; seq 0 for the empty tree)."""
    try:
        key = membership.feed(feed).key_at(max(0, size - 1))
    except LedgerError as exc:
        raise CheckpointNotSigned(
            f"checkpoint of {feed} at size {size}: {exc}", feed=feed
        ) from None
    return Verifier(feed_origin(genesis_id, feed), ED25519, raw_public(key))


def sign_feed_checkpoint(
    genesis_id: str, tree_or_checkpoint: FeedTree | Checkpoint, key: Ed25519PrivateKey
) -> bytes:
    """The checkpoint note of a feed's tree (at its size) signed with the feed's key."""
    checkpoint = (
        tree_or_checkpoint.checkpoint(genesis_id)
        if isinstance(tree_or_checkpoint, FeedTree)
        else tree_or_checkpoint
    )
    return sign_checkpoint(checkpoint, Signer(checkpoint.origin, key))


def note_digest(note: bytes) -> str:
    """A short stable name of a note's checkpoint text, for evidence and alerts."""
    text = note.split(b"\n\n", 1)[0] + b"\n"
    return hashlib.sha256(text).hexdigest()


__all__ = [
    "ORIGIN_PREFIX",
    "CheckpointCode",
    "CheckpointNotSigned",
    "CheckpointRefused",
    "FeedTree",
    "InclusionProof",
    "InconsistentCheckpoints",
    "NotIncluded",
    "RootMismatch",
    "SplitView",
    "StaleCheckpoint",
    "TooFewCosignatures",
    "check_same_history",
    "entry_leaf",
    "feed_checkpoint",
    "feed_of_origin",
    "feed_origin",
    "log_verifier",
    "note_digest",
    "sign_feed_checkpoint",
    "witness_name",
]
