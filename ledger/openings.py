"""What a v2 entry's signed commitment discloses, and to whom (architecture §7, ADR 0019).

A v2 entry that names many packs signs a Merkle root over salted leaves, one per pack, in
``body.commitment`` (``{"root": <64 hex>, "size": <n>}``), instead of listing them. The packs
travel beside the signed bytes, never inside them:

- a **sidecar** (between nodes: replication, bundles, the node's own store) holds every leaf's
  value and salt, in leaf order; a node checks it against the signed root before it stores the
  entry, and folds the entry with it;
- a **disclosure** (to a verifier) holds the one leaf the verifier asked about, its salt, its
  index and its inclusion path, which say nothing about any other leaf.

What a leaf's value is depends on the kind: the serial of a commissioned pack (its GTIN, lot and
expiry are the body's), the child URI of a pack or unpack (its parent is the first subject), or
a pack URI for any other kind. ``opened_subjects`` gives back what the entry is about, in the
form a v1 entry listed it.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from types import EllipsisType
from typing import Any
from urllib.parse import quote

from ledger.commitments import (
    CHILD_DOMAIN,
    PACK_DOMAIN,
    SALT_SIZE,
    SUBJECT_DOMAIN,
    ChildIds,
    CommitmentInvalid,
    PackIds,
    SubjectIds,
)
from ledger.commitments import Ids as LeafIds
from ledger.errors import IdentifierError, LedgerError, MalformedEntry
from ledger.identifiers import DL_ROOT, SubjectType, check_cset82, gtin14, parse_subject
from ledger.kinds import Kind
from ledger.merkle import MerkleTree, ProofInvalid, root_from_inclusion_proof
from ledger.opening_forms import (
    Disclosure,
    Opening,
    OpeningInvalid,
    OpeningMissing,
    Sidecar,
)

COMMITMENT = "commitment"
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_AGGREGATION = (Kind.PACK, Kind.UNPACK)


@dataclass(frozen=True, slots=True)
class Commitment:
    root: bytes
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root.hex(), "size": self.size}


def commitment_of(v: int, body: Mapping[str, Any]) -> Commitment | None:
    """The signed commitment of a v2 body, ``None`` when it has none (and for every v1 body)."""
    if v < 2 or COMMITMENT not in body:
        return None
    raw = body[COMMITMENT]
    if not (isinstance(raw, dict) and raw.keys() == {"root", "size"}):
        raise MalformedEntry(
            f"expected body.commitment as {{'root', 'size'}}, found {str(raw)[:80]!r}"
        )
    root, size = raw["root"], raw["size"]
    if not (isinstance(root, str) and _HEX64.match(root)):
        raise MalformedEntry(f"expected commitment.root as 64 lower-case hex, found {root!r}")
    if not (type(size) is int and size >= 1):
        raise MalformedEntry(f"expected commitment.size as a positive integer, found {size!r}")
    return Commitment(bytes.fromhex(root), size)


def _known(
    commitment: Commitment | EllipsisType | None, v: int, body: Mapping[str, Any]
) -> Commitment | None:
    # ``...``: not handed in. A replicated entry is opened, listed and folded, and parsing
    # its commitment each time was a tenth of a catch-up's work.
    return commitment_of(v, body) if isinstance(commitment, EllipsisType) else commitment


_LENGTHS = [n.to_bytes(2, "big") for n in range(256)]


def _field(value: str) -> bytes:
    raw = value.encode("ascii")
    return len(raw).to_bytes(2, "big") + raw


class _Leaves:
    """How one entry's leaf values become leaf data (``ledger.commitments`` encodings), with
    the parts every leaf of the entry shares encoded once."""

    def __init__(self, kind: Kind, subjects: Sequence[str], body: Mapping[str, Any]) -> None:
        self.kind = kind
        if kind is Kind.COMMISSION:
            gtin = body.get("gtin")
            ilmd = body.get("ilmd")
            if not (isinstance(gtin, str) and isinstance(ilmd, dict)):
                raise MalformedEntry("commission body: expected 'gtin' and an 'ilmd' object")
            lot, expiry = ilmd.get("lotNumber"), ilmd.get("itemExpirationDate")
            if not (isinstance(lot, str) and isinstance(expiry, str)):
                raise MalformedEntry("commission body: expected ilmd.lotNumber and expiry")
            self.template, self._head, self._tail = _lot_parts(gtin, lot, expiry)
            self.domain = PACK_DOMAIN
        elif kind in _AGGREGATION:
            if not subjects:
                raise MalformedEntry(f"{kind.value}: expected the container as first subject")
            self.parent = subjects[0]
            self.domain = CHILD_DOMAIN
            self._head, self._tail = b"", _field(self.parent)
        else:
            self.domain = SUBJECT_DOMAIN
            self._head, self._tail = b"", b""

    def check(self, value: str) -> None:
        """Raise unless ``value`` is a leaf value of this kind (what ``ids`` would check; a
        serial alone for a commission, whose shared parts were checked once)."""
        if self.kind is Kind.COMMISSION:
            try:
                check_cset82(value, "serial")
            except IdentifierError as exc:
                raise OpeningInvalid(f"expected a serial as leaf value: {exc}") from None
        else:
            self.ids(value)

    def check_all(self, values: Sequence[str]) -> None:
        if self.kind is Kind.COMMISSION:
            try:
                _check_serials(values)
            except IdentifierError as exc:
                raise OpeningInvalid(f"expected serials as leaf values: {exc}") from None
        else:
            for value in values:
                self.ids(value)

    def ids(self, value: str) -> LeafIds:
        try:
            if self.kind is Kind.COMMISSION:
                t = self.template
                return PackIds(t.gtin, value, t.lot, t.expiry)
            if self.kind in _AGGREGATION:
                return ChildIds(value, self.parent)
            return SubjectIds(value)
        except (IdentifierError, CommitmentInvalid) as exc:
            raise OpeningInvalid(f"expected a leaf value of a {self.kind.value}: {exc}") from None

    def data(self, value: str, salt: bytes) -> bytes:
        """The leaf data of ``value`` (its identifiers checked by ``check``)."""
        return self.domain + salt + self._head + _field(value) + self._tail

    def hashed(self, values: Sequence[str], salts: Sequence[bytes]) -> list[bytes]:
        """The leaf hash of each value, ``data`` and ``_leaf_hash`` inlined: a commissioning
        hashes every pack of its chunk. The values (ASCII, one line each) are encoded in one
        call and cut apart again."""
        if len(values) != len(salts):
            raise OpeningInvalid(f"expected one salt per value, found {len(salts)} salts")
        raws = "\n".join(values).encode("ascii").split(b"\n")
        if len(raws) != len(values):  # a value with a line break: encoded one by one
            raws = [value.encode("ascii") for value in values]
        sha256, join = hashlib.sha256, b"".join
        head, tail, end, lengths = b"\x00" + self.domain, self._head, self._tail, _LENGTHS
        try:
            return [
                sha256(join((head, salt, tail, lengths[len(raw)], raw, end))).digest()
                for raw, salt in zip(raws, salts, strict=True)
            ]
        except IndexError:  # a value of 256 bytes or more: its length computed, not looked up
            return [
                sha256(join((head, salt, tail, len(raw).to_bytes(2, "big"), raw, end))).digest()
                for raw, salt in zip(raws, salts, strict=True)
            ]

    def subject(self, value: str) -> str:
        if self.kind is Kind.COMMISSION:
            return f"{DL_ROOT}/01/{self.template.gtin}/21/{_serial_segment(value)}"
        return value


@lru_cache(maxsize=256)
def _lot_parts(gtin: str, lot: str, expiry: str) -> tuple[PackIds, bytes, bytes]:
    """A lot's pack template (its shared identifiers checked) and their encoded leaf parts:
    the same for every commissioning of the lot, and a catch-up opens thousands of them."""
    template = PackIds(gtin, "X", lot, expiry)
    return template, _field(template.gtin), _field(lot) + _field(expiry)


def _serial_segment(serial: str) -> str:
    # Random serials are unreserved characters already: ``quote`` is skipped for speed.
    return serial if _UNRESERVED.fullmatch(serial) else quote(serial, safe="")


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


@dataclass(frozen=True)
class OpenedTree:
    """A sidecar checked against its entry, with the tree to disclose single leaves from."""

    sidecar: Sidecar
    tree: MerkleTree
    index: dict[str, int]

    def disclose(self, values: Iterable[str]) -> tuple[Disclosure, ...]:
        """The disclosures of those of ``values`` that are leaves here (none for the others)."""
        found = []
        for value in values:
            i = self.index.get(value)
            if i is not None:
                path = tuple(self.tree.inclusion_proof(i))
                found.append(Disclosure(value, self.sidecar.salts[i], i, path))
        return tuple(found)


def open_sidecar(
    kind: Kind,
    subjects: Sequence[str],
    body: Mapping[str, Any],
    v: int,
    sidecar: Sidecar,
    *,
    commitment: Commitment | EllipsisType | None = ...,
) -> OpenedTree:
    """Check ``sidecar`` against the entry's signed commitment: raise ``OpeningInvalid``
    unless its leaves, in its order, make exactly the signed root and size. ``commitment``:
    ``commitment_of(v, body)`` when the caller holds it already (``Payload.commitment``)."""
    commitment = _known(commitment, v, body)
    if commitment is None:
        raise OpeningInvalid(f"expected no sidecar for a {kind.value} without a commitment")
    leaves = _Leaves(kind, subjects, body)
    leaves.check_all(sidecar.values)
    if any(len(salt) != SALT_SIZE for salt in sidecar.salts):
        raise OpeningInvalid(f"expected {SALT_SIZE}-byte salts beside the entry")
    hashes = leaves.hashed(sidecar.values, sidecar.salts)
    if hashes != sorted(hashes) or len(set(hashes)) != len(hashes):
        raise OpeningInvalid("expected the sidecar's leaves in strictly increasing hash order")
    if len(hashes) != commitment.size:
        raise OpeningInvalid(
            f"expected {commitment.size} packs beside the entry, found {len(hashes)}"
        )
    tree = MerkleTree(hashes)
    if tree.root != commitment.root:
        raise OpeningInvalid(
            f"expected the packs beside the entry to make the signed root "
            f"{commitment.root.hex()}, found {tree.root.hex()}: the list is not the one signed"
        )
    return OpenedTree(sidecar, tree, {v: i for i, v in enumerate(sidecar.values)})


def check_disclosures(
    kind: Kind,
    subjects: Sequence[str],
    body: Mapping[str, Any],
    v: int,
    disclosures: Sequence[Disclosure],
    *,
    commitment: Commitment | EllipsisType | None = ...,
) -> None:
    """Raise ``OpeningInvalid`` unless every disclosed leaf is in the signed tree."""
    commitment = _known(commitment, v, body)
    if commitment is None:
        raise OpeningInvalid(f"expected no disclosure for a {kind.value} without a commitment")
    leaves = _Leaves(kind, subjects, body)
    for d in disclosures:
        leaves.check(d.value)
        if len(d.salt) != SALT_SIZE:
            raise OpeningInvalid(f"expected a {SALT_SIZE}-byte salt, found {len(d.salt)} bytes")
        leaf = _leaf_hash(leaves.data(d.value, d.salt))
        try:
            root = root_from_inclusion_proof(d.index, commitment.size, leaf, d.path)
        except ProofInvalid as exc:
            raise OpeningInvalid(f"expected an inclusion path for {d.value}: {exc}") from None
        if root != commitment.root:
            raise OpeningInvalid(
                f"expected {d.value} under the signed root {commitment.root.hex()}, found a "
                f"path leading to {root.hex()}"
            )


def opened_values(opening: Opening | None) -> tuple[str, ...]:
    if opening is None:
        return ()
    if isinstance(opening, Sidecar):
        return opening.values
    return tuple(d.value for d in opening)


def opened_subjects(
    kind: Kind,
    subjects: Sequence[str],
    body: Mapping[str, Any],
    v: int,
    opening: Opening | None,
    *,
    commitment: Commitment | EllipsisType | None = ...,
) -> tuple[str, ...]:
    """The subjects a v1 entry would have listed: for a commission the packs it creates; for
    any other kind its own subjects followed by the opened ones. Only what is opened is
    known: a verifier's disclosure opens its own pack alone."""
    values = opened_values(opening)
    if _known(commitment, v, body) is None:
        if kind is Kind.COMMISSION:
            serials = body.get("serials")
            try:
                gtin = gtin14(str(body.get("gtin", "")))
            except LedgerError:  # a malformed commission is the lifecycle's to report
                return ()
            if isinstance(serials, list):
                prefix = f"{DL_ROOT}/01/{gtin}/21/"
                return tuple(prefix + _serial_segment(str(s)) for s in serials)
            return ()
        return tuple(subjects)
    if kind is Kind.COMMISSION:
        leaves = _Leaves(kind, subjects, body)
        return tuple(leaves.subject(value) for value in values)
    return (*subjects, *values)


