"""One version of the consortium membership document: who may write what, from which feed
position, and how the document reads and writes as canonical JSON."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.canonical import canonical_bytes
from ledger.entry import FEED_ID, Payload
from ledger.errors import (
    GtinOutsidePrefixes,
    IdentifierError,
    KindNotAllowed,
    MalformedEntry,
    MembershipError,
    UnknownFeed,
)
from ledger.identifiers import check_company_prefix, check_gln, gtin_in_prefixes
from ledger.kinds import RECORD_KINDS, ROLE_KINDS, Kind, Role
from ledger.membership.foreign import ForeignRoot, check_foreign_roots, foreign_root_from_json
from ledger.membership.keys import b64, public_key_bytes
from ledger.membership.organisations import FeedKey, FeedSpec, Organisation, close_keys
from ledger.membership.policy import WitnessPolicy, default_policy, policy_from_json

DOC_TYPE = "medtrace/membership"
_ORG_ID = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")
#: A GLN: 13 ASCII digits (a digit class would take full-width ones, a second spelling).
_GLN = re.compile(r"\A[0-9]{13}\Z")


@dataclass(frozen=True, slots=True)
class Membership:
    consortium: str
    version: int
    previous: str | None
    threshold: int
    governance: Mapping[str, bytes]
    organisations: Mapping[str, Organisation]
    #: ``None``: the field is absent (the default policy, ``witnesses``); the bytes keep it so.
    witness_policy: WitnessPolicy | None = None
    #: Other consortia pinned by governance decision (ADR 0028), sorted by genesis; the field
    #: is written only when non-empty, so documents without it keep their bytes and ids.
    foreign_roots: tuple[ForeignRoot, ...] = ()

    # -- lookups -------------------------------------------------------------------------------
    def feed(self, feed_id: str) -> FeedSpec:
        org = self.organisations.get(feed_id.split("/", 1)[0])
        spec = org.feeds.get(feed_id) if org is not None else None
        if spec is None:
            raise UnknownFeed(
                f"expected a feed listed in membership v{self.version}, found {feed_id!r}"
            )
        return spec

    def feeds(self) -> Iterable[FeedSpec]:
        for org in self.organisations.values():
            yield from org.feeds.values()

    def may_write(self, feed_id: str, kind: Kind) -> bool:
        """Whether the feed may write ``kind``: listed for the feed, or a record its
        organisation's role writes on any feed (``kinds.RECORD_KINDS``, ADR 0020)."""
        spec = self.feed(feed_id)
        return kind in spec.kinds or kind in RECORD_KINDS[self.organisations[spec.org].role]

    def authorise(self, payload: Payload) -> Ed25519PublicKey:
        """The key that must have signed ``payload``, once its feed may write it at all."""
        spec = self.feed(payload.feed)
        key = spec.key_at(payload.seq)
        if not self.may_write(payload.feed, payload.kind):
            raise KindNotAllowed(
                f"feed {payload.feed}: expected one of the kinds "
                f"{', '.join(sorted(k.value for k in spec.kinds))}, found {payload.kind.value}",
                payload.kind,
            )
        if payload.kind in (Kind.COMMISSION, Kind.PRODUCT):
            org = self.organisations[spec.org]
            gtin = payload.body.get("gtin")
            try:
                own = isinstance(gtin, str) and gtin_in_prefixes(gtin, org.company_prefixes)
            except IdentifierError as exc:
                raise MalformedEntry(f"{payload.kind.value} body: {exc}") from None
            if not own:
                raise GtinOutsidePrefixes(
                    f"feed {payload.feed}: expected a GTIN under the company prefixes "
                    f"{list(org.company_prefixes)}, found {gtin!r}",
                    gtin if isinstance(gtin, str) else None,
                )
        return key

    def witnesses(self) -> WitnessPolicy:
        """The witness policy in force: the document's, or the default when it names none."""
        return self.witness_policy or default_policy(self.organisations)

    def with_witness_policy(self, policy: WitnessPolicy | None) -> Membership:
        """The next version with ``policy`` (``None``: back to the default)."""
        if policy is not None:
            policy.check(self.organisations)
        return self.next_version(witness_policy=policy)

    def foreign_root_for_genesis(self, genesis_id: str) -> ForeignRoot | None:
        """The foreign root pinning ``genesis_id``, if this version pins it."""
        return next((r for r in self.foreign_roots if r.genesis == genesis_id), None)

    def foreign_root_for_gtin(self, gtin: str) -> ForeignRoot | None:
        """The foreign root answering for ``gtin`` by its company prefix (at most one: prefixes
        never overlap); ``None`` for a GTIN of this consortium or of no pinned one. A malformed
        GTIN is an ``IdentifierError``."""
        return next((r for r in self.foreign_roots if r.answers_for(gtin)), None)

    def with_foreign_root(self, root: ForeignRoot) -> Membership:
        """The next version pinning ``root`` (replacing a root of the same genesis: a changed
        endpoint, name or prefixes)."""
        roots = {r.genesis: r for r in self.foreign_roots} | {root.genesis: root}
        return self._with_roots(tuple(roots[g] for g in sorted(roots)))

    def without_foreign_root(self, genesis_id: str) -> Membership:
        """The next version no longer trusting the consortium of ``genesis_id``."""
        if self.foreign_root_for_genesis(genesis_id) is None:
            raise MembershipError(
                f"expected a pinned foreign root, found no root with genesis {genesis_id!r}"
            )
        return self._with_roots(tuple(r for r in self.foreign_roots if r.genesis != genesis_id))

    def _with_roots(self, roots: tuple[ForeignRoot, ...]) -> Membership:
        check_foreign_roots(roots, _own_prefixes(self.organisations))
        return self.next_version(foreign_roots=roots)

    # -- encoding ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        optional: dict[str, Any] = {}
        if self.witness_policy is not None:
            optional["witness_policy"] = self.witness_policy.to_json()
        if self.foreign_roots:
            optional["foreign_roots"] = [r.to_json() for r in self.foreign_roots]
        return optional | {
            "type": DOC_TYPE,
            "consortium": self.consortium,
            "version": self.version,
            "previous": self.previous,
            "governance": {
                "threshold": self.threshold,
                "keys": {name: b64(pub) for name, pub in sorted(self.governance.items())},
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
                                    "public": b64(k.public),
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
                "expected a membership document, found a malformed one: "
                + (f"member {exc} missing" if isinstance(exc, KeyError) else str(exc))
            ) from None

    # -- evolution (each returns the next version, unsigned) -----------------------------------
    def next_version(self, **changes: Any) -> Membership:
        return replace(self, version=self.version + 1, previous=self.id, **changes)

    def with_organisation(self, org: Organisation) -> Membership:
        """The next version, listing ``org`` too.

        A new organisation's GLN must carry the right check digit. Reading a document
        (``from_json``) checks only the 13-digit shape: versions signed before check digits
        were checked must still verify (docs/spec/membership.md, "GLNs")."""
        try:
            check_gln(org.gln)
        except IdentifierError as exc:
            raise MembershipError(f"organisation {org.id}: {exc}") from None
        if org.id in self.organisations:
            raise MembershipError(
                f"expected a new organisation id, found {org.id!r} already listed"
            )
        organisations = {**self.organisations, org.id: org}
        check_foreign_roots(self.foreign_roots, _own_prefixes(organisations))
        return self.next_version(organisations=organisations)

    def without_organisation(self, org_id: str, feed_sizes: Mapping[str, int]) -> Membership:
        """Revoke every feed of ``org_id`` from the positions in ``feed_sizes`` (default 0)."""
        org = self._org(org_id)
        feeds = {fid: close_keys(spec, feed_sizes.get(fid, 0)) for fid, spec in org.feeds.items()}
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
        return self._replace_feed(close_keys(self.feed(feed_id), from_seq))

    def rotate_feed_key(self, feed_id: str, public: bytes, from_seq: int) -> Membership:
        spec = close_keys(self.feed(feed_id), from_seq)
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


def _membership_from_json(obj: Any) -> Membership:
    if obj.get("type") != DOC_TYPE:
        raise MembershipError(f"expected type {DOC_TYPE!r}, found {obj.get('type')!r}")
    gov = obj["governance"]
    governance = {
        str(name): public_key_bytes(pub, f"governance key {name}")
        for name, pub in gov["keys"].items()
    }
    threshold = gov["threshold"]
    if not (type(threshold) is int and 1 <= threshold <= len(governance)):
        raise MembershipError(
            f"expected a threshold between 1 and {len(governance)} governance keys, found {threshold!r}"
        )
    organisations = {
        org_id: _organisation_from_json(org_id, raw) for org_id, raw in obj["organisations"].items()
    }
    policy = None
    if "witness_policy" in obj:
        policy = policy_from_json(obj["witness_policy"])
        policy.check(organisations)
    roots: tuple[ForeignRoot, ...] = ()
    if "foreign_roots" in obj:
        raw_roots = obj["foreign_roots"]
        if not (isinstance(raw_roots, list) and raw_roots):
            raise MembershipError("foreign_roots: expected a non-empty list when present")
        roots = tuple(foreign_root_from_json(raw) for raw in raw_roots)
        check_foreign_roots(roots, _own_prefixes(organisations))
    return Membership(
        consortium=str(obj["consortium"]),
        version=_whole(obj["version"], "version"),
        previous=obj["previous"],
        threshold=threshold,
        governance=governance,
        organisations=organisations,
        witness_policy=policy,
        foreign_roots=roots,
    )


def _own_prefixes(organisations: Mapping[str, Organisation]) -> dict[str, tuple[str, ...]]:
    return {org.id: org.company_prefixes for org in organisations.values()}


def _whole(value: Any, what: str) -> int:
    """A version or feed position: a JSON integer, never text (``int`` reads other scripts'
    digits as numbers too)."""
    if type(value) is not int or value < 0:
        raise MembershipError(f"expected a non-negative integer {what}, found {value!r}")
    return value


def _organisation_from_json(org_id: str, raw: Any) -> Organisation:
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
                public_key_bytes(k["public"], f"key of {feed_id}"),
                _whole(k["from_seq"], f"from_seq of a key of {feed_id}"),
                None
                if k["until_seq"] is None
                else _whole(k["until_seq"], f"until_seq of a key of {feed_id}"),
            )
            for k in fraw["keys"]
        )
        feeds[feed_id] = FeedSpec(feed_id, kinds, keys)
    return Organisation(org_id, str(raw["name"]), role, raw["gln"], prefixes, feeds)


def genesis(
    consortium: str,
    governance: Mapping[str, bytes],
    threshold: int,
    organisations: Iterable[Organisation] = (),
) -> Membership:
    orgs = {org.id: org for org in organisations}
    membership = Membership(consortium, 1, None, threshold, dict(governance), orgs)
    return Membership.from_json(membership.to_json())  # validates what a reader would validate
