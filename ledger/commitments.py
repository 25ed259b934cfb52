"""Salted per-pack Merkle leaves: an entry naming many packs signs one root, and a verifier gets
its own pack's leaf and inclusion path, which tell it nothing about any other pack.

A leaf's data is a domain tag, the pack's 16-byte random salt, then its identifiers, each as
a 2-byte big-endian length and its ASCII bytes, in a fixed order:

- a pack (commission): ``medtrace/leaf/pack/v1`` 0x00, salt, GTIN-14, serial, lot, expiry
  (``YYYY-MM-DD``);
- a child of an aggregation (pack or unpack): ``medtrace/leaf/child/v1`` 0x00, salt, the
  child's canonical URI (pack or container), the parent container's canonical URI;
- a pack named by any other step about several packs: ``medtrace/leaf/subject/v1`` 0x00,
  salt, the pack's canonical URI.

The leaf hash is RFC 9162's ``SHA-256(0x00 || data)``; the batch's leaves are sorted by leaf
hash, so a leaf's index says nothing about its serial or the order packs were made in. A
sibling hash in a proof is the hash of another pack's identifiers *and* its secret salt: a
guessed serial cannot be confirmed against it without the salt. The caller hands in the salts
(``new_salt`` draws one from the OS CSPRNG); nothing here reads a clock or a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ledger.identifiers import SubjectType, check_cset82, gtin14, pack_uri, parse_subject
from ledger.merkle import MerkleTree, ProofInvalid, leaf_hash, verify_inclusion

SALT_SIZE = 16
PACK_DOMAIN = b"medtrace/leaf/pack/v1\x00"
CHILD_DOMAIN = b"medtrace/leaf/child/v1\x00"
SUBJECT_DOMAIN = b"medtrace/leaf/subject/v1\x00"
_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class CommitmentInvalid(ProofInvalid):
    """A pack's identifiers, salt and proof do not lead to the committed root, or a batch or
    its identifiers cannot be committed to."""


def new_salt() -> bytes:
    """A fresh 128-bit salt for one leaf."""
    # os.urandom is the CSPRNG secrets uses; drawn directly, salts never take from a stream
    # that a test replays for serials.
    return os.urandom(SALT_SIZE)


def _field(value: str) -> bytes:
    raw = value.encode("ascii")
    return len(raw).to_bytes(2, "big") + raw


@dataclass(frozen=True, slots=True)
class PackIds:
    """A commissioned pack: GTIN (any length; encoded as GTIN-14), serial, lot, expiry."""

    gtin: str
    serial: str
    lot: str
    expiry: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", gtin14(self.gtin))
        check_cset82(self.serial, "serial")
        check_cset82(self.lot, "lot")
        if not _DATE.match(self.expiry):
            raise CommitmentInvalid(f"expected an expiry as YYYY-MM-DD, found {self.expiry!r}")
        try:
            date.fromisoformat(self.expiry)
        except ValueError:
            raise CommitmentInvalid(f"expected a calendar date, found {self.expiry!r}") from None

    @property
    def subject(self) -> str:
        return pack_uri(self.gtin, self.serial)

    def encode(self) -> bytes:
        fields = (self.gtin, self.serial, self.lot, self.expiry)
        return b"".join(_field(f) for f in fields)

    domain = PACK_DOMAIN


@dataclass(frozen=True, slots=True)
class ChildIds:
    """A pack or container put into (or taken out of) a container: canonical URIs."""

    child: str
    parent: str

    def __post_init__(self) -> None:
        parent, child = parse_subject(self.parent), parse_subject(self.child)
        if parent.type is not SubjectType.CONTAINER:
            raise CommitmentInvalid(f"expected a container as parent, found {self.parent!r}")
        if child.type not in (SubjectType.PACK, SubjectType.CONTAINER):
            raise CommitmentInvalid(f"expected a pack or container child, found {self.child!r}")
        if self.child == self.parent:
            raise CommitmentInvalid(f"expected a child other than its parent, found {self.child}")

    @property
    def subject(self) -> str:
        return self.child

    def encode(self) -> bytes:
        return _field(self.child) + _field(self.parent)

    domain = CHILD_DOMAIN


@dataclass(frozen=True, slots=True)
class SubjectIds:
    """A pack named by a step about many packs (a ship of loose packs): its canonical URI."""

    uri: str

    def __post_init__(self) -> None:
        if parse_subject(self.uri).type is not SubjectType.PACK:
            raise CommitmentInvalid(f"expected a pack URI, found {self.uri!r}")

    @property
    def subject(self) -> str:
        return self.uri

    def encode(self) -> bytes:
        return _field(self.uri)

    domain = SUBJECT_DOMAIN


Ids = PackIds | ChildIds | SubjectIds


def leaf_data(ids: Ids, salt: bytes) -> bytes:
    """The bytes a leaf hashes: domain tag, salt, identifiers."""
    if len(salt) != SALT_SIZE:
        raise CommitmentInvalid(
            f"expected a salt of {SALT_SIZE} bytes for {ids.subject}, found {len(salt)} bytes",
            subject=ids.subject,
        )
    return ids.domain + salt + ids.encode()


def commitment_leaf(ids: Ids, salt: bytes) -> bytes:
    """The RFC 9162 leaf hash of a pack's (or child's) salted identifiers."""
    return leaf_hash(leaf_data(ids, salt))


@dataclass(frozen=True, slots=True)
class PackProof:
    """What a verifier is handed about one pack: nothing but its own leaf's path."""

    ids: Ids
    salt: bytes
    index: int
    size: int
    path: tuple[bytes, ...]


