"""Private keys at rest: PKCS#8 sealed under a passphrase with Argon2id (``keys.sealed``), mode 0600.

A key file is created with ``os.open(..., 0o600)`` in a directory of mode 0700, written to a
temporary name beside its final one, flushed, then linked into place: a reader never sees a half
written file, the plaintext key never touches the disk, and an existing key is never overwritten.

Passphrases come from, in order: the caller, the environment variable ``MEDTRACE_PASSPHRASE``,
an interactive prompt when stdin is a terminal. Without any of them the error says how to give one.

Errors are ``KeyStoreError``: I/O and secrets, not ledger facts. Messages name the file and what
went wrong; they never contain key material, PEM text or the passphrase.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_pem_private_key,
)

from keys import sealed

PASSPHRASE_ENV = "MEDTRACE_PASSPHRASE"  # noqa: S105 (the name of the variable, not a secret)
KEY_FILE_MODE = 0o600
KEY_DIR_MODE = 0o700
#: A key file is a few hundred bytes; anything much larger is not one of ours.
_MAX_KEY_FILE = 64 * 1024

Passphrase = str | bytes


class KeyStoreError(Exception):
    """A key or consortium file cannot be read, written or decrypted."""


class PassphraseUnavailable(KeyStoreError):
    """No passphrase was given, none is in the environment, and there is no terminal to ask."""


class WrongPassphrase(KeyStoreError):
    """The passphrase does not decrypt the key file."""


# -- passphrases ---------------------------------------------------------------------------------


def _as_bytes(passphrase: Passphrase) -> bytes:
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if not data:
        raise KeyStoreError("expected a non-empty passphrase, found an empty one")
    return data


def resolve_passphrase(
    passphrase: Passphrase | None = None,
    *,
    purpose: str = "the medtrace keys",
    confirm: bool = False,
) -> bytes:
    """The passphrase as bytes: ``passphrase``, else ``$MEDTRACE_PASSPHRASE``, else a prompt.

    ``confirm`` asks twice at the prompt (use it when the passphrase protects new keys only).
    """
    if passphrase is not None:
        return _as_bytes(passphrase)
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env is not None:
        if not from_env:
            raise PassphraseUnavailable(f"expected a non-empty ${PASSPHRASE_ENV}, found it empty")
        return _as_bytes(from_env)
    if sys.stdin is not None and sys.stdin.isatty():
        entered = click.prompt(
            f"Passphrase for {purpose}",
            hide_input=True,
            confirmation_prompt=confirm,
            show_default=False,
        )
        return _as_bytes(str(entered))
    raise PassphraseUnavailable(
        f"expected a passphrase for {purpose}: set ${PASSPHRASE_ENV}, pass --passphrase-file, "
        "or run in a terminal to be asked (stdin is not a terminal)"
    )


# -- public keys ---------------------------------------------------------------------------------


#: A passphrase file holds one line; anything longer is not a passphrase file.
MAX_PASSPHRASE_FILE = 4096


def read_passphrase_file(path: Path, *, private: bool = False) -> bytes:
    """The first line of ``path`` (``--passphrase-file``, a demo node's DATA/passphrase).

    ``private``: refuse a file others may read, as for key files.
    """
    try:
        if private:
            _refuse_open(path, path.stat(), "a passphrase file", "600")
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSPHRASE_FILE + 1)
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot read the passphrase file: {exc.strerror}") from None
    if len(data) > MAX_PASSPHRASE_FILE:
        raise KeyStoreError(f"{path}: expected a passphrase file under {MAX_PASSPHRASE_FILE} bytes")
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not line:
        raise KeyStoreError(f"{path}: expected a passphrase on the first line, found it empty")
    return line


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_b64(key: Ed25519PrivateKey | Ed25519PublicKey | bytes) -> str:
    raw = key if isinstance(key, bytes) else public_bytes(key)
    return base64.b64encode(raw).decode("ascii")


def public_from_b64(text: str) -> bytes:
    """Raw public key bytes from base64, checked to be a usable Ed25519 key."""
    try:
        raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise KeyStoreError(
            f"expected a base64 Ed25519 public key of 32 bytes, found {text!r}"
        ) from None
    return raw


def fingerprint(public: Ed25519PrivateKey | Ed25519PublicKey | bytes) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: for humans, not for checks."""
    raw = public if isinstance(public, bytes) else public_bytes(public)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# -- directories and atomic files ----------------------------------------------------------------


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def _refuse_open(path: Path, st: os.stat_result, what: str, mode: str, risk: str = "") -> None:
    """Refuse ``path`` when its group or others have any right to it, naming the ``chmod`` fix."""
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise KeyStoreError(
            f"{path}: expected {what} of mode 0{mode}, found {_mode(st)}{risk} "
            f"(fix it with: chmod {mode} {path})"
        )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) so that ``path`` itself has mode 0700; refuse a looser one."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                path.mkdir(mode=KEY_DIR_MODE)
                # mkdir's mode is filtered by the umask; directories hold no secret yet, so set it.
                path.chmod(KEY_DIR_MODE)
        st = path.lstat()
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot create the key directory: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise KeyStoreError(f"{path}: expected a directory for keys, found another kind of file")
    _refuse_open(path, st, "a key directory", "700")
    return path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    """Write ``data`` to ``path`` via a temporary file created with ``mode`` from the start.

    ``overwrite=False`` links the file into place, which fails if ``path`` exists (no clobbering,
    even by a concurrent writer); ``overwrite=True`` renames over it.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{secrets.token_hex(6)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot create a file: {exc.strerror}") from None
    try:
        with _placing(path, f"{path}: cannot write"):
            try:
                os.fchmod(fd, mode)  # exact mode despite the umask, before any byte is written
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
            _fsync_dir(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def move_no_clobber(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, failing (and changing nothing) if ``target`` exists."""
    with _placing(target, f"{source}: cannot rename to {target.name}"):
        os.link(source, target)
        source.unlink()
        _fsync_dir(target.parent)


