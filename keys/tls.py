"""TLS between nodes: the consortium's certificate authority, node certificates, SSL contexts.

::

    CONSORTIUM/tls/ca.key     the CA's ECDSA P-256 key, sealed PKCS#8, 0600 (directory 0700)
    CONSORTIUM/tls/ca.crt     its self-signed certificate (public)
    DATA/tls.key              a node's ECDSA P-256 key, sealed PKCS#8, 0600
    DATA/tls.crt              the node's certificate, issued by the consortium CA (public)
    DATA/tls-ca.crt           a copy of the CA certificate: what the node trusts (public)

ECDSA P-256, not Ed25519 like the ledger keys: browsers (Chromium) and phone scanners refuse
Ed25519 certificates, and a pharmacist's browser talks TLS to the same port as the peers.

A node certificate names its organisation twice: ``O=<org>`` for people reading it, and the URI
SAN ``urn:medtrace:org:<org>``, which nodes before ADR 0015 checked on a client
(``peer_organisation`` reads it). Its EKU allows both serverAuth and clientAuth: one certificate
serves the node's port and is shown when the node pulls from its peers.

Private keys are sealed with Argon2id like every medtrace key (``keys.sealed``). OpenSSL reads
keys from files only and cannot open a seal: when a context is built (``server_context``,
``client_context``) the key is unsealed in memory and handed to OpenSSL re-encrypted as PKCS#8
under a one-time random password, in a private directory in ``/dev/shm``, removed at once.
granian cannot decrypt a key at all: it gets the key in clear in such a directory, for as long
as it serves (``server_key_file``). Errors are ``TlsError``; they name files, never key material
or the passphrase.

A node no longer asks a client for a certificate: peers prove their organisation by signing
their requests (ADR 0015). Nodes still present theirs when they pull, for peers not yet there.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.keystore import (
    KeyStoreError,
    Passphrase,
    WrongPassphrase,
    atomic_write,
    encrypt_private_key,
    ensure_private_dir,
    open_private_key,
    read_key_file,
)

CA_DIR = "tls"
CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.crt"
NODE_KEY_FILE = "tls.key"
NODE_CERT_FILE = "tls.crt"
NODE_CA_FILE = "tls-ca.crt"
ORG_URI_PREFIX = "urn:medtrace:org:"
CA_DAYS = 3650
#: Node certificates live about a year (the CA/Browser Forum limit of 397 days): long enough
#: not to be a chore, short enough that a lost key stops working without a revocation list.
NODE_DAYS = 397
PUBLIC_MODE = 0o644
KEY_MODE = 0o600
_MAX_CERT_FILE = 64 * 1024
_DNS_NAME = re.compile(
    r"\A(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z"
)
_ORG = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")
_CLOCK_SKEW = dt.timedelta(minutes=5)


class TlsError(KeyStoreError):
    """A TLS key or certificate cannot be made, read or used as asked."""


# -- keys ----------------------------------------------------------------------------------------


def generate_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_tls_key(
    path: Path, key: ec.EllipticCurvePrivateKey, passphrase: Passphrase, *, overwrite: bool = False
) -> None:
    """The key sealed with Argon2id like every medtrace key (``keys.sealed``), mode 0600."""
    if not (passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)):
        raise TlsError("expected a non-empty passphrase, found an empty one")
    atomic_write(path, encrypt_private_key(key, passphrase), mode=KEY_MODE, overwrite=overwrite)


def load_tls_key(path: Path, passphrase: Passphrase) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of ``path`` (0600, sealed or encrypted), or an error naming the file."""
    try:
        key = open_private_key(read_key_file(path), passphrase, source=str(path))
    except WrongPassphrase:
        raise
    except KeyStoreError as exc:
        raise TlsError(str(exc)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise TlsError(f"{path}: expected an ECDSA P-256 private key, found another kind")
    return key


# -- certificates --------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _serial() -> int:
    return x509.random_serial_number()


def create_ca_certificate(
    consortium: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    now: dt.datetime | None = None,
    days: int = CA_DAYS,
) -> x509.Certificate:
    """A self-signed CA that may sign node certificates only (path length 0)."""
    start = (now or _now()) - _CLOCK_SKEW
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, consortium[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, "medtrace consortium TLS CA"),
        ]
    )
    public = key.public_key()
    return (
        _builder(name, name, public, start, days, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


#: Key usages no medtrace certificate needs: its ECDSA key only signs (handshakes, or certificates).
_NEVER_USED = dict.fromkeys(
    (
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "encipher_only",
        "decipher_only",
    ),
    False,
)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    start: dt.datetime,
    days: int,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    """What the CA and a node certificate share: a random serial, the validity, and the key
    usage (a CA signs node certificates only, path length 0; a node signs handshakes only)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **_NEVER_USED),
            critical=True,
        )
    )


def parse_host(host: str) -> x509.GeneralName:
    """An IP address or a DNS name for the certificate's subjectAltName."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.strip().lower().rstrip(".")
    if not _DNS_NAME.match(name):
        raise TlsError(f"expected a host name or an IP address, found {host!r}")
    return x509.DNSName(name)


def issue_node_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    org: str,
    hosts: Sequence[str],
    public: ec.EllipticCurvePublicKey,
    *,
    now: dt.datetime | None = None,
    days: int = NODE_DAYS,
) -> x509.Certificate:
    """A node certificate for ``org``, valid for ``hosts``, as server and as client."""
    if not _ORG.match(org):
        raise TlsError(f"expected an organisation id like 'acme', found {org!r}")
    names: list[x509.GeneralName] = []
    for host in hosts:
        parsed = parse_host(host)
        if parsed not in names:
            names.append(parsed)
    if not names:
        raise TlsError("expected at least one --host for the certificate, found none")
    if not 1 <= days <= 3650:
        raise TlsError(f"expected a validity of 1 to 3650 days, found {days}")
    start = (now or _now()) - _CLOCK_SKEW
    names.append(x509.UniformResourceIdentifier(ORG_URI_PREFIX + org))
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, f"medtrace node {org}"),
        ]
    )
    return (
        _builder(subject, ca_cert.subject, public, start, days, ca=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def read_certificate(path: Path) -> x509.Certificate:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_CERT_FILE + 1)
    except FileNotFoundError:
        raise TlsError(f"{path}: expected a PEM certificate, found no file") from None
    except OSError as exc:
        raise TlsError(f"{path}: cannot read the certificate: {exc.strerror}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise TlsError(f"{path}: expected a PEM certificate, found a malformed file") from None


def write_certificate(path: Path, cert: x509.Certificate, *, overwrite: bool = False) -> None:
    atomic_write(path, cert.public_bytes(Encoding.PEM), mode=PUBLIC_MODE, overwrite=overwrite)


def certificate_organisation(cert: x509.Certificate) -> str | None:
    """The organisation a node certificate names in its ``urn:medtrace:org:`` URI SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    orgs = [
        uri.removeprefix(ORG_URI_PREFIX)
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(ORG_URI_PREFIX)
    ]
    return orgs[0] if len(orgs) == 1 else None


def peer_organisation(peercert: Mapping[str, Any] | None) -> str | None:
    """The organisation of a verified peer certificate, from ``SSLSocket.getpeercert()``.

    ``None`` when there is no certificate, or it names no organisation or more than one.
    The dictionary form is only filled in for a certificate OpenSSL has verified.
    """
    if not peercert:
        return None
    orgs = [
        str(value).removeprefix(ORG_URI_PREFIX)
        for kind, value in peercert.get("subjectAltName", ())
        if kind == "URI" and str(value).startswith(ORG_URI_PREFIX)
    ]
    return orgs[0] if len(orgs) == 1 else None


# -- the consortium CA ---------------------------------------------------------------------------


def ca_paths(consortium_dir: Path) -> tuple[Path, Path]:
    """(key, certificate) of a consortium directory's TLS CA."""
    return consortium_dir / CA_DIR / CA_KEY_FILE, consortium_dir / CA_DIR / CA_CERT_FILE


def create_ca(consortium_dir: Path, consortium: str, passphrase: Passphrase) -> x509.Certificate:
    """Write a new CA into ``CONSORTIUM/tls/``; an existing one is never overwritten."""
    key_path, cert_path = ca_paths(consortium_dir)
    if key_path.exists() or cert_path.exists():
        raise TlsError(f"{key_path.parent}: expected no TLS CA there, found one (not replaced)")
    key = generate_tls_key()
    cert = create_ca_certificate(consortium, key)
    ensure_private_dir(key_path.parent)
    write_tls_key(key_path, key, passphrase)
    write_certificate(cert_path, cert)
    return cert


def load_ca(
    consortium_dir: Path, passphrase: Passphrase
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key_path, cert_path = ca_paths(consortium_dir)
    if not cert_path.exists():
        raise TlsError(
            f"{cert_path}: expected the consortium's TLS CA, found none (create one with: "
            f"medtrace keys tls-ca --dir {consortium_dir})"
        )
    cert = read_certificate(cert_path)
    key = load_tls_key(key_path, passphrase)
    if key.public_key() != cert.public_key():
        raise TlsError(f"{key_path}: expected the key of {cert_path.name}, found another key")
    return cert, key


@dataclass(frozen=True)
class NodeTlsFiles:
    """Where a node keeps its TLS key and certificates (its data directory)."""

    key: Path
    cert: Path
    ca: Path

    @classmethod
    def in_dir(cls, data: Path) -> NodeTlsFiles:
        return cls(data / NODE_KEY_FILE, data / NODE_CERT_FILE, data / NODE_CA_FILE)


def issue_node_files(
    consortium_dir: Path,
    org: str,
    hosts: Iterable[str],
    out: Path,
    passphrase: Passphrase,
    *,
    node_passphrase: Passphrase | None = None,
    days: int = NODE_DAYS,
    overwrite: bool = False,
) -> x509.Certificate:
    """A new key and certificate for ``org`` in ``out`` (a node's data directory).

    ``passphrase`` opens the CA key; the node's key is encrypted with ``node_passphrase``
    (default: the same one, as ``node init`` does with the feed key).
    """
    ca_cert, ca_key = load_ca(consortium_dir, passphrase)
    key = generate_tls_key()
    cert = issue_node_certificate(ca_cert, ca_key, org, list(hosts), key.public_key(), days=days)
    files = NodeTlsFiles.in_dir(out)
    ensure_private_dir(out)
    write_tls_key(files.key, key, node_passphrase or passphrase, overwrite=overwrite)
    write_certificate(files.cert, cert, overwrite=overwrite)
    write_certificate(files.ca, ca_cert, overwrite=overwrite)
    return cert


__all__ = [
    "CA_DAYS",
    "NODE_CA_FILE",
    "NODE_CERT_FILE",
    "NODE_DAYS",
    "NODE_KEY_FILE",
    "ORG_URI_PREFIX",
    "NodeTlsFiles",
    "TlsError",
    "ca_paths",
    "certificate_organisation",
    "create_ca",
    "create_ca_certificate",
    "generate_tls_key",
    "issue_node_certificate",
    "issue_node_files",
    "load_ca",
    "load_tls_key",
    "parse_host",
    "peer_organisation",
    "read_certificate",
    "write_certificate",
    "write_tls_key",
]
