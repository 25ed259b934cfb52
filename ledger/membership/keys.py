"""Ed25519 public keys and signatures as membership documents write them: base64 of the raw
bytes (32 for a key)."""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import MembershipError


def raw_public(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError):
        raise MembershipError(f"expected base64 for {what}, found {text!r}") from None


def public_key_bytes(text: Any, what: str) -> bytes:
    raw = unb64(text, what)
    if len(raw) != 32:
        raise MembershipError(
            f"expected a 32-byte Ed25519 public key for {what}, found {len(raw)} bytes"
        )
    return raw


@functools.lru_cache(maxsize=1024)
def load_public_key(raw: bytes) -> Ed25519PublicKey:
    """Loaded once: every entry of a feed needs its key, and loading costs ~5% of a verify.
    The key object is immutable, so threads verifying at once may share it."""
    return Ed25519PublicKey.from_public_bytes(raw)