@contextlib.contextmanager
def _placing(target: Path, failure: str) -> Iterator[None]:
    """A file being put at ``target``: one already there is refused, never replaced; any other
    OS error is ``failure: <reason>``."""
    try:
        yield
    except FileExistsError:
        raise KeyStoreError(
            f"{target}: expected no file there, found one (not overwritten)"
        ) from None
    except OSError as exc:
        raise KeyStoreError(f"{failure}: {exc.strerror}") from None


# -- private keys --------------------------------------------------------------------------------


def encrypt_private_key(key: PrivateKeyTypes, passphrase: Passphrase) -> bytes:
    """The key as PKCS#8, sealed under ``passphrase`` with Argon2id (``keys.sealed``)."""
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return sealed.seal(der, _as_bytes(passphrase))


def open_private_key(pem: bytes, passphrase: Passphrase, *, source: str) -> PrivateKeyTypes:
    """The private key of a sealed file, or of an encrypted PKCS#8 PEM file written before keys
    were sealed (still read, so older consortia and nodes keep working); ``source`` names the
    bytes in errors (a path, usually)."""
    if sealed.is_sealed(pem):
        try:
            der = sealed.unseal(pem, _as_bytes(passphrase))
        except sealed.WrongSealPassphrase:
            raise WrongPassphrase(
                f"{source}: wrong passphrase (it does not open this sealed private key), "
                "or a changed file"
            ) from None
        except sealed.SealError as exc:
            raise KeyStoreError(f"{source}: {exc}") from None
        try:
            return load_der_private_key(der, password=None)
        except ValueError:
            raise KeyStoreError(
                f"{source}: expected a PKCS#8 private key inside the seal, found a malformed one"
            ) from None
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in pem:
        kind = "an unencrypted private key" if b"PRIVATE KEY-----" in pem else "no PEM key"
        raise KeyStoreError(
            f"{source}: expected a sealed or encrypted PKCS#8 private key, found {kind} "
            "(medtrace keeps keys encrypted at rest)"
        )
    try:
        return load_pem_private_key(pem, password=_as_bytes(passphrase))
    except ValueError as exc:
        # A wrong passphrase usually fails the padding check ("Incorrect password"), but about one
        # time in 256 it decrypts to bytes that then fail to parse: both mean the same to a user.
        if "incorrect password" in str(exc).lower():
            raise WrongPassphrase(
                f"{source}: wrong passphrase (it does not decrypt this private key)"
            ) from None
        raise WrongPassphrase(
            f"{source}: cannot decrypt this private key: wrong passphrase, or a damaged file"
        ) from None
    except (TypeError, UnicodeError):
        raise KeyStoreError(
            f"{source}: expected a PKCS#8 private key, found a malformed file"
        ) from None


def decrypt_private_key(pem: bytes, passphrase: Passphrase, *, source: str) -> Ed25519PrivateKey:
    """The Ed25519 key of a key file's bytes; ``source`` names them in errors."""
    key = open_private_key(pem, passphrase, source=source)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(
            f"{source}: expected an Ed25519 private key, found {type(key).__name__}"
        )
    return key


def write_private_key(
    path: Path, key: Ed25519PrivateKey, passphrase: Passphrase, *, overwrite: bool = False
) -> None:
    """Encrypt ``key`` and write it to ``path`` (mode 0600, in a 0700 directory)."""
    pem = encrypt_private_key(key, passphrase)
    ensure_private_dir(path.parent)
    atomic_write(path, pem, mode=KEY_FILE_MODE, overwrite=overwrite)


def read_key_file(path: Path) -> bytes:
    """The bytes of a key file, refusing one readable by group or others (as ssh does)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise KeyStoreError(f"{path}: expected a private key file, found none") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyStoreError(
                f"{path}: expected a regular key file, found a symbolic link (not followed)"
            ) from None
        raise KeyStoreError(f"{path}: cannot open the key file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"{path}: expected a regular key file, found another kind of file")
        _refuse_open(path, st, "a key file", "600", ": other users may read it")
        data = handle.read(_MAX_KEY_FILE + 1)
    if len(data) > _MAX_KEY_FILE:
        raise KeyStoreError(
            f"{path}: expected a small PEM key file, found over {_MAX_KEY_FILE} bytes"
        )
    return data


def load_private_key(path: Path, passphrase: Passphrase) -> Ed25519PrivateKey:
    return decrypt_private_key(read_key_file(path), passphrase, source=str(path))


def load_public_key(path: Path, passphrase: Passphrase) -> bytes:
    """The raw public key of a key file (decrypting it: the file holds no public copy)."""
    return public_bytes(load_private_key(path, passphrase))


__all__ = [
    "KEY_DIR_MODE",
    "KEY_FILE_MODE",
    "PASSPHRASE_ENV",
    "KeyStoreError",
    "Passphrase",
    "PassphraseUnavailable",
    "WrongPassphrase",
    "atomic_write",
    "decrypt_private_key",
    "encrypt_private_key",
    "ensure_private_dir",
    "fingerprint",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "move_no_clobber",
    "open_private_key",
    "public_b64",
    "public_bytes",
    "public_from_b64",
    "read_key_file",
    "resolve_passphrase",
    "write_private_key",
]
