"""The files of a consortium directory and how they are read, written and locked.

::

    DIR/consortium.json          {"name": ..., "genesis_id": ..., "current_version": N}
    DIR/membership/v0001.json    SignedMembership.to_wire(), one file per version
    DIR/governance/<name>.key    encrypted PKCS#8, 0600 (directory 0700)
    DIR/feeds/<org>/<site>.key   encrypted PKCS#8, 0600 (directories 0700); feed id "<org>/<site>"
    DIR/feeds/<org>/<site>.retired-v0004.key   a key rotated away by v4, kept for audit
    DIR/tls/ca.key, DIR/tls/ca.crt   the TLS CA for node certificates (``keys.tls``)

The key files are ``keys.consortium.key_files``'s; this module keeps the public ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keys.keystore import KeyStoreError, atomic_write
from ledger.errors import MembershipChainError, MembershipError
from ledger.membership import MembershipChain, SignedMembership

CONSORTIUM_FILE = "consortium.json"
MEMBERSHIP_DIR = "membership"
GOVERNANCE_DIR = "governance"
FEEDS_DIR = "feeds"
LOCK_FILE = ".lock"
PUBLIC_FILE_MODE = 0o644

#: ASCII digits: ``v0002.json`` written in full-width digits is no version file, not a second v2.
_VERSION_FILE = re.compile(r"\Av([0-9]{4,})\.json\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_MAX_JSON_FILE = 16 * 1024 * 1024


class ConsortiumError(KeyStoreError):
    """The consortium directory is missing, malformed, or cannot be written as asked."""


def version_file_name(version: int) -> str:
    return f"v{version:04d}.json"


def _read_json(path: Path, what: str) -> Any:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_JSON_FILE + 1)
    except FileNotFoundError:
        raise ConsortiumError(f"{path}: expected {what}, found no file") from None
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > _MAX_JSON_FILE:
        raise ConsortiumError(f"{path}: expected {what} under {_MAX_JSON_FILE} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConsortiumError(f"{path}: expected {what} in JSON, found an error: {exc}") from None


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class ConsortiumPin:
    """``consortium.json``: the name, the genesis every version must chain to, the last version.

    ``current_version`` lets ``open`` notice a version file that was removed (a rollback).
    """

    name: str
    genesis_id: str
    current_version: int

    @classmethod
    def read(cls, directory: Path) -> ConsortiumPin:
        path = directory / CONSORTIUM_FILE
        obj = _read_json(path, "the consortium file")
        if not isinstance(obj, dict):
            raise ConsortiumError(f"{path}: expected a JSON object")
        name, gid, current = obj.get("name"), obj.get("genesis_id"), obj.get("current_version")
        if not isinstance(name, str) or not name:
            raise ConsortiumError(f"{path}: expected a non-empty string 'name', found {name!r}")
        if not isinstance(gid, str) or not _HEX64.match(gid):
            raise ConsortiumError(f"{path}: expected a 64-hex 'genesis_id', found {gid!r}")
        if type(current) is not int or current < 1:
            raise ConsortiumError(
                f"{path}: expected a positive integer 'current_version', found {current!r}"
            )
        return cls(name, gid, current)

    def write(self, directory: Path) -> None:
        data = {
            "name": self.name,
            "genesis_id": self.genesis_id,
            "current_version": self.current_version,
        }
        atomic_write(
            directory / CONSORTIUM_FILE, _json_bytes(data), mode=PUBLIC_FILE_MODE, overwrite=True
        )


# -- membership versions -------------------------------------------------------------------------


def read_version_file(path: Path) -> SignedMembership:
    """One ``membership/vNNNN.json``: parsed and checked for shape, not yet for signatures."""
    obj = _read_json(path, "a signed membership version")
    if not isinstance(obj, dict):
        raise MembershipError(f"{path}: expected a JSON object {{membership, signatures}}")
    try:
        signed = SignedMembership.from_wire(obj)
    except MembershipError as exc:
        raise MembershipError(f"{path}: {exc}") from None
    match = _VERSION_FILE.match(path.name)
    if match is None or int(match[1]) != signed.membership.version:
        raise MembershipChainError(
            f"{path}: expected a file named {version_file_name(signed.membership.version)} for "
            f"membership v{signed.membership.version}"
        )
    return signed


def write_version_file(directory: Path, signed: SignedMembership) -> None:
    """Write ``signed`` as its version file; an existing version is never overwritten."""
    atomic_write(
        directory / MEMBERSHIP_DIR / version_file_name(signed.membership.version),
        _json_bytes(signed.to_wire()),
        mode=PUBLIC_FILE_MODE,
        overwrite=False,
    )


def as_read(signed: SignedMembership) -> SignedMembership:
    """``signed`` as a reader gets it: through its wire form, so the reader's checks apply."""
    return SignedMembership.from_wire(json.loads(_json_bytes(signed.to_wire())))


def load_chain(directory: Path, genesis_id: str) -> MembershipChain:
    """Verify every ``membership/vNNNN.json`` of ``directory`` from the genesis ``genesis_id``."""
    found: dict[int, Path] = {}
    folder = directory / MEMBERSHIP_DIR
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        raise ConsortiumError(f"{folder}: expected the membership directory, found none") from None
    except OSError as exc:
        raise ConsortiumError(f"{folder}: cannot list: {exc.strerror}") from None
    for name in names:
        match = _VERSION_FILE.match(name)
        if match is not None:
            found[int(match[1])] = folder / name
    if 1 not in found:
        raise MembershipChainError(
            f"{folder}: expected the genesis version {version_file_name(1)}, found none"
        )
    chain = MembershipChain(read_version_file(found[1]), genesis_id)
    for version in sorted(found)[1:]:
        if version != chain.current.version + 1:
            raise MembershipChainError(
                f"{folder}: expected {version_file_name(chain.current.version + 1)} after "
                f"v{chain.current.version}, found {found[version].name} (a version is missing)"
            )
        chain.extend(read_version_file(found[version]))
    return chain


# -- writers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on the directory for the length of one change."""
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConsortiumError(f"{directory}: cannot take the lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


__all__ = [
    "CONSORTIUM_FILE",
    "FEEDS_DIR",
    "GOVERNANCE_DIR",
    "LOCK_FILE",
    "MEMBERSHIP_DIR",
    "PUBLIC_FILE_MODE",
    "ConsortiumError",
    "ConsortiumPin",
    "as_read",
    "load_chain",
    "locked",
    "read_version_file",
    "version_file_name",
    "write_version_file",
]
