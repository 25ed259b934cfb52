"""Who writes: member organisations, their feeds and the keys valid at each feed position.

Key validity is a range of feed positions, never a time, so an old entry stays verifiable after
a rotation and verification does not depend on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import KeyNotAuthorised, MembershipError
from ledger.kinds import ROLE_KINDS, Kind, Role
from ledger.membership.keys import load_public_key


@dataclass(frozen=True, slots=True)
class FeedKey:
    """A public key valid for the feed positions ``from_seq`` ≤ seq < ``until_seq``."""

    public: bytes
    from_seq: int = 0
    until_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return self.from_seq <= seq and (self.until_seq is None or seq < self.until_seq)


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
                return load_public_key(key.public)
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


def close_keys(spec: FeedSpec, at: int) -> FeedSpec:
    """``spec`` with every key still valid at position ``at`` closed there."""
    if at < 0:
        raise MembershipError(f"expected a non-negative feed position, found {at}")
    closed = []
    for key in spec.keys:
        still_open = key.until_seq is None or key.until_seq > at
        closed.append(replace(key, until_seq=max(at, key.from_seq)) if still_open else key)
    return replace(spec, keys=tuple(closed))


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    role: Role
    gln: str
    company_prefixes: tuple[str, ...] = ()
    feeds: Mapping[str, FeedSpec] = field(default_factory=dict)


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
