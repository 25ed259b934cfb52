"""The consortium membership: who may write what, with which key, from which feed position.

Versions chain like The Update Framework's root metadata: version N+1 names the id of N and is
valid only when signed by the governance threshold of N *and* of N+1, so neither the old nor the
new governance alone can rewrite the consortium. Nodes pin the genesis id and walk forward.
Key validity is a range of feed positions, never a time, so an old entry stays verifiable after
a rotation and verification does not depend on the wall clock.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.entry import FEED_ID, Payload
from ledger.errors import (
    GtinOutsidePrefixes,
    IdentifierError,
    KeyNotAuthorised,
    KindNotAllowed,
    MalformedEntry,
    MembershipChainError,
    MembershipError,
    ThresholdNotMet,
    UnknownFeed,
)
from ledger.identifiers import check_company_prefix, gtin_in_prefixes
from ledger.kinds import ROLE_KINDS, Kind, Role

MEMBERSHIP_DOMAIN = b"medtrace/membership/v1\x00"
DOC_TYPE = "medtrace/membership"
_ORG_ID = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")
_GLN = re.compile(r"\A\d{13}\Z")


def raw_public(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError):
        raise MembershipError(f"expected base64 for {what}, found {text!r}") from None


def _public_key(text: Any, what: str) -> bytes:
    raw = _unb64(text, what)
    if len(raw) != 32:
        raise MembershipError(
            f"expected a 32-byte Ed25519 public key for {what}, found {len(raw)} bytes"
        )
    return raw


@dataclass(frozen=True, slots=True)
class FeedKey:
    """A public key valid for the feed positions ``from_seq`` ≤ seq < ``until_seq``."""

    public: bytes
    from_seq: int = 0
    until_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return self.from_seq <= seq and (self.until_seq is None or seq < self.until_seq)


@functools.lru_cache(maxsize=1024)
def _load_public_key(raw: bytes) -> Ed25519PublicKey:
    """Loaded once: every entry of a feed needs its key, and loading costs ~5% of a verify.
    The key object is immutable, so threads verifying at once may share it."""
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    id: str
    kinds: frozenset[Kind]
    keys: tuple[FeedKey, ...]

    @property
    def org(self) -> str:
        return self.id.split("/", 1)[0]

    def key_at(self, seq: int) -> Ed25519PublicKey:
        for key in self.keys:
            if key.covers(seq):
                return _load_public_key(key.public)
        ranges = ", ".join(
            f"[{k.from_seq}, {k.until_seq if k.until_seq is not None else '∞'})" for k in self.keys
        )
        raise KeyNotAuthorised(
            f"feed {self.id}: expected a key valid at seq {seq}, found keys only for positions "
            f"{ranges or 'none'} (revoked or rotated)"
        )

    @property
    def open_key(self) -> FeedKey | None:
        return next((k for k in self.keys if k.until_seq is None), None)


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    role: Role
    gln: str
    company_prefixes: tuple[str, ...] = ()
    feeds: Mapping[str, FeedSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Membership:
    consortium: str
    version: int
    previous: str | None
    threshold: int
    governance: Mapping[str, bytes]
    organisations: Mapping[str, Organisation]

    # -- lookups -------------------------------------------------------------------------------
    def feed(self, feed_id: str) -> FeedSpec:
        org = self.organisations.get(feed_id.split("/", 1)[0])
        spec = org.feeds.get(feed_id) if org is not None else None
        if spec is None:
            raise UnknownFeed(
                f"expected a feed listed in membership v{self.version}, found {feed_id!r}"
            )
        return spec

    def organisation_of(self, feed_id: str) -> Organisation:
        self.feed(feed_id)
        return self.organisations[feed_id.split("/", 1)[0]]

    def feeds(self) -> Iterable[FeedSpec]:
        for org in self.organisations.values():
            yield from org.feeds.values()

    def authorise(self, payload: Payload) -> Ed25519PublicKey:
        """The key that must have signed ``payload``, once its feed may write it at all."""
        spec = self.feed(payload.feed)
        key = spec.key_at(payload.seq)
        if payload.kind not in spec.kinds:
            raise KindNotAllowed(
                f"feed {payload.feed}: expected one of the kinds {sorted(spec.kinds)}, "
                f"found {payload.kind.value!r}"
            )
        if payload.kind is Kind.COMMISSION:
            org = self.organisations[spec.org]
            gtin = payload.body.get("gtin")
            try:
                own = isinstance(gtin, str) and gtin_in_prefixes(gtin, org.company_prefixes)
            except IdentifierError as exc:
                raise MalformedEntry(f"commission body: {exc}") from None
            if not own:
                raise GtinOutsidePrefixes(
                    f"feed {payload.feed}: expected a GTIN under the company prefixes "
                    f"{list(org.company_prefixes)}, found {gtin!r}"
                )
        return key

    # -- encoding ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "type": DOC_TYPE,
            "consortium": self.consortium,
            "version": self.version,
            "previous": self.previous,
            "governance": {
                "threshold": self.threshold,
                "keys": {name: _b64(pub) for name, pub in sorted(self.governance.items())},
            },
            "organisations": {
                org.id: {
                    "name": org.name,
                    "role": org.role.value,
                    "gln": org.gln,
                    "company_prefixes": list(org.company_prefixes),
                    "feeds": {
                        spec.id: {
                            "kinds": sorted(k.value for k in spec.kinds),
                            "keys": [
                                {
                                    "public": _b64(k.public),
                                    "from_seq": k.from_seq,
                                    "until_seq": k.until_seq,
                                }
                                for k in spec.keys
                            ],
                        }
                        for spec in org.feeds.values()
                    },
                }
                for org in self.organisations.values()
            },
        }

    def encode(self) -> bytes:
        return canonical_bytes(self.to_json())

    @property
    def id(self) -> str:
        return hashlib.sha256(self.encode()).hexdigest()

    @classmethod
    def from_json(cls, obj: Any) -> Membership:
        try:
            return _membership_from_json(obj)
        except (KeyError, TypeError, ValueError, AttributeError, IdentifierError) as exc:
            raise MembershipError(
                f"expected a membership document, found a malformed one: {exc!r}"
            ) from None

    # -- evolution (each returns the next version, unsigned) -----------------------------------
    def next_version(self, **changes: Any) -> Membership:
        return replace(self, version=self.version + 1, previous=self.id, **changes)

    def with_organisation(self, org: Organisation) -> Membership:
        if org.id in self.organisations:
            raise MembershipError(
                f"expected a new organisation id, found {org.id!r} already listed"
            )
        return self.next_version(organisations={**self.organisations, org.id: org})

    def without_organisation(self, org_id: str, feed_sizes: Mapping[str, int]) -> Membership:
        """Revoke every feed of ``org_id`` from the positions in ``feed_sizes`` (default 0)."""
        org = self._org(org_id)
        feeds = {fid: _close_keys(spec, feed_sizes.get(fid, 0)) for fid, spec in org.feeds.items()}
        return self.next_version(
            organisations={**self.organisations, org_id: replace(org, feeds=feeds)}
        )

    def with_feed(
        self, org_id: str, feed_id: str, public: bytes, kinds: Iterable[Kind] | None = None
    ) -> Membership:
        org = self._org(org_id)
        if feed_id in org.feeds:
            raise MembershipError(f"expected a new feed id, found {feed_id!r} already listed")
        spec = FeedSpec(
            feed_id,
            frozenset(kinds) if kinds is not None else ROLE_KINDS[org.role],
            (FeedKey(public),),
        )
        return self.next_version(
            organisations={
                **self.organisations,
                org_id: replace(org, feeds={**org.feeds, feed_id: spec}),
            }
        )

    def revoke_feed(self, feed_id: str, from_seq: int) -> Membership:
        return self._replace_feed(_close_keys(self.feed(feed_id), from_seq))

    def rotate_feed_key(self, feed_id: str, public: bytes, from_seq: int) -> Membership:
        spec = _close_keys(self.feed(feed_id), from_seq)
        return self._replace_feed(replace(spec, keys=(*spec.keys, FeedKey(public, from_seq, None))))

    def _org(self, org_id: str) -> Organisation:
        if org_id not in self.organisations:
            raise MembershipError(f"expected a listed organisation, found {org_id!r}")
        return self.organisations[org_id]

    def _replace_feed(self, spec: FeedSpec) -> Membership:
        org = self.organisations[spec.org]
        return self.next_version(
            organisations={
                **self.organisations,
                org.id: replace(org, feeds={**org.feeds, spec.id: spec}),
            }
        )


def _close_keys(spec: FeedSpec, at: int) -> FeedSpec:
    if at < 0:
        raise MembershipError(f"expected a non-negative feed position, found {at}")
    closed = []
    for key in spec.keys:
        still_open = key.until_seq is None or key.until_seq > at
        closed.append(replace(key, until_seq=max(at, key.from_seq)) if still_open else key)
    return replace(spec, keys=tuple(closed))


def _membership_from_json(obj: Any) -> Membership:
    if obj.get("type") != DOC_TYPE:
        raise MembershipError(f"expected type {DOC_TYPE!r}, found {obj.get('type')!r}")
    gov = obj["governance"]
    governance = {
        str(name): _public_key(pub, f"governance key {name}") for name, pub in gov["keys"].items()
    }
    threshold = gov["threshold"]
    if not (type(threshold) is int and 1 <= threshold <= len(governance)):
        raise MembershipError(
            f"expected a threshold between 1 and {len(governance)} governance keys, found {threshold!r}"
        )
    organisations: dict[str, Organisation] = {}
    for org_id, raw in obj["organisations"].items():
        if not _ORG_ID.match(org_id):
            raise MembershipError(f"expected an organisation id like 'acme', found {org_id!r}")
        role = Role(raw["role"])
        if not _GLN.match(raw["gln"]):
            raise MembershipError(
                f"organisation {org_id}: expected a 13-digit GLN, found {raw['gln']!r}"
            )
        prefixes = tuple(check_company_prefix(p) for p in raw["company_prefixes"])
        feeds: dict[str, FeedSpec] = {}
        for feed_id, fraw in raw["feeds"].items():
            if not FEED_ID.match(feed_id) or not feed_id.startswith(f"{org_id}/"):
                raise MembershipError(
                    f"organisation {org_id}: expected a feed id '{org_id}/…', found {feed_id!r}"
                )
            kinds = frozenset(Kind(k) for k in fraw["kinds"])
            if not kinds <= ROLE_KINDS[role]:
                extra = sorted(k.value for k in kinds - ROLE_KINDS[role])
                raise MembershipError(
                    f"feed {feed_id}: kinds {extra} are not allowed for role {role.value}"
                )
            keys = tuple(
                FeedKey(
                    _public_key(k["public"], f"key of {feed_id}"),
                    int(k["from_seq"]),
                    None if k["until_seq"] is None else int(k["until_seq"]),
                )
                for k in fraw["keys"]
            )
            feeds[feed_id] = FeedSpec(feed_id, kinds, keys)
        organisations[org_id] = Organisation(
            org_id, str(raw["name"]), role, raw["gln"], prefixes, feeds
        )
    return Membership(
        consortium=str(obj["consortium"]),
        version=int(obj["version"]),
        previous=obj["previous"],
        threshold=threshold,
        governance=governance,
        organisations=organisations,
    )


# -- signed versions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedMembership:
    doc_bytes: bytes
    signatures: Mapping[str, bytes]
    membership: Membership

    @property
    def id(self) -> str:
        return hashlib.sha256(self.doc_bytes).hexdigest()

    def to_wire(self) -> dict[str, Any]:
        return {
            "membership": _b64(self.doc_bytes),
            "signatures": {name: _b64(sig) for name, sig in sorted(self.signatures.items())},
        }

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> SignedMembership:
        try:
            doc_bytes = _unb64(obj["membership"], "membership")
            signatures = {str(k): _unb64(v, f"signature {k}") for k, v in obj["signatures"].items()}
        except (KeyError, AttributeError, TypeError):
            raise MembershipError(
                "expected {'membership': base64, 'signatures': {name: base64}}"
            ) from None
        try:
            doc = parse_canonical(doc_bytes)
        except MalformedEntry as exc:
            raise MembershipError(f"membership bytes: {exc}") from None
        membership = Membership.from_json(doc)
        if membership.encode() != doc_bytes:
            # Signed bytes must mean exactly what is read from them: no ignored fields, no
            # values read leniently, so the signed id and Membership.id always agree.
            raise MembershipError(
                "expected the membership bytes to be exactly the encoding of the document they "
                "describe, found extra fields or values in another form"
            )
        return cls(doc_bytes, signatures, membership)

    def count_valid(self, governance: Mapping[str, bytes]) -> int:
        """Distinct governance keys with a valid signature: a key listed twice counts once."""
        valid: set[bytes] = set()
        for name, public in governance.items():
            sig = self.signatures.get(name)
            if sig is None or public in valid:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(
                    sig, MEMBERSHIP_DOMAIN + self.doc_bytes
                )
            except InvalidSignature:
                continue
            valid.add(public)
        return len(valid)

    def require_threshold(self, of: Membership, label: str) -> None:
        valid = self.count_valid(of.governance)
        if valid < of.threshold:
            raise ThresholdNotMet(
                f"membership v{self.membership.version}: expected {of.threshold} valid signatures "
                f"of the {label} governance keys (v{of.version}), found {valid}"
            )


def sign_membership(
    membership: Membership,
    keys: Mapping[str, Ed25519PrivateKey],
    into: SignedMembership | None = None,
) -> SignedMembership:
    """Sign (or add signatures to ``into``) with named governance keys."""
    data = membership.encode()
    if into is not None and into.doc_bytes != data:
        raise MembershipError(
            "expected to add signatures to the same membership bytes, found other bytes"
        )
    signatures = dict(into.signatures) if into is not None else {}
    for name, key in keys.items():
        signatures[name] = key.sign(MEMBERSHIP_DOMAIN + data)
    return SignedMembership(data, signatures, membership)


class MembershipChain:
    """Membership versions from a pinned genesis, each checked against the one before."""

    def __init__(self, genesis: SignedMembership, pinned_id: str) -> None:
        if genesis.id != pinned_id:
            raise MembershipChainError(
                f"expected the pinned genesis {pinned_id}, found {genesis.id}"
            )
        if genesis.membership.version != 1 or genesis.membership.previous is not None:
            raise MembershipChainError(
                f"expected genesis version 1 with no previous, found v{genesis.membership.version}"
            )
        genesis.require_threshold(genesis.membership, "genesis")
        self.versions: list[SignedMembership] = [genesis]

    @property
    def current(self) -> Membership:
        return self.versions[-1].membership

    def extend(self, signed: SignedMembership) -> None:
        old, new = self.current, signed.membership
        if new.version <= old.version and any(v.id == signed.id for v in self.versions):
            return  # already known: idempotent
        if new.consortium != old.consortium:
            raise MembershipChainError(
                f"expected consortium {old.consortium!r}, found {new.consortium!r}"
            )
        if new.version != old.version + 1:
            raise MembershipChainError(f"expected version {old.version + 1}, found {new.version}")
        if new.previous != self.versions[-1].id:
            raise MembershipChainError(
                f"v{new.version}: expected previous {self.versions[-1].id}, found {new.previous}"
            )
        signed.require_threshold(old, "previous")
        signed.require_threshold(new, "new")
        self.versions.append(signed)

    def extend_all(self, versions: Iterable[SignedMembership]) -> None:
        for signed in sorted(versions, key=lambda s: s.membership.version):
            self.extend(signed)


def genesis(
    consortium: str,
    governance: Mapping[str, bytes],
    threshold: int,
    organisations: Iterable[Organisation] = (),
) -> Membership:
    orgs = {org.id: org for org in organisations}
    membership = Membership(consortium, 1, None, threshold, dict(governance), orgs)
    return Membership.from_json(membership.to_json())  # validates what a reader would validate


def organisation(
    org_id: str,
    *,
    name: str,
    role: Role,
    gln: str,
    company_prefixes: Iterable[str] = (),
    feeds: Mapping[str, bytes] | None = None,
) -> Organisation:
    """An organisation whose feeds may write every kind its role allows."""
    specs = {
        fid: FeedSpec(fid, ROLE_KINDS[role], (FeedKey(pub),)) for fid, pub in (feeds or {}).items()
    }
    return Organisation(org_id, name, role, gln, tuple(company_prefixes), specs)


__all__ = [
    "FeedKey",
    "FeedSpec",
    "Membership",
    "MembershipChain",
    "Organisation",
    "SignedMembership",
    "genesis",
    "organisation",
    "raw_public",
    "sign_membership",
]
