"""The consortium's TLS CA and node certificates (keys/tls.py, ADR 0011)."""

from __future__ import annotations

import datetime as dt
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.consortium import Consortium
from keys.keystore import KeyStoreError, WrongPassphrase
from keys.tls import (
    NODE_DAYS,
    NodeTlsFiles,
    TlsError,
    ca_paths,
    certificate_organisation,
    create_ca,
    issue_node_files,
    load_ca,
    load_tls_key,
    parse_host,
    peer_organisation,
    read_certificate,
)
from keys.tls_contexts import client_context, server_context
from medtrace.cli.keys import keys_group
from medtrace.cli.node import node_group
from node.config import load_config


def test_a_new_consortium_has_an_ecdsa_p256_ca_with_its_key_encrypted(
    consortium: Consortium, pw: str
) -> None:
    key_path = ca_paths(consortium.path)[0]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert key_path.read_bytes().startswith(b"-----BEGIN MEDTRACE SEALED PRIVATE KEY-----")
    cert, key = load_ca(consortium.path, pw)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    assert cert.issuer == cert.subject
    assert key.public_key() == public


def test_the_ca_is_never_replaced(consortium: Consortium, pw: str) -> None:
    before = ca_paths(consortium.path)[1].read_bytes()
    with pytest.raises(TlsError, match="not replaced"):
        create_ca(consortium.path, consortium.name, pw)
    assert ca_paths(consortium.path)[1].read_bytes() == before


def _issue(consortium: Consortium, pw: str, out: Path, *hosts: str) -> x509.Certificate:
    return issue_node_files(consortium.path, "acme", hosts or ("127.0.0.1",), out, pw)


def test_a_node_certificate_names_its_organisation_hosts_and_both_uses(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    cert = _issue(consortium, pw, tmp_path / "node", "127.0.0.1", "node1.example", "::1")
    ca = read_certificate(ca_paths(consortium.path)[1])
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node1.example"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:medtrace:org:acme"]
    assert certificate_organisation(cert) == "acme"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "acme"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == dt.timedelta(days=NODE_DAYS)


