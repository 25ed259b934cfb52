"""Membership changes to one feed: add it with a new key, revoke it, rotate its key.

Each function checks its arguments at once (before any passphrase is asked for) and returns the
change, which ``Consortium`` applies under the directory lock to the version current then.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from keys.consortium.arguments import check_name, check_seq, parse_kind, split_feed_id
from keys.consortium.key_files import MembershipChange, StagedKey, stage_feed_key
from keys.keystore import public_bytes
from ledger.errors import MembershipError
from ledger.kinds import Kind
from ledger.membership import Membership


def add_feed_change(
    directory: Path, org_id: str, site: str, kinds: Iterable[Kind | str] | None
) -> MembershipChange:
    """Add feed ``org_id/site`` with a new key (kinds: all its role allows, unless given)."""
    check_name(org_id, "organisation id")
    feed_id = f"{org_id}/{check_name(site, 'feed site name')}"
    wanted = None if kinds is None else [parse_kind(k) for k in kinds]

    def build(current: Membership) -> tuple[Membership, list[StagedKey]]:
        new = stage_feed_key(directory, feed_id, current.version + 1)
        return current.with_feed(org_id, feed_id, public_bytes(new.key), wanted), [new]

    return build


def revoke_feed_change(feed_id: str, from_seq: int) -> MembershipChange:
    """No key of ``feed_id`` is valid from position ``from_seq`` on (entries before stay)."""
    _check_feed_position(feed_id, from_seq)
    return lambda current: (current.revoke_feed(feed_id, from_seq), [])


def rotate_feed_key_change(directory: Path, feed_id: str, from_seq: int) -> MembershipChange:
    """A new key for ``feed_id`` from ``from_seq``; the old one stays valid before it."""
    _check_feed_position(feed_id, from_seq)

    def build(current: Membership) -> tuple[Membership, list[StagedKey]]:
        latest = current.feed(feed_id).keys[-1]
        if from_seq < latest.from_seq:
            raise MembershipError(
                f"feed {feed_id}: expected a rotation position ≥ {latest.from_seq} (where its "
                f"current key starts), found {from_seq}"
            )
        new = stage_feed_key(directory, feed_id, current.version + 1, replacing=True)
        return current.rotate_feed_key(feed_id, public_bytes(new.key), from_seq), [new]

    return build


def _check_feed_position(feed_id: str, from_seq: int) -> None:
    split_feed_id(feed_id)
    check_seq(from_seq)


__all__ = ["add_feed_change", "revoke_feed_change", "rotate_feed_key_change"]
