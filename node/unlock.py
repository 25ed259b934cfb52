"""Unlocking a node: its passphrase and its feed key, checked against the membership.

A passphrase given in ``$MEDTRACE_PASSPHRASE`` would stay readable in ``/proc/PID/environ`` of
the node's master and of every worker it forks, however often ``os.environ`` is changed: that
file shows the environment the process was started with. So ``medtrace node run`` starts itself
again once without the variable (``medtrace/serve/run.py``), handing the passphrase over through
an inherited pipe named by ``$MEDTRACE_PASSPHRASE_FD`` (``passphrase_handover``), which
``resolve_node_passphrase`` reads once and closes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.keystore import (
    PASSPHRASE_ENV,
    KeyStoreError,
    load_private_key,
    public_bytes,
    read_passphrase_file,
)
from ledger.digits import ascii_int
from ledger.errors import LedgerError
from ledger.membership import Membership
from node.config import KEY_FILE, NodeConfig

PASSPHRASE_FILE = "passphrase"  # noqa: S105 (a file name)
#: The variable naming the file descriptor a passphrase is handed over through.
PASSPHRASE_FD_ENV = "MEDTRACE_PASSPHRASE_FD"  # noqa: S105 (the name of the variable)
#: Bytes read from that pipe at most: a passphrase is a line, not a file.
_MAX_HANDED = 64 * 1024


class AppError(Exception):
    """The node cannot start: configuration, passphrase, key or store."""


def passphrase_handover(passphrase: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without ``$MEDTRACE_PASSPHRASE``, and with ``$MEDTRACE_PASSPHRASE_FD`` naming
    an inheritable pipe that holds ``passphrase``: the environment to exec the node with."""
    data = passphrase.encode("utf-8")
    if len(data) > _MAX_HANDED:
        raise AppError(f"expected a passphrase of at most {_MAX_HANDED} bytes, found a longer one")
    read_end, write_end = os.pipe()  # a pipe holds 64 KiB before a write blocks
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    finally:
        os.close(write_end)
    os.set_inheritable(read_end, True)
    child = {name: value for name, value in environ.items() if name != PASSPHRASE_ENV}
    child[PASSPHRASE_FD_ENV] = str(read_end)
    return child


def _handed_passphrase() -> str | None:
    """The passphrase handed over by ``passphrase_handover``: read once, the pipe closed, the
    variable removed."""
    named = os.environ.pop(PASSPHRASE_FD_ENV, None)
    if named is None:
        return None
    fd = ascii_int(named)
    if fd is None or fd < 0:
        raise AppError(f"${PASSPHRASE_FD_ENV}: expected a file descriptor number, found {named!r}")
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, _MAX_HANDED + 1):
            chunks.append(chunk)
            if sum(map(len, chunks)) > _MAX_HANDED:
                raise AppError(f"${PASSPHRASE_FD_ENV}: expected a passphrase, found more")
    except OSError as exc:
        raise AppError(
            f"${PASSPHRASE_FD_ENV}: expected a pipe holding the passphrase, found an error: "
            f"{exc.strerror}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise AppError(f"${PASSPHRASE_FD_ENV}: expected a UTF-8 passphrase") from None


def _read_passphrase_file(path: Path) -> str:
    try:
        return read_passphrase_file(path, private=True).decode("utf-8")
    except KeyStoreError as exc:
        raise AppError(str(exc)) from None
    except UnicodeDecodeError:
        raise AppError(f"{path}: expected a UTF-8 passphrase") from None


def resolve_node_passphrase(data: Path, passphrase: str | None = None) -> str:
    """The argument, else the one handed over (``$MEDTRACE_PASSPHRASE_FD``), else
    ``$MEDTRACE_PASSPHRASE``, else ``DATA/passphrase`` (demo nodes)."""
    handed = _handed_passphrase()  # read and closed even when the argument wins
    if passphrase:
        return passphrase
    if handed:
        return handed
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    path = data / PASSPHRASE_FILE
    if path.exists():
        return _read_passphrase_file(path)
    raise AppError(
        f"expected the passphrase of {data / KEY_FILE}: set ${PASSPHRASE_ENV} "
        f"(or, for a demo node, write it to {path} with mode 0600)"
    )


def load_feed_key(
    data: Path, config: NodeConfig, membership: Membership, passphrase: str, next_seq: int
) -> tuple[Ed25519PrivateKey, str | None]:
    """The feed key, checked against the membership; a warning if it may not sign now."""
    try:
        key = load_private_key(data / KEY_FILE, passphrase)
    except KeyStoreError as exc:
        raise AppError(str(exc)) from None
    try:
        spec = membership.feed(config.feed)
    except LedgerError as exc:
        raise AppError(f"{data / 'node.json'}: {exc}") from None
    public = public_bytes(key)
    listed = [k for k in spec.keys if k.public == public]
    if not listed:
        raise AppError(
            f"{data / KEY_FILE}: expected a key membership v{membership.version} lists for feed "
            f"{config.feed}, found another key"
        )
    if not any(k.covers(next_seq) for k in listed):
        return key, (
            f"the key of feed {config.feed} is not valid at seq {next_seq} (rotated or revoked): "
            "this node serves and replicates, but every write will be refused"
        )
    return key, None
