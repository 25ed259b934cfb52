"""Membership changes that add or revoke a whole organisation.

Each function checks its arguments at once (before any passphrase is asked for) and returns the
change, which ``Consortium`` applies under the directory lock to the version current then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from keys.consortium.arguments import check_name, check_seq, parse_role
from keys.consortium.key_files import MembershipChange, StagedKey, stage_feed_key
from keys.consortium.layout import ConsortiumError
from keys.keystore import public_bytes
from ledger.errors import IdentifierError, MembershipError
from ledger.identifiers import check_gln
from ledger.kinds import Role
from ledger.membership import Membership, organisation


def add_organisation_change(
    directory: Path,
    org_id: str,
    *,
    name: str,
    role: Role | str,
    gln: str,
    company_prefixes: Iterable[str],
    feeds: Iterable[str],
) -> MembershipChange:
    """Add organisation ``org_id`` with a new key for each feed site in ``feeds``."""
    check_name(org_id, "organisation id")
    if not isinstance(name, str) or not name.strip():
        raise ConsortiumError(f"expected a non-empty organisation name, found {name!r}")
    try:
        check_gln(gln)
    except IdentifierError as exc:
        raise MembershipError(f"organisation {org_id}: {exc}") from None
    the_role = parse_role(role)
    sites = [check_name(s, "feed site name") for s in feeds]
    if len(set(sites)) != len(sites):
        raise ConsortiumError(f"expected distinct feed site names, found {sites}")

    def build(current: Membership) -> tuple[Membership, list[StagedKey]]:
        new = [stage_feed_key(directory, f"{org_id}/{s}", current.version + 1) for s in sites]
        org = organisation(
            org_id,
            name=name,
            role=the_role,
            gln=gln,
            company_prefixes=tuple(company_prefixes),
            feeds={f"{org_id}/{s}": public_bytes(k.key) for s, k in zip(sites, new, strict=True)},
        )
        return current.with_organisation(org), new

    return build


def revoke_organisation_change(org_id: str, feed_sizes: Mapping[str, int]) -> MembershipChange:
    """Revoke every feed of ``org_id``, each from its position in ``feed_sizes``.

    Every feed must be named, and only those: ``Membership.without_organisation`` would revoke an
    unnamed feed from 0, so a mistyped feed id must be an error rather than a silent revocation.
    """
    check_name(org_id, "organisation id")
    for seq in feed_sizes.values():
        check_seq(seq)

    def build(current: Membership) -> tuple[Membership, list[StagedKey]]:
        org = current.organisations.get(org_id)
        if org is None:
            raise MembershipError(f"expected a listed organisation, found {org_id!r}")
        missing = sorted(set(org.feeds) - set(feed_sizes))
        unknown = sorted(set(feed_sizes) - set(org.feeds))
        if missing or unknown:
            raise ConsortiumError(
                f"organisation {org_id}: expected a revocation position for exactly its feeds "
                f"{sorted(org.feeds)}, found missing {missing} and unknown {unknown}"
            )
        return current.without_organisation(org_id, feed_sizes), []

    return build


__all__ = ["add_organisation_change", "revoke_organisation_change"]
