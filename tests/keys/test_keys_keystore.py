"""Private keys at rest: sealed PKCS#8, 0600 files in 0700 directories, clear errors."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from keys.keystore import (
    PASSPHRASE_ENV,
    KeyStoreError,
    PassphraseUnavailable,
    WrongPassphrase,
    fingerprint,
    generate_key,
    load_private_key,
    public_b64,
    public_bytes,
    public_from_b64,
    resolve_passphrase,
    write_private_key,
)

PASSPHRASE = "correct horse battery staple"


def raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: file modes must not depend on the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, key, PASSPHRASE)
    loaded = load_private_key(path, PASSPHRASE)
    assert raw_private(loaded) == raw_private(key)
    assert public_bytes(loaded) == public_bytes(key)
    assert load_private_key(path, PASSPHRASE.encode()) is not None  # bytes work as well as str


def test_file_is_a_sealed_pem(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN MEDTRACE SEALED PRIVATE KEY-----\n")
    assert b"-----BEGIN PRIVATE KEY-----" not in data


@pytest.mark.usefixtures("open_umask")
def test_file_mode_0600_and_directory_0700(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "keys" / "a.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.key"]  # no temporary left


def test_file_is_created_0600_never_chmod_after_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file descriptor is opened with 0600 before a byte is written (no window at 0644)."""
    opened: list[int] = []
    real_open = os.open

    def spy_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: int) -> int:
        if flags & os.O_CREAT:
            opened.append(mode)
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", spy_open)
    write_private_key(tmp_path / "k" / "a.key", generate_key(), PASSPHRASE)
    assert opened == [0o600]


def test_no_raw_private_key_on_disk(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, key, PASSPHRASE)
    data = path.read_bytes()
    raw = raw_private(key)
    for needle in (
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        PASSPHRASE.encode(),
    ):
        assert needle not in data
    # nor the unencrypted PKCS#8 body (the DER the PEM of an unencrypted key would carry)
    clear_der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    assert clear_der not in data
    assert base64.b64encode(clear_der)[:40] not in data


def test_wrong_passphrase_is_a_clear_error_without_key_material(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "keys" / "gov-1.key"
    write_private_key(path, key, PASSPHRASE)
    for attempt in ("hunter2-guess", "Correct horse battery staple", "x" * 200):
        with pytest.raises(WrongPassphrase) as info:
            load_private_key(path, attempt)
        message = str(info.value)
        assert str(path) in message
        assert "passphrase" in message
        raw = raw_private(key)
        pem = path.read_text()
        for secret in (raw.hex(), base64.b64encode(raw).decode(), attempt, PASSPHRASE, "BEGIN"):
            assert secret not in message
        assert pem.splitlines()[1] not in message
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__


def test_wrong_passphrase_many_times_never_misreported(tmp_path: Path) -> None:
    """About 1 in 256 wrong passphrases decrypts to junk that then fails to parse: same error."""
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    for i in range(600):
        with pytest.raises(WrongPassphrase, match="passphrase"):
            load_private_key(path, f"guess-{i}")


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    first = generate_key()
    write_private_key(path, first, PASSPHRASE)
    with pytest.raises(KeyStoreError, match="not overwritten"):
        write_private_key(path, generate_key(), PASSPHRASE)
    assert public_bytes(load_private_key(path, PASSPHRASE)) == public_bytes(first)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.key"]


def test_unencrypted_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            generate_key().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
    with pytest.raises(KeyStoreError, match="unencrypted"):
        load_private_key(path, PASSPHRASE)


def test_garbage_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="found none"):
        load_private_key(tmp_path / "absent.key", PASSPHRASE)
    junk = tmp_path / "junk.key"
    fd = os.open(junk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"not a key at all")
    os.close(fd)
    with pytest.raises(KeyStoreError, match="no PEM key"):
        load_private_key(junk, PASSPHRASE)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, generate_key(), PASSPHRASE)
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match=r"mode 0600, found 0644.*chmod 600"):
        load_private_key(path, PASSPHRASE)


def test_loose_key_directory_is_refused(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    with pytest.raises(KeyStoreError, match=r"mode 0700, found 0755"):
        write_private_key(loose / "a.key", generate_key(), PASSPHRASE)
    assert list(loose.iterdir()) == []


def test_symlinked_key_path_is_not_followed_on_write(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (keys / "a.key").symlink_to(target)
    with pytest.raises(KeyStoreError):
        write_private_key(keys / "a.key", generate_key(), PASSPHRASE)
    assert not target.exists()


def test_symlinked_key_file_is_not_followed_on_load(tmp_path: Path) -> None:
    real = tmp_path / "keys" / "a.key"
    write_private_key(real, generate_key(), PASSPHRASE)
    link = tmp_path / "keys" / "link.key"
    link.symlink_to(real)
    with pytest.raises(KeyStoreError, match="symbolic link"):
        load_private_key(link, PASSPHRASE)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="non-empty passphrase"):
        write_private_key(tmp_path / "k" / "a.key", generate_key(), "")


def test_passphrase_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert resolve_passphrase("explicit") == b"explicit"
    assert resolve_passphrase(None) == b"from-env"
    monkeypatch.setenv(PASSPHRASE_ENV, "")
    with pytest.raises(PassphraseUnavailable, match="empty"):
        resolve_passphrase(None)


class _Tty:
    def isatty(self) -> bool:
        return True


def test_passphrase_prompt_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    asked: list[dict[str, object]] = []

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append({"text": text, **kwargs})
        return "typed"

    monkeypatch.setattr(click, "prompt", fake_prompt)
    monkeypatch.setattr("sys.stdin", _Tty())
    assert resolve_passphrase(None, purpose="gov-1.key", confirm=True) == b"typed"
    assert asked[0]["hide_input"] is True
    assert asked[0]["confirmation_prompt"] is True
    assert "gov-1.key" in str(asked[0]["text"])


def test_no_passphrase_and_no_terminal_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with open(os.devnull) as not_a_tty:
        monkeypatch.setattr("sys.stdin", not_a_tty)
        with pytest.raises(PassphraseUnavailable, match=PASSPHRASE_ENV):
            resolve_passphrase(None)


def test_public_key_helpers() -> None:
    key = generate_key()
    raw = public_bytes(key)
    assert len(raw) == 32
    assert public_from_b64(public_b64(key)) == raw
    assert public_b64(raw) == public_b64(key.public_key())
    fp = fingerprint(raw)
    assert len(fp) == 16
    assert int(fp, 16) >= 0
    assert fingerprint(key) == fp
    with pytest.raises(KeyStoreError, match="32 bytes"):
        public_from_b64(base64.b64encode(b"short").decode())
    with pytest.raises(KeyStoreError):
        public_from_b64("not base64!")
