"""Two real node processes serving HTTPS with certificates from one consortium's CA, peered with
each other over mutual TLS, and the certificates an attacker or a careless operator might hold:
another organisation's, one from another consortium's CA, an expired one."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import requests

from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV, ensure_private_dir
from keys.tls import (
    NodeTlsFiles,
    client_context,
    generate_tls_key,
    issue_node_certificate,
    issue_node_files,
    load_ca,
    write_certificate,
    write_tls_key,
)
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.demo.processes import free_port
from node.https import tls_session
from node.init import init_node
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens
from tests.nodes_setup import Member, make_consortium

PASSPHRASE = "mtls tests: correct horse battery staple"
GTIN = "04012345000016"
#: acme and apo run nodes, dist only holds a certificate
ORGS: dict[str, Member] = {
    "acme": Member("manufacturer", ("line-1",), ("4012345",)),
    "apo": Member("pharmacy", ("counter",)),
    "dist": Member("distributor", ("wh",)),
}
NODES = ("acme", "apo")
START_TIMEOUT_S = 60.0


@dataclass
class TlsWorld:
    root: Path
    consortium: Consortium
    nodes: dict[str, NodeProcess]
    #: issuing node -> {token name: token}; "peer@apo" at acme is the token apo pulls with
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    #: client identities: name -> the certificate files a client may present
    identities: dict[str, NodeTlsFiles] = field(default_factory=dict)

    @property
    def ca(self) -> Path:
        return NodeTlsFiles.in_dir(self.nodes["acme"].data).ca

    def context(self, identity: str | None = None) -> ssl.SSLContext:
        """A client trusting the consortium CA, showing ``identity``'s certificate if named."""
        files = self.identities[identity] if identity is not None else None
        return client_context(self.ca, identity=files, passphrase=PASSPHRASE)

    def session(self, identity: str | None = None) -> requests.Session:
        return tls_session(self.context(identity))

    def url(self, node: str) -> str:
        return self.nodes[node].url


def _expired_identity(consortium: Consortium, out: Path) -> NodeTlsFiles:
    """apo's certificate, from the right CA, that expired a month ago."""
    ca_cert, ca_key = load_ca(consortium.path, PASSPHRASE)
    key = generate_tls_key()
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    cert = issue_node_certificate(
        ca_cert, ca_key, "apo", ["127.0.0.1"], key.public_key(), now=then, days=10
    )
    files = NodeTlsFiles.in_dir(out)
    ensure_private_dir(out)
    write_tls_key(files.key, key, PASSPHRASE)
    write_certificate(files.cert, cert)
    write_certificate(files.ca, ca_cert)
    return files


def _init_nodes(root: Path, consortium: Consortium) -> dict[str, dict[str, str]]:
    ports = {name: free_port() for name in NODES}
    tokens: dict[str, dict[str, str]] = {}
    for name in NODES:
        data = root / "nodes" / name
        config = NodeConfig(
            name=name,
            feed=f"{name}/{ORGS[name].feeds[0]}",
            genesis_id=consortium.genesis_id,
            port=ports[name],
            replication_interval_s=3600.0,  # the tests pull when they decide to
            workers=1,
            threads=4,
            tls=True,
        )
        init_node(data, consortium, config, PASSPHRASE.encode(), keep_passphrase=True)
        with Store(config.database_url(data)) as store:
            issued = Tokens(store)
            tokens[name] = {
                "operator": issued.create("operator-1", "operator")[0],
                "verifier": issued.create("scanner-1", "verifier")[0],
                **{f"peer@{o}": issued.create(f"peer@{o}", "peer")[0] for o in NODES if o != name},
            }
    for name in NODES:
        data = root / "nodes" / name
        peers = tuple(
            PeerConfig(o, f"https://127.0.0.1:{ports[o]}", tokens[o][f"peer@{name}"])
            for o in NODES
            if o != name
        )
        save_config(data, replace(load_config(data), peers=peers))
    return tokens


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    root = tmp_path_factory.mktemp("mtls")
    consortium = make_consortium(root / "consortium", "mTLS tests", ORGS, PASSPHRASE)
    rogue = make_consortium(root / "rogue-consortium", "Another consortium", ORGS, PASSPHRASE)
    tokens = _init_nodes(root, consortium)
    nodes = {
        name: NodeProcess(
            name,
            root / "nodes" / name,
            f"https://127.0.0.1:{load_config(root / 'nodes' / name).port}",
        )
        for name in NODES
    }
    identities = {name: NodeTlsFiles.in_dir(root / "nodes" / name) for name in NODES}
    certs = root / "certs"
    issue_node_files(consortium.path, "dist", ["127.0.0.1"], certs / "dist", PASSPHRASE)
    identities["dist"] = NodeTlsFiles.in_dir(certs / "dist")
    issue_node_files(rogue.path, "apo", ["127.0.0.1"], certs / "rogue-apo", PASSPHRASE)
    identities["rogue-apo"] = NodeTlsFiles.in_dir(certs / "rogue-apo")
    identities["expired-apo"] = _expired_identity(consortium, certs / "expired-apo")
    world = TlsWorld(root, consortium, nodes, tokens, identities)
    try:
        for node in nodes.values():
            node.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        for node in nodes.values():
            node.wait_healthy(deadline)
        yield world
    finally:
        for node in nodes.values():
            node.stop()
