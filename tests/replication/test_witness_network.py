"""Four real ``medtrace node run`` processes (HTTPS, signed peer requests) write, replicate and
witness each other's feeds: every feed's checkpoint ends up signed by its writer and cosigned by
the three other nodes, served by any node, and meets the membership's witness policy with an
inclusion proof for every entry (docs/spec/proofs.md, "Checkpoints of feeds")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from bench.nodes import Cluster, consortium
from keys.consortium import Consortium
from ledger.action import Action
from ledger.entry import SignedEntry
from ledger.feedlog import InclusionProof
from ledger.identifiers import lot_uri, pack_uri
from ledger.kinds import Kind, Role
from ledger.witness import open_feed_checkpoint, verify_witnessed_checkpoint
from node.https import ca_session
from node.localnet.http_actor import HttpNode

ORGS = ("manufacturer", "distributor", "pharmacy", "regulator")
GTIN = "09506000134352"
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Consortium]]:
    root = tmp_path_factory.mktemp("witness")
    made = consortium(root)
    with Cluster(root, made) as cluster:
        for org in ORGS:
            cluster.add(org, org, workers=1, tls=True)
        cluster.peer_all()
        cluster.start()
        yield cluster, made


def actor(cluster: Cluster, org: str) -> HttpNode:
    node = cluster.nodes[org]
    return HttpNode(
        org,
        Role(org),
        node.feed,
        node.url,
        node.operator,
        node.verifier,
        session=ca_session(node.ca),
    )


def sync_until(node: HttpNode, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        node.sync()
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{node.name}: expected {what} within {DEADLINE_S} s")


def get(session: requests.Session, url: str, token: str) -> requests.Response:
    return session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_four_nodes_cosign_every_feed(network: tuple[Cluster, Consortium]) -> None:
    cluster, made = network
    mfr, dist, pharmacy, reg = (actor(cluster, org) for org in ORGS)
    serials = mfr.commission(GTIN, "W1", "2028-06-30", 3).serials
    pack = pack_uri(GTIN, serials[0])
    ship = mfr.submit(Action(Kind.SHIP, (pack,), body={"destination": "distributor"}))
    sync_until(dist, lambda: ship.id in {e.id for e in dist.provenance(pack)}, "the shipment")
    received = dist.submit(Action(Kind.RECEIVE, (pack,), (ship.id,)))
    ship2 = dist.submit(Action(Kind.SHIP, (pack,), body={"destination": "pharmacy"}))
    sync_until(
        pharmacy, lambda: {ship.id, ship2.id} <= {e.id for e in pharmacy.provenance(pack)}, "it"
    )
    pharmacy.submit(Action(Kind.RECEIVE, (pack,), (ship2.id,)))
    sync_until(
        reg, lambda: {ship.id, received.id} <= {e.id for e in reg.provenance(pack)}, "the lot"
    )
    reg.submit(Action(Kind.RECALL, (lot_uri(GTIN, "W1"),)))

    feeds = {org: cluster.nodes[org].feed for org in ORGS}
    membership = made.membership
    genesis = made.genesis_id
    sessions = {org: ca_session(cluster.nodes[org].ca) for org in ORGS}

    def witnessed() -> dict[str, bytes] | None:
        """Each feed's checkpoint as every node serves it, once all are complete."""
        notes: dict[str, bytes] = {}
        for server in ORGS:
            node = cluster.nodes[server]
            heads = {
                f: h["size"]
                for f, h in get(sessions[server], f"{node.url}/api/v1/feeds", node.operator)
                .json()["feeds"]
                .items()
            }
            for org, feed in feeds.items():
                answer = get(
                    sessions[server], f"{node.url}/api/v1/feeds/{feed}/checkpoint", node.verifier
                )
                if answer.status_code != 200:
                    return None
                opened = open_feed_checkpoint(membership, genesis, answer.content)
                if opened.checkpoint.size != heads.get(feed) or len(opened.cosigned) < 3:
                    return None
                assert org not in opened.cosigned  # a writer never witnesses itself
                notes[feed] = answer.content
        return notes

    deadline = time.monotonic() + DEADLINE_S
    notes = witnessed()
    while notes is None and time.monotonic() < deadline:
        time.sleep(0.3)
        notes = witnessed()
    assert notes is not None, "expected every feed cosigned by the three other nodes"

    # A scanner's check at one node: the policy is met and every entry is included.
    node = cluster.nodes["pharmacy"]
    for feed, note in notes.items():
        size = open_feed_checkpoint(membership, genesis, note).checkpoint.size
        page = get(
            sessions["pharmacy"],
            f"{node.url}/api/v1/feeds/{feed}/entries?from=0&limit={size}",
            node.operator,
        ).json()["entries"]
        included = []
        for wire in page:
            entry = SignedEntry.from_wire(wire)
            url = f"{node.url}/api/v1/feeds/{feed}/proof?seq={entry.payload.seq}&size={size}"
            proof = get(sessions["pharmacy"], url, node.verifier).json()
            assert proof["entry"] == entry.id
            included.append((entry, InclusionProof.from_json(proof)))
        checked = verify_witnessed_checkpoint(membership, genesis, note, int(time.time()), included)
        assert checked.age_s < 60
        assert len(checked.cosigned) == 3

    # The network view says how fresh the witnessed history is (api/network.py).
    view = get(sessions["pharmacy"], f"{node.url}/api/v1/network", node.operator).json()
    assert view["newest_cosigned_checkpoint_age_s"] is not None
    assert view["newest_cosigned_checkpoint_age_s"] < 60
    assert {c["feed"] for c in view["checkpoints"] if c["cosigners"] >= 3} == set(feeds.values())

    # Consistency between two sizes of the manufacturer's feed, as served.
    url = f"{node.url}/api/v1/feeds/{feeds['manufacturer']}/consistency?from=1&to=2"
    answer = get(sessions["pharmacy"], url, node.verifier).json()
    assert answer["from"] == 1
    assert answer["to"] == 2
    assert len(answer["proof"]) == 1
    missing = get(
        sessions["pharmacy"], f"{node.url}/api/v1/feeds/nobody/site/checkpoint", node.verifier
    )
    assert missing.status_code == 404
    assert "expected a checkpoint of feed 'nobody/site'" in missing.json()["detail"]
