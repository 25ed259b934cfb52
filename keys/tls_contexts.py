"""TLS contexts of a node and its clients, from the files ``keys.tls`` writes.

Private keys are sealed (``keys.sealed``); OpenSSL and granian read keys from files only. A
context is built from the key unsealed in memory and handed over re-encrypted under a one-time
random password in a private temporary file (``/dev/shm`` where there is one), removed at once;
granian, which cannot read an encrypted key, gets it in such a file for as long as it serves
(``server_key_file``, ADR 0015).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from keys.keystore import Passphrase, atomic_write
from keys.tls import KEY_MODE, NodeTlsFiles, TlsError, load_tls_key, read_certificate


def _node_key(files: NodeTlsFiles, passphrase: Passphrase) -> ec.EllipticCurvePrivateKey:
    # Unsealed here, for a precise error (OpenSSL says only "PEM lib" for a wrong passphrase, a
    # damaged file and a key of another certificate alike) and because OpenSSL cannot open a seal.
    key = load_tls_key(files.key, passphrase)
    if key.public_key() != read_certificate(files.cert).public_key():
        raise TlsError(f"{files.key}: expected the key of {files.cert.name}, found another key")
    return key


def _load_chain(context: ssl.SSLContext, files: NodeTlsFiles, passphrase: Passphrase) -> None:
    key = _node_key(files, passphrase)
    try:
        with _reencrypted_key_file(key) as (key_file, password):
            context.load_cert_chain(files.cert, key_file, password=password)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(
            f"{files.cert}, {files.key}: cannot load the certificate and its key ({exc})"
        ) from None


@contextlib.contextmanager
def server_key_file(files: NodeTlsFiles, passphrase: Passphrase) -> Iterator[Path]:
    """The node's TLS key as a file a server reads itself (granian), while the block runs.

    Open it in the server's master before the server starts and keep the block open until the
    server has stopped: its workers read the file when they start, and again when one is
    replaced. The key (checked against ``files.cert``) is PKCS#8 *without* encryption, mode 0600
    in a private 0700 directory in memory-backed ``/dev/shm``, named after the master's PID:
    granian (2.7.9 to 2.8.9) cannot decrypt any encrypted PKCS#8 key (it decodes the encrypted data
    as a SEQUENCE, not an OCTET STRING: every such key panics its workers), and it cannot open a
    seal. A master killed with SIGKILL leaves the directory behind (ADR 0015).
    """
    key = _node_key(files, passphrase)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with _private_key_file(pem) as path:
        yield path


@contextlib.contextmanager
def _reencrypted_key_file(key: ec.EllipticCurvePrivateKey) -> Iterator[tuple[Path, str]]:
    """The key as PKCS#8 under a random one-time password, in a private temporary file.

    OpenSSL reads keys from files only, and cannot open an Argon2id seal. The password is 256
    random bits that live only in this process, so the weak PBKDF2 of PKCS#8 encryption does not
    matter here, and the plaintext key never touches the disk.
    """
    password = secrets.token_urlsafe(32)
    pem = key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(password.encode("ascii"))
    )
    with _private_key_file(pem) as path:
        yield path, password


@contextlib.contextmanager
def _private_key_file(pem: bytes) -> Iterator[Path]:
    """``pem`` in ``tls.key`` (0600) in a new 0700 directory in ``/dev/shm``, removed after the
    block by the process that made it only: a worker forked inside the block that exits through
    Python must not take the file from the others."""
    shm = Path("/dev/shm")  # noqa: S108 (memory-backed; mkdtemp makes a private 0700 dir in it)
    owner = os.getpid()
    tmp = Path(tempfile.mkdtemp(prefix=f"medtrace-tls-{owner}-", dir=shm if shm.is_dir() else None))
    try:
        path = tmp / "tls.key"
        atomic_write(path, pem, mode=KEY_MODE, overwrite=False)
        yield path
    finally:
        if os.getpid() == owner:
            shutil.rmtree(tmp, ignore_errors=True)


def _load_ca(context: ssl.SSLContext, ca: Path) -> None:
    try:
        context.load_verify_locations(cafile=ca)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(
            f"{ca}: expected the consortium CA certificate, found an error: {exc}"
        ) from None


def server_context(files: NodeTlsFiles, passphrase: Passphrase) -> ssl.SSLContext:
    """The node's listening side under gunicorn: its certificate, TLS ≥ 1.2, and no client
    certificate asked for (peers sign their requests instead, ADR 0015), as under granian."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, files, passphrase)
    return context


def client_context(
    ca: Path, *, identity: NodeTlsFiles | None = None, passphrase: Passphrase | None = None
) -> ssl.SSLContext:
    """A client that trusts the consortium CA only (not the system store), checks host names,
    and presents ``identity`` (a node's certificate) when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_ca(context, ca)
    if identity is not None:
        if passphrase is None:
            raise TlsError(f"expected the passphrase of {identity.key}, found none")
        _load_chain(context, identity, passphrase)
    return context