class Batch:
    """The committed leaves of one entry: root, size, and a proof for each pack."""

    def __init__(self, items: Sequence[tuple[Ids, bytes]]) -> None:
        if not items:
            raise CommitmentInvalid("expected at least one pack in a batch, found none")
        kinds = {type(ids) for ids, _ in items}
        if len(kinds) != 1:
            raise CommitmentInvalid(
                "expected one kind of leaf in a batch, found packs and children"
            )
        hashed: dict[bytes, tuple[Ids, bytes]] = {}
        seen: set[str] = set()
        for ids, salt in items:
            if ids.subject in seen:
                raise CommitmentInvalid(
                    f"expected each pack once in a batch, found {ids.subject} twice",
                    subject=ids.subject,
                )
            seen.add(ids.subject)
            digest = commitment_leaf(ids, salt)
            if digest in hashed:
                raise CommitmentInvalid(f"expected distinct leaves, found {digest.hex()} twice")
            hashed[digest] = (ids, salt)
        self.leaves = sorted(hashed)
        self._items = [hashed[digest] for digest in self.leaves]
        self._index = {ids.subject: i for i, (ids, _) in enumerate(self._items)}
        self._tree = MerkleTree(self.leaves)
        self.root = self._tree.root
        self.size = self._tree.size

    def index_of(self, subject: str) -> int:
        try:
            return self._index[subject]
        except KeyError:
            raise CommitmentInvalid(
                f"expected a pack of this batch, found {subject}", subject=subject
            ) from None

    def proof(self, subject: str) -> PackProof:
        """The proof for one pack (by its subject URI, or the child's URI)."""
        index = self.index_of(subject)
        ids, salt = self._items[index]
        return PackProof(ids, salt, index, self.size, tuple(self._tree.inclusion_proof(index)))


def verify_pack(proof: PackProof, root: bytes) -> None:
    """Raise ``CommitmentInvalid`` unless the pack's salted leaf is at ``proof.index`` of the
    tree of ``proof.size`` whose head is ``root`` (the root a signed entry commits to)."""
    subject = proof.ids.subject
    leaf = commitment_leaf(proof.ids, proof.salt)
    try:
        verify_inclusion(proof.index, proof.size, leaf, proof.path, root)
    except ProofInvalid as exc:
        raise CommitmentInvalid(
            f"expected {subject} under root {root.hex()}, found a proof that does not lead "
            f"there: {exc}",
            subject=subject,
        ) from None
