"""Mutual TLS between nodes (ADR 0011), against two real node processes serving HTTPS.

What a node refuses, and how:
* a client certificate from another CA, or an expired one: the TLS handshake fails;
* no client certificate, or one of another organisation than the peer token's: HTTP 403
  problem details on every replication endpoint (other clients need no certificate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from keys.tls import client_context
from node.http_peer import HttpPeer, PeerError
from node.https import tls_session
from scanner.cli import scan_command
from tests.tls.conftest import GTIN, TlsWorld

PROBLEM_JSON = "application/problem+json"


def test_two_nodes_replicate_over_mutual_tls(world: TlsWorld) -> None:
    acme, apo = world.tokens["acme"], world.tokens["apo"]
    with world.session() as http:
        made = http.post(
            f"{world.url('acme')}/api/v1/commission",
            json={"gtin": GTIN, "lot": "TLS1", "expiry": "2030-12-31", "count": 3},
            headers={"Authorization": f"Bearer {acme['operator']}"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        # apo pulls from acme now: over HTTPS, showing apo's certificate with acme's peer token
        pulled = http.post(
            f"{world.url('apo')}/api/v1/replication/sync",
            headers={"Authorization": f"Bearer {apo['operator']}"},
            timeout=60,
        )
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["added"] >= 1
        digests = {
            node: http.get(
                f"{world.url(node)}/api/v1/feeds",
                headers={"Authorization": f"Bearer {world.tokens[node]['operator']}"},
                timeout=30,
            ).json()["digest"]
            for node in ("acme", "apo")
        }
    assert digests["acme"] == digests["apo"]


@dataclass(frozen=True)
class Peer:
    scenario: str
    identity: str | None  # the certificate the client shows (None: none)
    outcome: str  # "ok", "403 <words in the detail>", or "handshake"


PEERS = [
    Peer("apo's own certificate with apo's peer token", "apo", "ok"),
    Peer("no client certificate", None, "403 found none"),
    Peer("a certificate of another organisation (dist)", "dist", "403 of organisation 'apo'"),
    Peer("apo's name on a certificate from another consortium's CA", "rogue-apo", "handshake"),
    Peer("apo's certificate, expired", "expired-apo", "handshake"),
]


@pytest.mark.parametrize("path", ["/api/v1/feeds", "/api/v1/membership"])
@pytest.mark.parametrize("peer", PEERS, ids=[p.scenario for p in PEERS])
def test_replication_with_a_peer_token_needs_its_organisations_certificate(
    world: TlsWorld, peer: Peer, path: str
) -> None:
    token = world.tokens["acme"]["peer@apo"]
    with world.session(peer.identity) as http:
        if peer.outcome == "handshake":
            with pytest.raises(requests.exceptions.ConnectionError):
                http.get(
                    world.url("acme") + path,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )
            return
        answer = http.get(
            world.url("acme") + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    if peer.outcome == "ok":
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["type"] == "urn:medtrace:problem:forbidden"
    assert peer.outcome.removeprefix("403 ") in problem["detail"]
    assert "certificate" in problem["detail"]


@pytest.mark.parametrize("identity", ["dist", None], ids=["another organisation", "none"])
def test_a_push_hint_with_a_peer_token_but_not_its_certificate_is_refused(
    world: TlsWorld, identity: str | None
) -> None:
    with world.session(identity) as http:
        answer = http.post(
            f"{world.url('acme')}/api/v1/replication/hint",
            json={"peer": "apo"},
            headers={"Authorization": f"Bearer {world.tokens['acme']['peer@apo']}"},
            timeout=30,
        )
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == PROBLEM_JSON


def test_the_replication_client_presents_its_certificate_and_a_stolen_token_alone_fails(
    world: TlsWorld,
) -> None:
    """The HttpPeer the replicator uses: with apo's certificate it reads acme's heads; the same
    token from a client without it gets a 403, which HttpPeer reports as a PeerError."""
    token = world.tokens["acme"]["peer@apo"]
    with HttpPeer("acme", world.url("acme"), token, tls=world.context("apo")) as peer:
        peer.heads()
        assert peer.node == "acme"
    with (
        HttpPeer("acme", world.url("acme"), token, tls=world.context()) as thief,
        pytest.raises(PeerError, match="HTTP 403"),
    ):
        thief.heads()


def test_clients_without_a_certificate_need_only_their_token(world: TlsWorld) -> None:
    """A browser or a scanner: server authentication and a bearer token, no client cert."""
    with world.session() as http:
        health = http.get(f"{world.url('acme')}/healthz", timeout=30)
        feeds = http.get(
            f"{world.url('acme')}/api/v1/feeds",
            headers={"Authorization": f"Bearer {world.tokens['acme']['operator']}"},
            timeout=30,
        )
    assert health.status_code == 200
    assert feeds.status_code == 200


@pytest.mark.parametrize(
    "trust",
    ["another consortium's CA", "the system's CAs"],
)
def test_a_node_is_trusted_only_through_the_consortium_ca(world: TlsWorld, trust: str) -> None:
    if trust == "the system's CAs":
        session = requests.Session()
    else:
        rogue_ca = world.identities["rogue-apo"].ca
        session = tls_session(client_context(rogue_ca))
    with session, pytest.raises(requests.exceptions.SSLError):
        session.get(f"{world.url('acme')}/healthz", timeout=30)


def test_plain_http_to_a_tls_node_gets_no_answer(world: TlsWorld) -> None:
    plain = world.url("acme").replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/healthz", timeout=30)


def test_the_nodes_log_no_key_material_and_survive_refused_handshakes(world: TlsWorld) -> None:
    with world.session() as http:
        assert http.get(f"{world.url('acme')}/healthz", timeout=30).status_code == 200
    for node in world.nodes.values():
        assert not node.exited
        log = (node.data / "node.log").read_text()
        assert "PRIVATE KEY" not in log
        assert "Traceback" not in log
        body = b"".join(node.data.joinpath("tls.key").read_bytes().splitlines()[1:2])
        assert body.decode() not in log


def test_the_replication_spec_quotes_the_refusal_a_node_gives(world: TlsWorld) -> None:
    with world.session() as http:
        answer = http.get(
            f"{world.url('acme')}/api/v1/feeds",
            headers={"Authorization": f"Bearer {world.tokens['acme']['peer@apo']}"},
            timeout=30,
        )
    spec = Path(__file__).resolve().parents[2] / "docs" / "spec" / "replication.md"
    assert f'"detail": "{answer.json()["detail"]}"' in spec.read_text()


@pytest.mark.parametrize(
    ("trust", "unreachable"),
    [("--ca the consortium CA", False), ("no --ca (the system's CAs)", True)],
)
def test_the_scanner_reaches_a_tls_node_only_through_the_consortium_ca(
    world: TlsWorld, trust: str, unreachable: bool
) -> None:
    ca = ["--ca", str(world.ca)] if trust.startswith("--ca") else []
    genesis = world.consortium.genesis_id
    result = CliRunner().invoke(
        scan_command,
        [
            f"(01){GTIN}(17)301231(10)L1(21)NEVERMADE1",
            "--node",
            world.url("acme"),
            "--token",
            world.tokens["acme"]["verifier"],
            "--genesis",
            genesis,
            "--json",
            *ca,
        ],
    )
    verdict = json.loads(result.output.splitlines()[-1])
    assert verdict["verdict"] == "HOLD"
    codes = [r["code"] for r in verdict["reasons"]]
    assert ("ledger_unreachable" in codes) is unreachable
    assert ("unknown_pack" in codes) is not unreachable
