"""Signing a proposed membership version with the governance keys a consortium directory holds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from keys.consortium.key_files import governance_key_path, load_listed_key
from keys.consortium.layout import ConsortiumError
from ledger.membership import Membership, SignedMembership, sign_membership


def _signer_names(
    directory: Path, current: Membership, proposed: Membership, sign_with: Iterable[str] | None
) -> list[str]:
    # A proposal may add governance keys; their holders may sign it too.
    listed = sorted(set(current.governance) | set(proposed.governance))
    if sign_with is None:
        return [n for n in listed if governance_key_path(directory, n).exists()]
    names = list(dict.fromkeys(sign_with))
    unknown = sorted(set(names) - set(listed))
    if unknown:
        raise ConsortiumError(
            f"expected governance key names from {listed}, found unknown {unknown}"
        )
    return names


def sign_with_governance(
    directory: Path,
    current: Membership,
    proposed: Membership,
    secret: bytes,
    sign_with: Iterable[str] | None,
) -> SignedMembership:
    """``proposed`` signed by the keys ``sign_with`` of ``directory`` (default: every one held).

    Each key must be the one ``current`` lists under its name, or for a new name ``proposed``.
    """
    keys = {}
    for name in _signer_names(directory, current, proposed, sign_with):
        expected = current.governance.get(name) or proposed.governance[name]
        path = governance_key_path(directory, name)
        keys[name] = load_listed_key(path, secret, expected, f"governance key {name}")
    return sign_membership(proposed, keys)


__all__ = ["sign_with_governance"]
