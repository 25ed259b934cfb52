"""A new consortium directory: its governance keys, TLS CA and genesis membership (v1).

The genesis is signed and verified before anything is written, and the directory must be empty
(or absent) twice: once before the passphrase is asked for, again under the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.consortium.arguments import check_name
from keys.consortium.key_files import governance_key_path
from keys.consortium.layout import (
    FEEDS_DIR,
    GOVERNANCE_DIR,
    LOCK_FILE,
    MEMBERSHIP_DIR,
    ConsortiumError,
    ConsortiumPin,
    as_read,
    locked,
    write_version_file,
)
from keys.keystore import ensure_private_dir, generate_key, public_bytes, write_private_key
from keys.tls import create_ca
from ledger.membership import MembershipChain, SignedMembership, genesis, sign_membership


def check_genesis_request(name: str, governance: Sequence[str], threshold: int) -> list[str]:
    """The governance key names, once the name, names and threshold are fit for a genesis."""
    if not isinstance(name, str) or not name.strip():
        raise ConsortiumError(f"expected a non-empty consortium name, found {name!r}")
    names = [check_name(n, "governance key name") for n in governance]
    if not names or len(set(names)) != len(names):
        raise ConsortiumError(f"expected one or more distinct governance key names, found {names}")
    if type(threshold) is not int or not 1 <= threshold <= len(names):
        raise ConsortiumError(
            f"expected a threshold between 1 and {len(names)} (the number of governance "
            f"keys), found {threshold!r}"
        )
    return names


def require_empty_dir(path: Path, allow: frozenset[str] | set[str] = frozenset()) -> None:
    try:
        in_use = path.exists() and (
            not path.is_dir() or any(p.name not in allow for p in path.iterdir())
        )
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot inspect the directory: {exc.strerror}") from None
    if in_use:
        raise ConsortiumError(
            f"{path}: expected an empty or absent directory for a new consortium, found one in use"
        )


def sign_genesis(
    name: str, names: Sequence[str], threshold: int
) -> tuple[dict[str, Ed25519PrivateKey], SignedMembership]:
    """New governance keys ``names`` and the genesis they sign, verified as a reader would."""
    keys = {n: generate_key() for n in names}
    doc = genesis(name, {n: public_bytes(k) for n, k in keys.items()}, threshold)
    signed = as_read(sign_membership(doc, keys))
    MembershipChain(signed, signed.id)
    return keys, signed


def write_genesis(
    path: Path,
    name: str,
    keys: dict[str, Ed25519PrivateKey],
    signed: SignedMembership,
    secret: bytes,
) -> None:
    """Lay out the new directory ``path``: keys, TLS CA, ``v0001.json``, then the pin."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot create the directory: {exc.strerror}") from None
    with locked(path):
        require_empty_dir(path, allow={LOCK_FILE})
        ensure_private_dir(path / GOVERNANCE_DIR)
        ensure_private_dir(path / FEEDS_DIR)
        try:
            (path / MEMBERSHIP_DIR).mkdir()
        except OSError as exc:
            raise ConsortiumError(
                f"{path / MEMBERSHIP_DIR}: cannot create: {exc.strerror}"
            ) from None
        for n, key in keys.items():
            write_private_key(governance_key_path(path, n), key, secret)
        create_ca(path, name, secret)
        write_version_file(path, signed)
        ConsortiumPin(name, signed.id, 1).write(path)


__all__ = ["check_genesis_request", "require_empty_dir", "sign_genesis", "write_genesis"]
