"""The witness policy of a membership: who cosigns the feeds' checkpoints, how many cosignatures
a reader requires, and how old the newest of them may be (ADR 0018, docs/spec/membership.md).

The field is optional. A document without it (every version signed before issue 14) keeps its
bytes and id, and means the default: every organisation is a witness with its nodes' feed keys,
one cosignature is needed, the newest may be an hour old. A writer never witnesses its own feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.errors import MembershipError
from ledger.membership.keys import b64, public_key_bytes

#: What a document without ``witness_policy`` means.
DEFAULT_QUORUM = 1
DEFAULT_MAX_AGE_S = 3600
_FIELDS = {"max_age_s", "quorum", "witnesses"}


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """``witnesses``: organisation id -> a listed witness key (raw Ed25519 public key), or
    ``None`` for the current keys of the organisation's feeds (its nodes' keys)."""

    witnesses: Mapping[str, bytes | None]
    quorum: int = DEFAULT_QUORUM
    max_age_s: int = DEFAULT_MAX_AGE_S

    def to_json(self) -> dict[str, Any]:
        return {
            "max_age_s": self.max_age_s,
            "quorum": self.quorum,
            "witnesses": {
                org: (None if key is None else b64(key))
                for org, key in sorted(self.witnesses.items())
            },
        }

    def check(self, organisations: Mapping[str, object]) -> None:
        """Refuse a policy naming an organisation not listed, or out-of-range numbers."""
        unknown = sorted(set(self.witnesses) - set(organisations))
        if unknown:
            raise MembershipError(
                f"witness_policy: expected listed organisations as witnesses, found {unknown}"
            )
        if not (type(self.quorum) is int and 1 <= self.quorum <= max(1, len(self.witnesses))):
            raise MembershipError(
                f"witness_policy: expected a quorum from 1 to {len(self.witnesses)} witnesses, "
                f"found {self.quorum!r}"
            )
        if not (type(self.max_age_s) is int and self.max_age_s >= 1):
            raise MembershipError(
                f"witness_policy: expected max_age_s a whole number of seconds >= 1, "
                f"found {self.max_age_s!r}"
            )
        if not self.witnesses:
            raise MembershipError("witness_policy: expected at least one witness, found none")


def default_policy(organisations: Mapping[str, object]) -> WitnessPolicy:
    """What a document without the field means: every organisation with its nodes' keys."""
    return WitnessPolicy({org: None for org in organisations}, DEFAULT_QUORUM, DEFAULT_MAX_AGE_S)


def policy_from_json(raw: Any) -> WitnessPolicy:
    if not isinstance(raw, dict) or set(raw) != _FIELDS:
        raise MembershipError(
            f"witness_policy: expected an object with {sorted(_FIELDS)}, found {raw!r}"
        )
    witnesses = raw["witnesses"]
    if not isinstance(witnesses, dict):
        raise MembershipError(
            f"witness_policy: expected witnesses as an object, found {witnesses!r}"
        )
    keys = {
        str(org): None if key is None else public_key_bytes(key, f"witness key of {org}")
        for org, key in witnesses.items()
    }
    return WitnessPolicy(keys, raw["quorum"], raw["max_age_s"])


__all__ = [
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_QUORUM",
    "WitnessPolicy",
    "default_policy",
    "policy_from_json",
]
