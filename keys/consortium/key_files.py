"""The private key files of a consortium directory: where they live, and how new ones arrive.

A new feed key is written under a staged name (``<site>.pending-vNNNN.key``) and moved to its
final name only once its membership version is published, so that a key file at a final name is
always one that a published version lists. A rotation keeps the replaced key file as
``<site>.retired-vNNNN.key`` (NNNN: the version that retired it); all these names end in ``.key``
so that the ``*.key`` rule of .gitignore covers them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.consortium.arguments import check_name, split_feed_id
from keys.consortium.layout import FEEDS_DIR, GOVERNANCE_DIR, ConsortiumError
from keys.keystore import (
    KeyStoreError,
    fingerprint,
    generate_key,
    load_private_key,
    move_no_clobber,
    public_bytes,
)
from ledger.membership import Membership


def governance_key_path(directory: Path, name: str) -> Path:
    return directory / GOVERNANCE_DIR / f"{check_name(name, 'governance key name')}.key"


def feed_key_path(directory: Path, feed_id: str) -> Path:
    org, site = split_feed_id(feed_id)
    return directory / FEEDS_DIR / org / f"{site}.key"


def retired_key_paths(directory: Path, feed_id: str) -> list[Path]:
    org, site = split_feed_id(feed_id)
    return sorted((directory / FEEDS_DIR / org).glob(f"{site}.retired-v*.key"))


def load_listed_key(path: Path, secret: bytes, expected: bytes, what: str) -> Ed25519PrivateKey:
    """The key in ``path``, which must be the one membership lists (``expected``)."""
    key = load_private_key(path, secret)
    found = public_bytes(key)
    if found != expected:
        raise ConsortiumError(
            f"{path}: expected {what} (fingerprint {fingerprint(expected)}), found a key with "
            f"fingerprint {fingerprint(found)}"
        )
    return key


# -- new feed keys -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagedKey:
    """A generated key, staged under ``staged`` until its version is published."""

    final: Path
    staged: Path
    key: Ed25519PrivateKey
    retire_to: Path | None = None


#: The next membership built from the current one, with the feed keys it lists for the first time.
MembershipChange = Callable[[Membership], tuple[Membership, list[StagedKey]]]


def stage_feed_key(
    directory: Path, feed_id: str, version: int, *, replacing: bool = False
) -> StagedKey:
    """A new key for ``feed_id`` in membership ``version``, not yet written.

    ``replacing``: the current key file will be kept as ``<site>.retired-vNNNN.key``.
    """
    final = feed_key_path(directory, feed_id)
    if not replacing and final.exists():
        raise ConsortiumError(
            f"{final}: expected no key file for the new feed {feed_id}, found one "
            "(left from an earlier attempt? move it away)"
        )
    tag = f"v{version:04d}"
    return StagedKey(
        final=final,
        staged=final.with_name(f"{final.stem}.pending-{tag}.key"),
        key=generate_key(),
        retire_to=final.with_name(f"{final.stem}.retired-{tag}.key") if replacing else None,
    )


def require_free_final_names(new_keys: Sequence[StagedKey]) -> None:
    for new in new_keys:
        if new.retire_to is None and new.final.exists():
            raise ConsortiumError(f"{new.final}: expected no key file there, found one")


def move_staged_keys_into_place(new_keys: Sequence[StagedKey], version: int) -> None:
    """After version ``version`` is published: retire replaced key files, then unstage new ones."""
    try:
        for new in new_keys:
            if new.retire_to is not None and new.final.exists():
                move_no_clobber(new.final, new.retire_to)
            move_no_clobber(new.staged, new.final)
    except KeyStoreError as exc:
        raise ConsortiumError(
            f"membership v{version} is published, but its key files could not be put in "
            f"place ({exc}); the new keys are in {[str(n.staged) for n in new_keys]}"
        ) from None


def confirm_keys_in_place(new_keys: Sequence[StagedKey], secret: bytes) -> None:
    """Each final key file decrypts to the key that was generated for it."""
    for new in new_keys:
        public = public_bytes(load_private_key(new.final, secret))
        if public != public_bytes(new.key):
            raise ConsortiumError(f"{new.final}: expected the key just written, found another")


__all__ = [
    "MembershipChange",
    "StagedKey",
    "confirm_keys_in_place",
    "feed_key_path",
    "governance_key_path",
    "load_listed_key",
    "move_staged_keys_into_place",
    "require_free_final_names",
    "retired_key_paths",
    "stage_feed_key",
]
