"""Peers prove their organisation by signing their requests (ADR 0015), against two real node
processes serving HTTPS, under granian and under gunicorn.

What a TLS node refuses, and how:
* a replication request with a peer token that is not signed, or not by a current key of a feed
  of the token's organisation, or signed for another request or too long ago: HTTP 403 problem
  details before the endpoint runs (other tokens sign nothing);
* a client that does not trust the consortium CA, or speaks plain HTTP: no answer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from keys.tls_contexts import client_context
from medtrace.cli.scan import scan_command
from node.https import tls_session
from node.replication.http_peer import HttpPeer, PeerError
from node.replication.signed_requests import MAX_SKEW_S, RequestSigner
from tests.tls.conftest import GTIN, REVOKED_FEED, TlsWorld, commission, sign

PROBLEM_JSON = "application/problem+json"
APO = "apo/counter"  # apo's node's feed: its key signs apo's requests


def test_two_nodes_replicate_over_tls_with_signed_requests(world: TlsWorld) -> None:
    acme, apo = world.tokens["acme"], world.tokens["apo"]
    with world.session() as http:
        commission(http, world.url("acme"), acme["operator"], "TLS1", 3)
        # apo pulls from acme now: over HTTPS, with acme's peer token, signed with apo's feed key
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


#: How a test client prepares its request: (world, the prepared request) -> the request to send.
Signing = Callable[[TlsWorld, requests.PreparedRequest], requests.PreparedRequest]


def _own(world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    return sign(request, APO, world.feed_key(APO))


def _unsigned(_world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _another_organisation(
    world: TlsWorld, request: requests.PreparedRequest
) -> requests.PreparedRequest:
    return sign(request, "dist/wh", world.feed_key("dist/wh"))


def _over_another_path(
    world: TlsWorld, request: requests.PreparedRequest
) -> requests.PreparedRequest:
    """apo's own signature, taken from a request for another path and put on this one."""
    assert request.url is not None
    other = "/api/v1/membership" if request.path_url != "/api/v1/membership" else "/api/v1/feeds"
    elsewhere = requests.Request(
        "GET", request.url.replace(request.path_url, other), headers=dict(request.headers)
    ).prepare()
    sign(elsewhere, APO, world.feed_key(APO))
    for name in ("Signature-Input", "Signature"):
        request.headers[name] = elsewhere.headers[name]
    return request


def _stale(world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=MAX_SKEW_S + 60)
    return sign(request, APO, world.feed_key(APO), created=then)


def _revoked_key(world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    return sign(request, REVOKED_FEED, world.feed_key(REVOKED_FEED))


def _forged_keyid(world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    """apo's feed named as the keyid, the signature made with dist's key."""
    return sign(request, APO, world.feed_key("dist/wh"))


def _unlisted_keyid(world: TlsWorld, request: requests.PreparedRequest) -> requests.PreparedRequest:
    return sign(request, "apo/ghost", world.feed_key(APO))


def _token_not_covered(
    world: TlsWorld, request: requests.PreparedRequest
) -> requests.PreparedRequest:
    return sign(request, APO, world.feed_key(APO), covered=("@method", "@path", "@query"))


@dataclass(frozen=True)
class Case:
    scenario: str
    signing: Signing
    outcome: str  # "ok", or "403 <words in the detail>"


CASES = [
    Case("apo's peer token signed by apo's node", _own, "ok"),
    Case("no signature", _unsigned, "403 found none"),
    Case(
        "signed by another organisation's feed", _another_organisation, "403 of organisation 'apo'"
    ),
    Case("apo's signature over another path", _over_another_path, "403 does not verify"),
    Case("a signature created over 5 minutes ago", _stale, f"403 within {MAX_SKEW_S} s"),
    Case("signed by a revoked feed key of apo", _revoked_key, "403 keys are revoked"),
    Case("apo's feed as keyid, dist's key", _forged_keyid, "403 does not verify"),
    Case("a keyid the membership does not list", _unlisted_keyid, "403 does not list"),
    Case("a signature that leaves out the token", _token_not_covered, "403 authorization"),
]


@pytest.mark.parametrize("path", ["/api/v1/feeds", "/api/v1/membership"])
@pytest.mark.parametrize("case", CASES, ids=[c.scenario for c in CASES])
def test_replication_with_a_peer_token_needs_its_organisations_signature(
    world: TlsWorld, case: Case, path: str
) -> None:
    token = world.tokens["acme"]["peer@apo"]
    request = requests.Request(
        "GET", world.url("acme") + path, headers={"Authorization": f"Bearer {token}"}
    ).prepare()
    with world.session() as http:
        answer = http.send(case.signing(world, request), timeout=30)
    if case.outcome == "ok":
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 403, answer.text
    assert answer.headers["Content-Type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["type"] == "urn:medtrace:problem:forbidden"
    assert case.outcome.removeprefix("403 ") in problem["detail"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("signing", "status"),
    [(_own, 202), (_another_organisation, 403), (_unsigned, 403)],
    ids=["signed by apo", "signed by another organisation", "not signed"],
)
def test_a_push_hint_with_a_peer_token_needs_its_organisations_signature(
    world: TlsWorld, signing: Signing, status: int
) -> None:
    request = requests.Request(
        "POST",
        f"{world.url('acme')}/api/v1/replication/hint",
        json={"peer": "apo"},
        headers={"Authorization": f"Bearer {world.tokens['acme']['peer@apo']}"},
    ).prepare()
    with world.session() as http:
        answer = http.send(signing(world, request), timeout=30)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.headers["Content-Type"] == PROBLEM_JSON


def test_the_replication_client_signs_and_a_stolen_token_alone_fails(world: TlsWorld) -> None:
    """The HttpPeer the replicator uses: signing with apo's feed key it reads acme's heads; the
    same token from a client that cannot sign gets a 403, which HttpPeer reports as a PeerError."""
    token = world.tokens["acme"]["peer@apo"]
    signer = RequestSigner(APO, world.feed_key(APO))
    with HttpPeer("acme", world.url("acme"), token, tls=world.context(), signer=signer) as peer:
        peer.heads()
        assert peer.node == "acme"
    with (
        HttpPeer("acme", world.url("acme"), token, session=world.session()) as thief,
        pytest.raises(PeerError, match="HTTP 403"),
    ):
        thief.heads()


def test_clients_that_are_not_nodes_need_only_their_token(world: TlsWorld) -> None:
    """A browser, a scanner, an operator: server authentication and a bearer token, no
    certificate and no signature."""
    with world.session() as http:
        health = http.get(f"{world.url('acme')}/healthz", timeout=30)
        feeds = http.get(
            f"{world.url('acme')}/api/v1/feeds",
            headers={"Authorization": f"Bearer {world.tokens['acme']['operator']}"},
            timeout=30,
        )
    assert health.status_code == 200
    assert feeds.status_code == 200


@pytest.mark.parametrize("trust", ["another consortium's CA", "the system's CAs"])
def test_a_node_is_trusted_only_through_the_consortium_ca(world: TlsWorld, trust: str) -> None:
    if trust == "the system's CAs":
        session = requests.Session()
    else:
        session = tls_session(client_context(world.rogue_ca))
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
        assert "panicked" not in log
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