def test_the_node_key_is_encrypted_private_and_opens_only_with_the_passphrase(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    cert = _issue(consortium, pw, tmp_path / "node")
    files = NodeTlsFiles.in_dir(tmp_path / "node")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert b"SEALED PRIVATE KEY" in files.key.read_bytes()
    assert load_tls_key(files.key, pw).public_key() == cert.public_key()
    assert files.ca.read_bytes() == ca_paths(consortium.path)[1].read_bytes()
    with pytest.raises(WrongPassphrase) as wrong:
        server_context(files, "not the passphrase")
    assert "not the passphrase" not in str(wrong.value)
    files.key.chmod(0o644)
    with pytest.raises(KeyStoreError, match="mode 0600"):
        server_context(files, pw)


def test_issuing_again_does_not_overwrite_a_node_key(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    _issue(consortium, pw, tmp_path / "node")
    key = NodeTlsFiles.in_dir(tmp_path / "node").key.read_bytes()
    with pytest.raises(KeyStoreError, match="not overwritten"):
        _issue(consortium, pw, tmp_path / "node")
    assert NodeTlsFiles.in_dir(tmp_path / "node").key.read_bytes() == key


def test_a_server_and_a_client_context_load_the_encrypted_key(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    _issue(consortium, pw, tmp_path / "node")
    files = NodeTlsFiles.in_dir(tmp_path / "node")
    server_context(files, pw)
    client_context(files.ca, identity=files, passphrase=pw)
    with pytest.raises(TlsError, match="passphrase"):
        client_context(files.ca, identity=files)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("node1.example", "node1.example"),
        ("Pharmacy", "pharmacy"),
        ("fe80::1", "fe80::1"),
    ],
)
def test_hosts_become_ip_or_dns_names(host: str, expected: str) -> None:
    assert str(parse_host(host).value) == expected


@pytest.mark.parametrize("host", ["", "a b", "http://x", "-bad.example", "x" * 64])
def test_a_malformed_host_is_refused(host: str) -> None:
    with pytest.raises(TlsError, match="host name or an IP address"):
        parse_host(host)


@dataclass(frozen=True)
class PeerCert:
    scenario: str
    cert: dict[str, Any] | None
    org: str | None


PEER_CERTS = [
    PeerCert("no certificate", None, None),
    PeerCert("an empty dictionary (not verified)", {}, None),
    PeerCert(
        "one organisation URI",
        {"subjectAltName": (("IP Address", "127.0.0.1"), ("URI", "urn:medtrace:org:apo"))},
        "apo",
    ),
    PeerCert("no organisation URI", {"subjectAltName": (("DNS", "apo.example"),)}, None),
    PeerCert(
        "two organisation URIs",
        {"subjectAltName": (("URI", "urn:medtrace:org:a"), ("URI", "urn:medtrace:org:b"))},
        None,
    ),
    PeerCert(
        "an organisation only in the subject",
        {"subject": ((("organizationName", "apo"),),), "subjectAltName": ()},
        None,
    ),
]


@pytest.mark.parametrize("case", PEER_CERTS, ids=[c.scenario for c in PEER_CERTS])
def test_the_organisation_of_a_peer_certificate(case: PeerCert) -> None:
    assert peer_organisation(case.cert) == case.org


def test_cli_issues_a_certificate_for_a_listed_organisation_only(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text(pw + "\n")
    base = ["tls-issue", "--dir", str(consortium.path), "--passphrase-file", str(pw_file)]
    runner = CliRunner()
    ok = runner.invoke(
        keys_group, [*base, "--org", "apo", "--host", "127.0.0.1", "--out", str(tmp_path / "apo")]
    )
    assert ok.exit_code == 0, ok.output
    assert certificate_organisation(read_certificate(tmp_path / "apo" / "tls.crt")) == "apo"
    unknown = runner.invoke(
        keys_group, [*base, "--org", "nobody", "--host", "127.0.0.1", "--out", str(tmp_path / "x")]
    )
    assert unknown.exit_code == 1
    assert "nobody" in unknown.output
    assert not (tmp_path / "x").exists()


def test_cli_adds_a_ca_to_a_consortium_without_one(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    key_path, cert_path = ca_paths(consortium.path)
    key_path.unlink()
    cert_path.unlink()
    pw_file = tmp_path / "pw"
    pw_file.write_text(pw + "\n")
    result = CliRunner().invoke(
        keys_group,
        ["tls-ca", "--dir", str(consortium.path), "--passphrase-file", str(pw_file)],
    )
    assert result.exit_code == 0, result.output
    load_ca(consortium.path, pw)
    again = CliRunner().invoke(
        keys_group,
        ["tls-ca", "--dir", str(consortium.path), "--passphrase-file", str(pw_file)],
    )
    assert again.exit_code == 1
    assert "not replaced" in again.output


def test_node_init_with_tls_writes_the_certificate_and_turns_tls_on(
    consortium: Consortium, pw: str, tmp_path: Path
) -> None:
    data = tmp_path / "apo"
    result = CliRunner().invoke(
        node_group,
        [
            "init",
            "--data",
            str(data),
            "--consortium",
            str(consortium.path),
            "--feed",
            "apo/main",
            "--tls",
            "--tls-host",
            "apo.example",
        ],
        env={"MEDTRACE_PASSPHRASE": pw},
    )
    assert result.exit_code == 0, result.output
    assert load_config(data).tls is True
    assert json.loads((data / "node.json").read_text())["tls"] is True
    cert = read_certificate(data / "tls.crt")
    assert certificate_organisation(cert) == "apo"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["apo.example"]
    plain = tmp_path / "plain"
    result = CliRunner().invoke(
        node_group,
        ["init", "--data", str(plain), "--consortium", str(consortium.path), "--feed", "apo/main"],
        env={"MEDTRACE_PASSPHRASE": pw},
    )
    assert result.exit_code == 0, result.output
    assert load_config(plain).tls is False
    assert not (plain / "tls.key").exists()
