"""C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint) and Ed25519 cosignatures
(https://c2sp.org/tlog-cosignature, signature type 0x04).

A checkpoint is a signed note whose text is the origin, the tree size (ASCII decimal, no
leading zero), the base64 root hash, then optional non-empty extension lines. A cosignature is
a note signature whose bytes are ``u64 timestamp || Ed25519 signature`` over
``"cosignature/v1\\ntime <t>\\n" + checkpoint text``. Nothing here reads a clock: the
cosigner is handed its time.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.merkle import HASH_SIZE
from ledger.notes import (
    COSIGNATURE_V1,
    ED25519,
    Check,
    NoteError,
    NoteMalformed,
    OpenedNote,
    Signer,
    Verifier,
    open_note,
    parse_note,
    raw_public_key,
    signature_line,
)

_SIZE = re.compile(r"\A(?:0|[1-9][0-9]*)\Z")
MAX_TIMESTAMP = 2**63 - 1


class CheckpointInvalid(NoteError):
    """A note text that is not a well-formed checkpoint, or not the one expected."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointInvalid(f"expected a non-empty origin line, found {self.origin!r}")
        if not 0 <= self.size < 2**64:
            raise CheckpointInvalid(f"expected a tree size from 0 to 2^64-1, found {self.size}")
        if len(self.root) != HASH_SIZE:
            raise CheckpointInvalid(
                f"expected a {HASH_SIZE}-byte root hash, found {len(self.root)} bytes"
            )
        for line in self.extensions:
            if not line or "\n" in line:
                raise CheckpointInvalid(f"expected non-empty extension lines, found {line!r}")

    def text(self) -> str:
        """The note text: origin, size, base64 root, extensions, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in [*lines, *self.extensions])


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note text holds; strict about the size and the root's spelling."""
    if not text.endswith("\n"):
        raise CheckpointInvalid("expected a checkpoint text ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointInvalid(f"expected at least 3 lines in a checkpoint, found {len(lines)}")
    origin, size, root, *extensions = lines
    if not _SIZE.match(size):
        raise CheckpointInvalid(
            f"expected a tree size in ASCII decimal with no leading zero, found {size!r}"
        )
    try:
        raw = base64.b64decode(root, validate=True)
    except ValueError:
        raise CheckpointInvalid(f"expected a base64 root hash, found {root!r}") from None
    if base64.b64encode(raw).decode() != root:
        raise CheckpointInvalid(f"expected a canonical base64 root hash, found {root!r}")
    return Checkpoint(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The checkpoint as a note signed by the log; the key name must be the origin."""
    if signer.name != checkpoint.origin:
        raise CheckpointInvalid(
            f"expected the log key to be named after the origin {checkpoint.origin!r}, "
            f"found {signer.name!r}"
        )
    text = checkpoint.text()
    return (text + "\n" + signer.signature_line(text)).encode()


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosigner signs: ``cosignature/v1``, ``time <t>``, then the checkpoint text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class Cosigner:
    """A witness key: signs checkpoints it has checked, with the time it is handed."""

    name: str
    key: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, COSIGNATURE_V1, raw_public_key(self.key.public_key()))

    def cosignature_line(self, checkpoint: Checkpoint, timestamp: int) -> str:
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise CheckpointInvalid(f"expected a timestamp from 0 to 2^63-1, found {timestamp}")
        signature = self.key.sign(cosigned_message(checkpoint.text(), timestamp))
        raw = timestamp.to_bytes(8, "big") + signature
        return signature_line(self.name, self.verifier.key_id, raw)


def cosign(note: bytes, cosigner: Cosigner, timestamp: int) -> bytes:
    """``note`` (a signed checkpoint) with the cosigner's line added after its signatures.

    The caller has verified the checkpoint and its consistency with what the witness saw."""
    line = cosigner.cosignature_line(parse_checkpoint(parse_note(note).text), timestamp)
    return note + line.encode()


def _cosignature(verifier: Verifier, text: str, signature: bytes) -> bool:
    if len(signature) != 8 + 64:
        return False
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        return False
    return verifier.verify(cosigned_message(text, timestamp), signature[8:])


COSIGNATURE_CHECKS: dict[int, Check] = {COSIGNATURE_V1: _cosignature}


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    checkpoint: Checkpoint
    note: OpenedNote
    cosigned_at: dict[str, int]  # verified cosigner label -> its timestamp


def open_checkpoint(
    data: bytes,
    log: Verifier,
    witnesses: Iterable[Verifier] = (),
    *,
    quorum: int = 0,
) -> VerifiedCheckpoint:
    """Verify a checkpoint note: signed by ``log`` (named after the origin), cosigned by at
    least ``quorum`` of ``witnesses``. Unknown signatures are ignored, a bad known one refuses."""
    if log.signature_type != ED25519:
        raise CheckpointInvalid(f"expected an Ed25519 (0x01) log key, found {log.vkey()}")
    witnesses = tuple(witnesses)
    opened = open_note(data, (log, *witnesses), COSIGNATURE_CHECKS)
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != log.name:
        raise CheckpointInvalid(
            f"expected a checkpoint of origin {log.name!r}, found {checkpoint.origin!r}"
        )
    labels = {s.label for s in opened.verified}
    if log.label not in labels:
        raise CheckpointInvalid(
            f"expected a signature by the log key {log.label}, found only {sorted(labels)}"
        )
    cosigned = {
        s.label: int.from_bytes(s.signature[:8], "big")
        for s in opened.verified
        if s.label in {w.label for w in witnesses if w.signature_type == COSIGNATURE_V1}
    }
    if len(cosigned) < quorum:
        raise CheckpointInvalid(
            f"expected cosignatures by at least {quorum} known witnesses, found {len(cosigned)}"
            f" ({', '.join(sorted(cosigned)) or 'none'})"
        )
    return VerifiedCheckpoint(checkpoint, opened, cosigned)


__all__ = [
    "Checkpoint",
    "CheckpointInvalid",
    "Cosigner",
    "NoteMalformed",
    "VerifiedCheckpoint",
    "cosign",
    "cosigned_message",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]