def serials_of(
    v: int,
    body: Mapping[str, Any],
    opening: Opening | None,
    *,
    commitment: Commitment | EllipsisType | None = ...,
) -> list[str] | None:
    """A commission's serials: the body's list (v1) or the opened ones (v2); ``None`` when a
    v2 commission came without its packs."""
    if _known(commitment, v, body) is None:
        serials = body.get("serials")
        return serials if isinstance(serials, list) else None
    if opening is None:
        return None
    return list(opened_values(opening))


def will_commit(kind: Kind, subjects: Sequence[str], body: Mapping[str, Any]) -> bool:
    """Whether ``commit`` would commit to packs for this step (the rule it documents)."""
    if kind is Kind.COMMISSION:
        return isinstance(body.get("serials"), list) and bool(body["serials"])
    if kind in _AGGREGATION:
        return len(subjects) >= 2
    packs = [s for s in subjects if _is_pack(s)]
    return bool(packs) and list(subjects) != packs[:1]


def commit(
    kind: Kind,
    subjects: Sequence[str],
    body: Mapping[str, Any],
    *,
    salts: Iterable[bytes] | None = None,
) -> tuple[tuple[str, ...], dict[str, Any], Sidecar | None]:
    """The v2 form of a step written the v1 way (serials in the body, every child or pack in
    the subjects): subjects and body with a commitment instead of the list, and the sidecar.

    Committed: a commission's serials; a pack's or unpack's children; the packs of any other
    step, unless the step names exactly one pack and nothing else (that pack is the one a
    verifier asks about; beside a container it would be another pack's sibling). ``salts``
    (tests and golden vectors) replaces fresh random ones.
    """
    draw = iter(salts) if salts is not None else None
    values: list[str]
    if kind is Kind.COMMISSION:
        serials = body.get("serials")
        if not isinstance(serials, list) or not serials:
            raise MalformedEntry("commission body: expected a non-empty list of serial strings")
        try:  # strings already (as JSON gives them): the joined batch is checked at once
            joined = "\n".join(serials)
        except TypeError:
            values = [str(s) for s in serials]
            _check_serials(values)
        else:
            values = list(serials)
            _check_serials(values, joined)
        kept_subjects = tuple(subjects)
        new_body = {k: v for k, v in body.items() if k != "serials"}
    elif kind in _AGGREGATION:
        if len(subjects) < 2:
            return tuple(subjects), dict(body), None
        kept_subjects, values = (subjects[0],), list(subjects[1:])
        new_body = dict(body)
    else:
        packs = [s for s in subjects if _is_pack(s)]
        if not packs or list(subjects) == packs[:1]:
            return tuple(subjects), dict(body), None
        kept_subjects = tuple(s for s in subjects if not _is_pack(s))
        values, new_body = packs, dict(body)
    if len(set(values)) != len(values):
        if kind is Kind.COMMISSION:  # the lifecycle's own words for a v1 list
            raise MalformedEntry(
                "commission body: expected distinct serials, found a serial listed twice"
            )
        raise MalformedEntry(f"{kind.value}: expected each pack once, found one named twice")
    leaves = _Leaves(kind, kept_subjects, new_body)
    if draw is None:  # one read of the CSPRNG for the whole entry, cut into salts
        salts = _cut_salts(os.urandom(SALT_SIZE * len(values)))
    else:
        salts = [next(draw) for _ in values]
    hashes = leaves.hashed(values, salts)
    order = sorted(range(len(hashes)), key=hashes.__getitem__)  # leaf order: by hash
    if len(order) > 1:  # one C call per list (``itemgetter`` of a single index is no tuple)
        pick = itemgetter(*order)
        tree = MerkleTree(pick(hashes))
        sidecar = Sidecar(pick(values), pick(salts))
    else:
        tree, sidecar = MerkleTree(hashes), Sidecar(tuple(values), tuple(salts))
    new_body[COMMITMENT] = Commitment(tree.root, tree.size).to_json()
    return kept_subjects, new_body, sidecar


