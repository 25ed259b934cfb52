"""The signed entry: payload envelope, canonical bytes, id and Ed25519 signature.

An entry is kept and exchanged as the exact payload bytes that were signed plus the signature.
The parsed ``Payload`` is a view of those bytes; it is never re-serialised to verify.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.errors import MalformedEntry, SignatureInvalid
from ledger.kinds import Kind
from ledger.opening_forms import (
    Opening,
    OpeningInvalid,
    OpeningMissing,
    Sidecar,
    disclosures_from_wire,
    sidecar_from_wire,
)
from ledger.openings import (
    Commitment,
    check_disclosures,
    commitment_of,
    open_sidecar,
    opened_subjects,
)
from ledger.timefmt import parse_ts

#: The version new entries are written in; every version in ``VERSIONS`` still verifies.
#: v2 entries may sign a commitment to many packs instead of listing them (``ledger.openings``).
VERSION = 2
VERSIONS = (1, 2)
#: Signatures cover this prefix + payload bytes, so an entry signature can never be replayed
#: as a membership signature or as any other message signed with the same key.
ENTRY_DOMAIN = b"medtrace/entry/v1\x00"

FEED_ID = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}/[a-z0-9][a-z0-9-]{0,31}\Z")
ENTRY_ID = re.compile(r"\A[0-9a-f]{64}\Z")
_FIELDS = frozenset({"v", "feed", "seq", "prev", "ts", "kind", "subjects", "refs", "body"})
_KINDS = frozenset(k.value for k in Kind)


@dataclass(frozen=True, slots=True)
class Payload:
    feed: str
    seq: int
    prev: str | None
    ts: str
    kind: Kind
    subjects: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    body: Mapping[str, Any] = field(default_factory=dict)
    v: int = VERSION
    #: ``commitment_of(v, body)`` once asked (a replicated entry is asked several times);
    #: ``False`` for none, ``None`` until asked.
    _commitment: Commitment | bool | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "feed": self.feed,
            "seq": self.seq,
            "prev": self.prev,
            "ts": self.ts,
            "kind": self.kind.value,
            "subjects": list(self.subjects),
            "refs": list(self.refs),
            "body": dict(self.body),
        }

    def encode(self) -> bytes:
        validate_payload_json(self.to_json())
        return canonical_bytes(self.to_json())

    @property
    def org(self) -> str:
        return self.feed.split("/", 1)[0]

    @property
    def commitment(self) -> Commitment | None:
        """The signed commitment (v2), ``None`` when there is none; ``MalformedEntry`` if
        ``body.commitment`` is not one. Worked out once: the payload is a view of signed bytes."""
        found = self._commitment
        if found is None:
            found = commitment_of(self.v, self.body) or False
            object.__setattr__(self, "_commitment", found)
        return found if isinstance(found, Commitment) else None

    @property
    def commits(self) -> bool:
        """Whether the payload signs a commitment to packs it does not list (v2)."""
        return self.commitment is not None

    @property
    def order_key(self) -> tuple[str, str, int]:
        """Total order of entries across feeds; a linear extension of causality (see ADR 0003)."""
        return (self.ts, self.feed, self.seq)


def validate_payload_json(obj: Any) -> None:
    """Check the envelope's shape; the body's meaning is the lifecycle's business."""
    # Every entry read passes here: messages are built only when a check fails.
    if not isinstance(obj, dict):
        raise MalformedEntry(f"expected a JSON object payload, found {type(obj).__name__}")
    keys = obj.keys()
    if keys != _FIELDS:
        raise MalformedEntry(
            f"expected exactly the fields {sorted(_FIELDS)}, found missing "
            f"{sorted(_FIELDS - keys)} and unknown {sorted(keys - _FIELDS)}"
        )
    if not (type(obj["v"]) is int and obj["v"] in VERSIONS):
        raise MalformedEntry(f"expected v in {list(VERSIONS)}, found {obj['v']!r}")
    feed = obj["feed"]
    if not (isinstance(feed, str) and FEED_ID.match(feed) is not None):
        raise MalformedEntry(f"expected a feed id like 'acme/line-1', found {feed!r}")
    seq = obj["seq"]
    if not (type(seq) is int and seq >= 0):
        raise MalformedEntry(f"expected a non-negative integer seq, found {seq!r}")
    prev = obj["prev"]
    if seq == 0:
        if prev is not None:
            raise MalformedEntry(f"expected prev null at seq 0, found {prev!r}")
    elif not (isinstance(prev, str) and ENTRY_ID.match(prev) is not None):
        raise MalformedEntry(f"expected prev to be a 64-hex entry id at seq {seq}, found {prev!r}")
    if not isinstance(obj["ts"], str):
        raise MalformedEntry(f"expected a string ts, found {obj['ts']!r}")
    parse_ts(obj["ts"])
    kind = obj["kind"]
    if not (isinstance(kind, str) and kind in _KINDS):  # a list or object is not hashable
        raise MalformedEntry(f"expected a kind from {sorted(_KINDS)}, found {obj['kind']!r}")
    subjects = obj["subjects"]
    if not (isinstance(subjects, list) and all(isinstance(s, str) for s in subjects)):
        raise MalformedEntry("expected subjects to be a list of URI strings")
    refs = obj["refs"]
    if not (
        isinstance(refs, list)
        and all(isinstance(r, str) and ENTRY_ID.match(r) is not None for r in refs)
    ):
        raise MalformedEntry("expected refs to be a list of 64-hex entry ids")
    if not isinstance(obj["body"], dict):
        raise MalformedEntry(f"expected an object body, found {type(obj['body']).__name__}")


