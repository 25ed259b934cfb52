"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> <base64(key id || signature)>``. The key id is the first 4 bytes of
``SHA-256(name || 0x0A || type || public key)``; type 0x01 is Ed25519 over the text, 0x04 a
timestamped cosignature (``ledger.checkpoint``). Opening is strict the way golang.org/x/mod's
reference implementation is: a control character, invalid UTF-8, a missing blank line or
final newline, a bad name or base64, more than 100 signature lines: ``NoteMalformed``. Unknown
keys are ignored; a known key whose signature fails refuses the note; no verified signature
refuses it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import LedgerError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
_DASH = "\u2014 "


class NoteError(LedgerError):
    """A signed note that cannot be taken."""


class NoteMalformed(NoteError):
    """The bytes are not a well-formed signed note, verifier key or signature line."""


class NoteSignatureInvalid(NoteError):
    """A signature by a known key does not verify, or no known key signed the note."""


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A known key: its name, signature type and Ed25519 public key (``check`` by type)."""

    name: str
    signature_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise NoteMalformed(f"expected a key name without spaces or '+', found {self.name!r}")
        if self.signature_type not in (ED25519, COSIGNATURE_V1):
            raise NoteMalformed(
                f"expected signature type 0x01 or 0x04, found 0x{self.signature_type:02x}"
            )
        if len(self.public_key) != 32:
            raise NoteMalformed(
                f"expected a 32-byte Ed25519 public key, found {len(self.public_key)} bytes"
            )

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.signature_type, self.public_key)

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"

    def vkey(self) -> str:
        """``<name>+<hex key id>+<base64(type || public key)>``."""
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode()
        return f"{self.label}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_vkey(vkey: str) -> Verifier:
    """A verifier key ``<name>+<hex key id>+<base64(type || key)>``; its key id must match."""
    name, _, rest = vkey.partition("+")
    hex_id, _, material = rest.partition("+")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteMalformed(f"expected '<name>+<8 hex digits>+<base64 key>', found {vkey!r}")
    raw = _b64(material, "verifier key")
    if len(raw) != 33:
        raise NoteMalformed(f"expected a type byte and a 32-byte key, found {len(raw)} bytes")
    verifier = Verifier(name, raw[0], raw[1:])
    if verifier.key_id != int(hex_id, 16):
        raise NoteMalformed(
            f"expected key id {verifier.key_id:08x} for {name!r}, found {hex_id} in the vkey"
        )
    return verifier


@dataclass(frozen=True, slots=True)
class Signer:
    """A private Ed25519 key under a name, signing notes with type 0x01."""

    name: str
    key: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, ED25519, raw_public_key(self.key.public_key()))

    def signature_line(self, text: str) -> str:
        signature = self.key.sign(text.encode())
        return signature_line(self.name, self.verifier.key_id, signature)


def signature_line(name: str, kid: int, signature: bytes) -> str:
    encoded = base64.b64encode(kid.to_bytes(4, "big") + signature).decode()
    return f"{_DASH}{name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key name, key id and the signature bytes after the id."""

    name: str
    key_id: int
    signature: bytes
    line: str

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note: its text (final newline included) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line for s in self.signatures)).encode()


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A verified note: which known keys verified it and which signatures are unknown."""

    note: Note
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]

    @property
    def text(self) -> str:
        return self.note.text


def sign_note(text: str, signers: Iterable[Signer]) -> bytes:
    """``text`` (a note text: newline-terminated, no control characters) signed by each signer."""
    _check_text(text)
    lines = [signer.signature_line(text) for signer in signers]
    if not lines:
        raise NoteMalformed("expected at least one signer, found none")
    return (text + "\n" + "".join(lines)).encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteMalformed(f"expected a note text ending in a newline, found {text[-20:]!r}")
    bad = next((c for c in text if c < " " and c != "\n"), None)
    if bad is not None:
        raise NoteMalformed(f"expected no control characters but newline, found {bad!r}")


def _b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NoteMalformed(f"expected standard base64 for the {what}, found {value!r}") from None
    if base64.b64encode(raw).decode() != value:
        raise NoteMalformed(f"expected canonical base64 for the {what}, found {value!r}")
    return raw


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines; refuse what the spec refuses."""
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"malformed note: expected UTF-8, found {exc}") from None
    bad = next((c for c in whole if c < " " and c != "\n"), None)
    if bad is not None:
        raise NoteMalformed(f"malformed note: expected no control characters, found {bad!r}")
    split = whole.rfind("\n\n")
    if split < 0:
        raise NoteMalformed("malformed note: expected a blank line before the signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteMalformed("malformed note: expected signature lines ending in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteMalformed(
            f"malformed note: expected at most {MAX_SIGNATURES} signatures, found {len(lines)}"
        )
    return Note(text, tuple(_signature(line) for line in lines))


def _signature(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise NoteMalformed(f"malformed note: expected a signature line, found {line[:40]!r}")
    name, _, encoded = line[len(_DASH) :].partition(" ")
    if not valid_name(name) or not encoded:
        raise NoteMalformed(f"malformed note: expected '— <name> <base64>', found {line[:40]!r}")
    raw = _b64(encoded, f"signature of {name!r}")
    if len(raw) < 5:
        raise NoteMalformed(f"malformed note: expected a key id and a signature, found {raw!r}")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:], line + "\n")


Check = Callable[[Verifier, str, bytes], bool]


def _ed25519(verifier: Verifier, text: str, signature: bytes) -> bool:
    return verifier.verify(text.encode(), signature)


def open_note(
    data: bytes, known: Iterable[Verifier], checks: dict[int, Check] | None = None
) -> OpenedNote:
    """Parse and verify a note against ``known`` keys (matched by name and key id).

    ``checks`` maps a signature type to its check (Ed25519 over the text by default; the
    cosignature module adds type 0x04). Duplicate lines by one key count once.
    """
    note = parse_note(data)
    by_id = {(v.name, v.key_id): v for v in known}
    check_by_type: dict[int, Check] = {ED25519: _ed25519, **(checks or {})}
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = by_id.get((sig.name, sig.key_id))
        if verifier is None:
            if all(u.line != sig.line for u in unverified):
                unverified.append(sig)
            continue
        if any(v.label == sig.label for v in verified):
            continue
        check = check_by_type.get(verifier.signature_type)
        if check is None:
            raise NoteSignatureInvalid(
                f"expected a check for signature type 0x{verifier.signature_type:02x} of key "
                f"{sig.label}, found none (a cosignature is opened by ledger.checkpoint)"
            )
        if not check(verifier, note.text, sig.signature):
            raise NoteSignatureInvalid(
                f"invalid signature for key {sig.label}: expected a signature of the note text "
                "by that key, found one that does not verify"
            )
        verified.append(sig)
    if not verified:
        names = sorted({s.label for s in note.signatures})
        raise NoteSignatureInvalid(
            "note has no verifiable signatures: expected one by a known key "
            f"({', '.join(sorted(v.label for v in by_id.values())) or 'none known'}), "
            f"found {', '.join(names)}"
        )
    return OpenedNote(note, tuple(verified), tuple(unverified))
