"""Real node processes serving HTTPS with certificates from one consortium's CA, peered with each
other, under each server (granian, the default, and gunicorn on request); the feed keys a peer,
an attacker or a careless operator might sign with; and another consortium's CA."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV
from keys.tls import NodeTlsFiles, issue_node_files
from keys.tls_contexts import client_context
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.https import tls_session
from node.localnet.processes import free_port
from node.process import NodeProcess
from node.replication.signed_requests import COVERED, LABEL, TAG
from node.store import Store
from node.tokens import Tokens
from tests.nodes_setup import Member, make_consortium

PASSPHRASE = "mtls tests: correct horse battery staple"
GTIN = "04012345000016"
#: acme and apo run nodes, dist does not; apo's second feed "old-till" is revoked (membership v2)
ORGS: dict[str, Member] = {
    "acme": Member("manufacturer", ("line-1",), ("4012345",)),
    "apo": Member("pharmacy", ("counter", "old-till")),
    "dist": Member("distributor", ("wh",)),
}
REVOKED_FEED = "apo/old-till"
NODES = ("acme", "apo")
SERVERS = ("granian", "gunicorn")
START_TIMEOUT_S = 60.0


@dataclass
class TlsWorld:
    root: Path
    consortium: Consortium
    nodes: dict[str, NodeProcess]
    server: str
    #: issuing node -> {token name: token}; "peer@apo" at acme is the token apo pulls with
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    #: another consortium's CA certificate
    rogue_ca: Path = Path()

    @property
    def ca(self) -> Path:
        return NodeTlsFiles.in_dir(self.nodes["acme"].data).ca

    def context(self) -> ssl.SSLContext:
        """A client trusting the consortium CA only, showing no certificate."""
        return client_context(self.ca)

    def session(self) -> requests.Session:
        return tls_session(self.context())

    def url(self, node: str) -> str:
        return self.nodes[node].url

    def feed_key(self, feed: str) -> Ed25519PrivateKey:
        return self.consortium.feed_key(feed, PASSPHRASE)


def sign(
    prepared: requests.PreparedRequest,
    feed: str,
    key: Ed25519PrivateKey,
    *,
    created: dt.datetime | None = None,
    covered: Sequence[str] = COVERED,
) -> requests.PreparedRequest:
    """``prepared`` signed as a node signs (docs/spec/replication.md), with what a test changes."""
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={feed: key}),
    ).sign(
        prepared,
        key_id=feed,
        created=created or dt.datetime.now(dt.UTC),
        label=LABEL,
        tag=TAG,
        covered_component_ids=covered,
    )
    return prepared


def commission(http: requests.Session, url: str, operator: str, lot: str, count: int) -> list[str]:
    """``count`` packs of ``GTIN`` commissioned at the node at ``url``: their serials."""
    made = http.post(
        f"{url}/api/v1/commission",
        json={"gtin": GTIN, "lot": lot, "expiry": "2030-12-31", "count": count},
        headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    serials: list[str] = made.json()["serials"]
    return serials


def init_tls_nodes(
    root: Path, consortium: Consortium, names: Sequence[str], server: str, *, workers: int = 1
) -> tuple[dict[str, NodeProcess], dict[str, dict[str, str]]]:
    """Data directories of TLS nodes ``names`` (``workers`` times 4 threads), each peered with the
    others, and the processes that will serve them (not started)."""
    ports = {name: free_port() for name in names}
    tokens: dict[str, dict[str, str]] = {}
    for name in names:
        data = root / "nodes" / name
        config = NodeConfig(
            name=name,
            feed=f"{name}/{ORGS[name].feeds[0]}",
            genesis_id=consortium.genesis_id,
            port=ports[name],
            replication_interval_s=3600.0,  # the tests pull when they decide to
            workers=workers,
            threads=4,
            tls=True,
            server=server,
        )
        init_node(data, consortium, config, PASSPHRASE.encode(), keep_passphrase=True)
        with Store(config.database_url(data)) as store:
            issued = Tokens(store)
            tokens[name] = {
                "operator": issued.create("operator-1", "operator")[0],
                "verifier": issued.create("scanner-1", "verifier")[0],
                **{f"peer@{o}": issued.create(f"peer@{o}", "peer")[0] for o in ORGS if o != name},
            }
    for name in names:
        data = root / "nodes" / name
        peers = tuple(
            PeerConfig(o, f"https://127.0.0.1:{ports[o]}", tokens[o][f"peer@{name}"])
            for o in names
            if o != name
        )
        save_config(data, replace(load_config(data), peers=peers))
    processes = {
        name: NodeProcess(name, root / "nodes" / name, f"https://127.0.0.1:{ports[name]}")
        for name in names
    }
    return processes, tokens


def tls_consortium(root: Path) -> Consortium:
    """The consortium of ``ORGS``, with ``REVOKED_FEED`` revoked from its first entry on."""
    consortium = make_consortium(root / "consortium", "mTLS tests", ORGS, PASSPHRASE)
    consortium.revoke_feed(REVOKED_FEED, 0, PASSPHRASE)
    return consortium


@contextmanager
def running(nodes: dict[str, NodeProcess]) -> Iterator[None]:
    """Start every node, wait until each answers, and stop them all afterwards."""
    try:
        for node in nodes.values():
            node.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        for node in nodes.values():
            node.wait_healthy(deadline)
        yield
    finally:
        for node in nodes.values():
            node.stop()


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="module", params=SERVERS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsWorld]:
    server = str(request.param)
    root = tmp_path_factory.mktemp(f"tls-{server}")
    consortium = tls_consortium(root)
    rogue = make_consortium(root / "rogue-consortium", "Another consortium", ORGS, PASSPHRASE)
    issue_node_files(rogue.path, "apo", ["127.0.0.1"], root / "certs" / "rogue-apo", PASSPHRASE)
    nodes, tokens = init_tls_nodes(root, consortium, NODES, server)
    rogue_ca = NodeTlsFiles.in_dir(root / "certs" / "rogue-apo").ca
    with running(nodes):
        yield TlsWorld(root, consortium, nodes, server, tokens, rogue_ca)