def decode_payload(data: bytes) -> Payload:
    obj = parse_canonical(data)
    validate_payload_json(obj)
    return Payload(
        v=obj["v"],
        feed=obj["feed"],
        seq=obj["seq"],
        prev=obj["prev"],
        ts=obj["ts"],
        kind=Kind(obj["kind"]),
        subjects=tuple(obj["subjects"]),
        refs=tuple(obj["refs"]),
        body=obj["body"],
    )


def entry_id(payload_bytes: bytes) -> str:
    return hashlib.sha256(payload_bytes).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """Payload bytes exactly as signed, the signature, and the parsed view of the bytes; for a
    v2 entry that commits to packs, what is opened of the commitment beside it (a sidecar
    between nodes, one pack's disclosure for a verifier), checked against the signed root."""

    payload_bytes: bytes
    signature: bytes
    payload: Payload
    id: str
    opening: Opening | None = field(default=None, compare=False)
    #: ``about`` once asked (ingest asks for a page's packs, then the lifecycle again).
    _about: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def with_opening(self, opening: Opening | None, *, check: bool = True) -> SignedEntry:
        """This entry with ``opening`` beside it, after checking it against the signed root
        (``OpeningInvalid``); a sidecar is opened in full, disclosures leaf by leaf. Only a
        store reading back what it checked before storing passes ``check=False``."""
        if opening is not None and check:
            p = self.payload
            if isinstance(opening, Sidecar):
                open_sidecar(p.kind, p.subjects, p.body, p.v, opening, commitment=p.commitment)
            else:
                check_disclosures(p.kind, p.subjects, p.body, p.v, opening, commitment=p.commitment)
        # Not ``dataclasses.replace``: it costs more than parsing the sidecar did.
        return SignedEntry(self.payload_bytes, self.signature, self.payload, self.id, opening)

    def require_sidecar(self) -> None:
        """What a node checks before it stores an entry from elsewhere: an entry committing to
        packs comes with every one of them (``OpeningMissing``) making the signed root
        (``OpeningInvalid``); an entry that commits to none comes with no opening."""
        p = self.payload
        if not p.commits:
            if self.opening is not None:
                raise OpeningInvalid(
                    f"expected no packs beside a {p.kind.value} that commits to none, found some"
                )
            return
        if not isinstance(self.opening, Sidecar):
            raise OpeningMissing(
                f"expected the {p.body['commitment']['size']} packs this {p.kind.value} commits "
                f"to beside it (its sidecar), found {'disclosures only' if self.opening else 'none'}"
            )
        open_sidecar(p.kind, p.subjects, p.body, p.v, self.opening, commitment=p.commitment)

    @property
    def about(self) -> tuple[str, ...]:
        """What the entry is about as a v1 entry listed it: its subjects and the opened packs
        (a commission: the packs it creates); only opened packs are known."""
        found = self._about
        if found is None:
            p = self.payload
            found = opened_subjects(
                p.kind, p.subjects, p.body, p.v, self.opening, commitment=p.commitment
            )
            object.__setattr__(self, "_about", found)
        return found

    @classmethod
    def from_bytes(cls, payload_bytes: bytes, signature: bytes) -> SignedEntry:
        """Parse (and check the canonical form of) received bytes; the signature is checked later."""
        if len(signature) != 64:
            raise MalformedEntry(
                f"expected a 64-byte Ed25519 signature, found {len(signature)} bytes"
            )
        return cls(
            bytes(payload_bytes),
            bytes(signature),
            decode_payload(payload_bytes),
            entry_id(payload_bytes),
        )

    def verify_signature(self, key: Ed25519PublicKey) -> None:
        try:
            key.verify(self.signature, ENTRY_DOMAIN + self.payload_bytes)
        except InvalidSignature:
            p = self.payload
            raise SignatureInvalid(
                f"entry {self.id[:16]}… ({p.feed} #{p.seq}): expected a valid Ed25519 signature "
                "by the feed's key for that position, found one that does not verify"
            ) from None

    def to_wire(self) -> dict[str, Any]:
        """The wire form; an opening travels beside the signed bytes as ``sidecar`` (every
        leaf) or ``leaves`` (disclosed ones)."""
        wire: dict[str, Any] = {
            "id": self.id,
            "payload": base64.b64encode(self.payload_bytes).decode("ascii"),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        if isinstance(self.opening, Sidecar):
            wire["sidecar"] = self.opening.to_wire()
        elif self.opening is not None:
            wire["leaves"] = [d.to_wire() for d in self.opening]
        return wire

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any], *, check_opening: bool = True) -> SignedEntry:
        """Rebuild from ``to_wire``; a claimed ``id`` must match the bytes, and an opening the
        signed root. A node's ingest passes ``check_opening=False`` and checks it after the
        signature, so that a validly signed entry with a wrong list is kept as evidence."""
        try:
            payload_bytes = base64.b64decode(obj["payload"], validate=True)
            signature = base64.b64decode(obj["signature"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEntry(
                f"expected an object with base64 'payload' and 'signature', found an error: {exc}"
            ) from None
        entry = cls.from_bytes(payload_bytes, signature)
        claimed = obj.get("id")
        if claimed is not None and claimed != entry.id:
            raise MalformedEntry(
                f"expected id {entry.id} for these bytes, found claimed id {claimed!r}"
            )
        if "sidecar" in obj and "leaves" in obj:
            raise OpeningInvalid("expected a sidecar or disclosed leaves beside an entry, not both")
        if "sidecar" in obj:
            return entry.with_opening(sidecar_from_wire(obj["sidecar"]), check=check_opening)
        if "leaves" in obj:
            return entry.with_opening(disclosures_from_wire(obj["leaves"]), check=check_opening)
        return entry

    def __repr__(self) -> str:
        p = self.payload
        return f"SignedEntry({p.feed} #{p.seq} {p.kind.value} id={self.id[:12]}…)"


def sign(payload: Payload, key: Ed25519PrivateKey) -> SignedEntry:
    data = payload.encode()
    signature = key.sign(ENTRY_DOMAIN + data)
    return SignedEntry(data, signature, payload, entry_id(data))
