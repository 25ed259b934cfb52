"""Publishing membership version N+1 into a consortium directory, with the feed keys it adds.

The caller holds the directory lock. The version is verified as a reader would verify it (from
its wire form, against the chain re-read from disk) before anything is written; its new key files
are written staged before the version file, and removed again if the version file cannot be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keys.consortium.key_files import (
    StagedKey,
    move_staged_keys_into_place,
    require_free_final_names,
)
from keys.consortium.layout import ConsortiumPin, as_read, load_chain, write_version_file
from keys.keystore import write_private_key
from ledger.errors import MembershipError
from ledger.membership import Membership, SignedMembership


def require_change(proposed: Membership, current: Membership) -> None:
    """Refuse a version that would only renumber ``current``: a no-op needs no signatures."""
    if _content(proposed) == _content(current):
        raise MembershipError(
            f"expected a change to membership v{current.version}, found none "
            "(already revoked from that position?)"
        )


def _content(membership: Membership) -> dict[str, Any]:
    doc = membership.to_json()
    del doc["version"], doc["previous"]
    return doc


def publish_version(
    directory: Path,
    pin: ConsortiumPin,
    signed: SignedMembership,
    new_keys: Sequence[StagedKey],
    secret: bytes,
) -> SignedMembership:
    """Verify ``signed`` as the version after ``pin``'s chain on disk, write it, and re-pin.

    Returns the version as read back from its wire form; the caller re-opens the directory.
    """
    candidate = as_read(signed)
    load_chain(directory, pin.genesis_id).extend(candidate)  # raises: nothing written
    require_free_final_names(new_keys)
    _write_with_staged_keys(directory, candidate, new_keys, secret)
    version = candidate.membership.version
    move_staged_keys_into_place(new_keys, version)
    ConsortiumPin(pin.name, pin.genesis_id, version).write(directory)
    return candidate


def _write_with_staged_keys(
    directory: Path, candidate: SignedMembership, new_keys: Sequence[StagedKey], secret: bytes
) -> None:
    staged: list[Path] = []
    try:
        for new in new_keys:
            write_private_key(new.staged, new.key, secret)
            staged.append(new.staged)
        write_version_file(directory, candidate)
    except BaseException:
        for path in staged:
            with contextlib.suppress(OSError):
                path.unlink()
        raise


__all__ = ["publish_version", "require_change"]
