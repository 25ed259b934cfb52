"""Keys sealed under Argon2id (keys/sealed.py): the parameters, tampering, older files."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
)

from keys import sealed
from keys.keystore import (
    KEY_FILE_MODE,
    KeyStoreError,
    WrongPassphrase,
    atomic_write,
    ensure_private_dir,
    generate_key,
    load_private_key,
    public_bytes,
    write_private_key,
)

PASSPHRASE = "correct horse battery staple"


def _resealed(pem: bytes, **changes: int) -> bytes:
    """``pem`` with header fields replaced, the rest (and so the GCM tag) untouched."""
    raw = bytearray(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    fields = {"iterations": 4, "memory_kib": 8, "lanes": 12}
    for name, value in changes.items():
        struct.pack_into(">I", raw, fields[name], value)
    body = base64.b64encode(bytes(raw))
    return sealed.BEGIN + b"\n" + body + b"\n" + sealed.END + b"\n"


def test_feed_key_under_weak_kdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stolen key file must cost a memory-hard KDF per guess: Argon2id at RFC 9106's
    recommended 64 MiB, 3 passes, 4 lanes, never PKCS#8's PBKDF2."""
    monkeypatch.delenv(sealed.FAST_KDF_ENV)
    path = tmp_path / "keys" / "feed.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    pem = path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" not in pem
    params = sealed.params_of(pem)
    assert params.memory_kib >= 64 * 1024
    assert params.iterations >= 3
    assert params.lanes >= 1


def test_sealed_key_round_trips(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, key, PASSPHRASE)
    assert public_bytes(load_private_key(path, PASSPHRASE)) == public_bytes(key)


def test_lowered_kdf_parameters_in_the_file_break_the_seal() -> None:
    """The header is authenticated: an attacker cannot rewrite the file to a cheaper KDF."""
    pem = sealed.seal(b"a key", PASSPHRASE.encode(), sealed.Argon2Params(2, 16 * 1024, 2))
    assert sealed.unseal(pem, PASSPHRASE.encode()) == b"a key"
    cheap = _resealed(pem, iterations=1, memory_kib=8 * 1024, lanes=1)
    with pytest.raises(sealed.WrongSealPassphrase):
        sealed.unseal(cheap, PASSPHRASE.encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_kib", 4 * 1024 * 1024), ("iterations", 1000), ("lanes", 255), ("memory_kib", 1)],
    ids=["memory_bomb", "iteration_bomb", "lane_bomb", "below_the_floor"],
)
def test_hostile_kdf_parameters_are_refused_before_deriving(field: str, value: int) -> None:
    pem = sealed.seal(b"not a key", b"pw", sealed.Argon2Params(1, 8 * 1024, 1))
    with pytest.raises(sealed.SealError, match=f"expected Argon2id {field}"):
        sealed.unseal(_resealed(pem, **{field: value}), b"pw")


def test_wrong_passphrase_on_a_sealed_key_is_clear(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        load_private_key(path, "not it")


def test_a_truncated_seal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    ensure_private_dir(path.parent)
    atomic_write(
        path,
        sealed.BEGIN + b"\nTVRTMQ==\n" + sealed.END + b"\n",
        mode=KEY_FILE_MODE,
        overwrite=False,
    )
    with pytest.raises(KeyStoreError, match="expected a sealed key of at least"):
        load_private_key(path, PASSPHRASE)


def test_keys_written_before_sealing_still_load(tmp_path: Path) -> None:
    """Consortia and nodes made before keys were sealed keep working (PKCS#8 + PBKDF2)."""
    key = generate_key()
    path = tmp_path / "keys" / "old.key"
    ensure_private_dir(path.parent)
    old = key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE.encode())
    )
    atomic_write(path, old, mode=KEY_FILE_MODE, overwrite=False)
    assert public_bytes(load_private_key(path, PASSPHRASE)) == public_bytes(key)
