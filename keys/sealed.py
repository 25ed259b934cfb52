"""Private keys sealed under a memory-hard KDF: Argon2id + AES-256-GCM around PKCS#8.

PKCS#8 PEM encryption as ``cryptography`` writes it derives its key with PBKDF2 (2,048 rounds of
HMAC-SHA256 in the files we wrote before): a stolen key file can be guessed at millions of
passphrases per second on a GPU. Argon2id (RFC 9106) makes every guess cost ``memory_kib`` of
memory, which GPUs and ASICs cannot spread thin. The key inside stays PKCS#8 (DER), so any
tool can read it once unsealed.

The file is PEM-armoured (``-----BEGIN MEDTRACE SEALED PRIVATE KEY-----``) around::

    b"MTS1" | iterations u32 | memory_kib u32 | lanes u32 | salt (16) | nonce (12) | ciphertext

all integers big-endian; the ciphertext is AES-256-GCM of the PKCS#8 DER under the Argon2id key
of (passphrase, salt), with everything before it as associated data, so no parameter can be
changed without the tag failing. docs/spec/keys.md has the parameters and an example.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

LABEL = "MEDTRACE SEALED PRIVATE KEY"
BEGIN = f"-----BEGIN {LABEL}-----".encode()
END = f"-----END {LABEL}-----".encode()
MAGIC = b"MTS1"
_HEADER = struct.Struct(">4sIII16s12s")


@dataclass(frozen=True)
class Argon2Params:
    iterations: int
    memory_kib: int
    lanes: int


#: RFC 9106 §4, the second recommended option: t=3, 64 MiB, 4 lanes (~0.15 s here).
DEFAULT_PARAMS = Argon2Params(iterations=3, memory_kib=64 * 1024, lanes=4)
#: Test suites only (``MEDTRACE_FAST_KDF_FOR_TESTS=1``, set by tests/conftest.py): the floor of
#: RFC 9106, so the suite's thousands of key writes and loads take milliseconds. Reading always
#: uses the parameters the file was written with, so this never weakens an existing key.
FAST_KDF_ENV = "MEDTRACE_FAST_KDF_FOR_TESTS"
TEST_PARAMS = Argon2Params(iterations=1, memory_kib=8 * 1024, lanes=1)
#: What a file may ask for before we refuse to try it: a hostile file must not exhaust a node.
_MAX_PARAMS = Argon2Params(iterations=16, memory_kib=1024 * 1024, lanes=16)
#: RFC 9106's floor for any use; a file asking for less was not written by us.
_MIN_PARAMS = Argon2Params(iterations=1, memory_kib=8 * 1024, lanes=1)


class SealError(Exception):
    """The sealed file is malformed, or its parameters are outside what we accept."""


class WrongSealPassphrase(SealError):
    """The passphrase does not open the seal (or the file was changed)."""


def _key(passphrase: bytes, salt: bytes, params: Argon2Params) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase)


def write_params() -> Argon2Params:
    """The parameters new seals get: ``DEFAULT_PARAMS``, or ``TEST_PARAMS`` in a test suite."""
    return TEST_PARAMS if os.environ.get(FAST_KDF_ENV) == "1" else DEFAULT_PARAMS


def seal(pkcs8_der: bytes, passphrase: bytes, params: Argon2Params | None = None) -> bytes:
    """The PEM text of ``pkcs8_der`` sealed under ``passphrase`` (``write_params()`` by default)."""
    params = params or write_params()
    salt, nonce = os.urandom(16), os.urandom(12)
    header = _HEADER.pack(MAGIC, params.iterations, params.memory_kib, params.lanes, salt, nonce)
    sealed = header + AESGCM(_key(passphrase, salt, params)).encrypt(nonce, pkcs8_der, header)
    body = base64.encodebytes(sealed).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([BEGIN, *lines, END]) + b"\n"


def is_sealed(pem: bytes) -> bool:
    return BEGIN in pem


def params_of(pem: bytes) -> Argon2Params:
    """The Argon2id parameters a sealed file was written with."""
    _, iterations, memory_kib, lanes, _, _ = _HEADER.unpack_from(_decode(pem))
    return Argon2Params(iterations, memory_kib, lanes)


def unseal(pem: bytes, passphrase: bytes) -> bytes:
    """The PKCS#8 DER inside; ``SealError`` for a malformed file, ``WrongSealPassphrase``."""
    raw = _decode(pem)
    magic, iterations, memory_kib, lanes, salt, nonce = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise SealError(f"expected a sealed key of format {MAGIC!r}, found {magic!r}")
    params = Argon2Params(iterations, memory_kib, lanes)
    for field in ("iterations", "memory_kib", "lanes"):
        value = getattr(params, field)
        low, high = getattr(_MIN_PARAMS, field), getattr(_MAX_PARAMS, field)
        if not low <= value <= high:
            raise SealError(f"expected Argon2id {field} from {low} to {high}, found {value}")
    header, ciphertext = raw[: _HEADER.size], raw[_HEADER.size :]
    try:
        return AESGCM(_key(passphrase, salt, params)).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise WrongSealPassphrase("the passphrase does not open this sealed key") from None


def _decode(pem: bytes) -> bytes:
    start, end = pem.find(BEGIN), pem.find(END)
    if start < 0 or end < start:
        raise SealError(f"expected a '{LABEL}' PEM block, found none")
    try:
        raw = base64.b64decode(b"".join(pem[start + len(BEGIN) : end].split()), validate=True)
    except binascii.Error:
        raise SealError("expected base64 inside the sealed key's PEM block") from None
    if len(raw) < _HEADER.size + 16:
        raise SealError(f"expected a sealed key of at least {_HEADER.size + 16} bytes")
    return raw