def _cut_salts(pool: bytes) -> list[bytes]:
    """``pool`` cut into ``SALT_SIZE``-byte salts, in one ``struct`` call for the chunk."""
    return list(_salts_struct(len(pool) // SALT_SIZE).unpack(pool))


@lru_cache(maxsize=8)
def _salts_struct(count: int) -> struct.Struct:
    return struct.Struct(f"{SALT_SIZE}s" * count)


#: A newline-joined batch of valid serials (GS1 AI character set 82, 1 to 20 each).
_SERIAL_LINES = re.compile(
    r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}(?:\n[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20})*"
)


def _check_serials(serials: Sequence[str], joined: str | None = None) -> None:
    """``check_cset82`` for every serial: one regular expression over the batch (``joined``,
    if given, is ``serials`` joined by newlines), and the per-serial check (with its message)
    only when that fails."""
    if joined is None:
        joined = "\n".join(serials)
    if _SERIAL_LINES.fullmatch(joined) is None:
        for serial in serials:
            check_cset82(serial, "serial")


def _is_pack(uri: str) -> bool:
    try:
        return parse_subject(uri).type is SubjectType.PACK
    except LedgerError:
        return False


__all__ = [
    "COMMITMENT",
    "Commitment",
    "Disclosure",
    "OpenedTree",
    "Opening",
    "OpeningInvalid",
    "OpeningMissing",
    "Sidecar",
    "check_disclosures",
    "commit",
    "commitment_of",
    "open_sidecar",
    "opened_subjects",
    "opened_values",
    "serials_of",
]
