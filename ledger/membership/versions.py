"""Signed membership versions, and the chain that accepts each only after the one before.

Versions chain like The Update Framework's root metadata: version N+1 names the id of N and is
valid only when signed by the governance threshold of N *and* of N+1, so neither the old nor the
new governance alone can rewrite the consortium. Nodes pin the genesis id and walk forward.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.canonical import parse_canonical
from ledger.errors import MalformedEntry, MembershipChainError, MembershipError, ThresholdNotMet
from ledger.membership.document import Membership
from ledger.membership.keys import b64, unb64

MEMBERSHIP_DOMAIN = b"medtrace/membership/v1\x00"


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
            "membership": b64(self.doc_bytes),
            "signatures": {name: b64(sig) for name, sig in sorted(self.signatures.items())},
        }

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> SignedMembership:
        try:
            doc_bytes = unb64(obj["membership"], "membership")
            signatures = {str(k): unb64(v, f"signature {k}") for k, v in obj["signatures"].items()}
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
