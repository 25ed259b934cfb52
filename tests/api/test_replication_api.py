"""Replication endpoints, and the replicator's place in the node (one owner, relayed hints)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import medtrace.app as node_app
from keys.consortium import Consortium
from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.membership import Membership, SignedMembership
from node.config import PeerConfig
from node.logs import node_logger
from node.replication.host import ReplicationHost, ReplicatorFactory
from node.store import IngestReport, Store
from tests.api.conftest import GTIN, PASSPHRASE, Node, NodeFactory, pack

PEER = PeerConfig("dist", "http://127.0.0.1:9", "mt_" + "A" * 43)


class FakeReplicator:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def _record(self, name: str, arg: str | None = None) -> None:
        with self.lock:
            self.calls.append((name, arg))

    def start(self) -> None:
        self._record("start")

    def stop(self) -> None:
        self._record("stop")

    def hint(self, peer_name: str | None = None) -> None:
        self._record("hint", peer_name)

    def run_once(self) -> IngestReport:
        self._record("run_once")
        return IngestReport(
            added=3,
            duplicates=1,
            alerts=[Alert(Code.FORK, "x/y", "two entries", ("a", "b"))],
            rejected=[("e", "bad signature")],
        )

    def notify_peers(self) -> None:
        self._record("notify")

    def seen(self, name: str) -> list[str | None]:
        with self.lock:
            return [arg for call, arg in self.calls if call == name]


def factory_of(fake: FakeReplicator) -> ReplicatorFactory:
    def factory(
        store: Store,
        membership: Membership,
        peers: Sequence[PeerConfig],
        interval_s: float,
        self_name: str,
        on_membership: Callable[[Membership], None],
    ) -> FakeReplicator:
        assert list(peers) == [PEER]
        assert self_name == "acme"
        return fake

    return factory


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_feeds_entries_and_membership_serve_what_a_peer_needs(
    acme: Node, make_node: NodeFactory
) -> None:
    acme.post("/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 3})
    acme.post("/api/v1/commission", {"gtin": GTIN, "lot": "L2", "expiry": "2030-12-31", "count": 2})
    heads = acme.get("/api/v1/feeds", role="peer").get_json()
    assert heads["digest"] == acme.ctx.store.digest()
    assert heads["node"] == "acme"
    head = acme.ctx.store.head("acme/line-1")
    assert head is not None
    assert heads["feeds"] == {"acme/line-1": {"size": 2, "head": head.id, "frozen_at": None}}

    page = acme.get("/api/v1/feeds/acme/line-1/entries?from=1&limit=1", role="peer").get_json()
    assert page["feed"] == "acme/line-1"
    assert [SignedEntry.from_wire(w).payload.seq for w in page["entries"]] == [1]
    whole = acme.get("/api/v1/feeds/acme/line-1/entries", role="peer").get_json()["entries"]
    assert len(whole) == 2
    assert acme.get("/api/v1/feeds/zed/none/entries", role="peer").get_json()["entries"] == []

    dist = make_node("dist")
    report = dist.ctx.store.ingest([SignedEntry.from_wire(w) for w in whole], dist.ctx.membership)
    assert report.added == 2
    assert dist.ctx.store.digest() == heads["digest"]

    membership = acme.get("/api/v1/membership", role="peer").get_json()
    assert membership["genesis"] == acme.ctx.config.genesis_id
    versions = [SignedMembership.from_wire(v).membership.version for v in membership["versions"]]
    assert versions == [1, 2, 3, 4, 5, 6]


def test_writes_notify_peers_and_hints_and_sync_reach_the_replicator(
    make_node: NodeFactory,
) -> None:
    fake = FakeReplicator()
    node = make_node(
        "acme", peers=(PEER,), replicator_factory=factory_of(fake), start_replicator=True
    )
    assert fake.seen("start") == [None]
    node.post("/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 1})
    refused = node.post("/api/v1/actions/ship", {"subjects": [], "body": {"destination": "dist"}})
    assert refused.status_code == 400
    assert fake.seen("notify") == [None]  # only the successful write

    assert node.post("/api/v1/replication/hint", {"peer": "dist"}, role="peer").status_code == 202
    node.post("/api/v1/replication/hint", {"peer": "stranger"}, role="peer")
    node.post("/api/v1/replication/hint", {}, role="operator")
    assert fake.seen("hint") == ["dist", None, None]

    report = node.client.post("/api/v1/replication/sync", headers=node.auth()).get_json()
    assert report == {
        "added": 3,
        "duplicates": 1,
        "alerts": ["fork"],
        "rejected": 1,
        "forks": 0,
        "digest": node.ctx.store.digest(),
    }
    node.ctx.close()
    assert fake.seen("stop") == [None]


def test_sync_without_peers_reports_nothing_and_without_a_replicator_is_503(
    acme: Node, make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = acme.client.post("/api/v1/replication/sync", headers=acme.auth()).get_json()
    assert idle["added"] == 0
    assert idle["digest"] == acme.ctx.store.digest()
    monkeypatch.setattr(node_app, "load_replicator_factory", lambda log=None: None)
    stranded = make_node("acme", name="stranded", peers=(PEER,))
    response = stranded.client.post("/api/v1/replication/sync", headers=stranded.auth())
    assert response.status_code == 503
    accepted = stranded.post("/api/v1/replication/hint", {"peer": "dist"}, role="peer")
    assert accepted.status_code == 202
    assert accepted.get_json() == {"accepted": False}


def test_one_process_owns_the_loop_others_relay_and_take_over(tmp_path: Path) -> None:
    log = node_logger("relay-test")
    first, second = FakeReplicator(), FakeReplicator()
    owner = ReplicationHost(tmp_path, first, log, run=True, peers=["dist"], retry_s=0.05)
    standby = ReplicationHost(tmp_path, second, log, run=True, peers=["dist"], retry_s=0.05)
    try:
        assert owner.owner
        assert not standby.owner
        assert first.seen("start") == [None]
        assert second.seen("start") == []
        standby.notify()
        standby.hint("dist")
        standby.hint("stranger")
        eventually(lambda: first.seen("notify") == [None] and len(first.seen("hint")) == 2)
        assert first.seen("hint") == ["dist", None]
        assert second.calls == []

        owner.close()
        assert first.seen("stop") == [None]
        eventually(lambda: standby.owner)
        assert second.seen("start") == [None]
        standby.hint("dist")
        assert second.seen("hint") == ["dist"]
    finally:
        owner.close()
        standby.close()


def test_without_an_owner_calls_go_to_the_local_replicator(tmp_path: Path) -> None:
    fake = FakeReplicator()
    host = ReplicationHost(tmp_path, fake, node_logger("t"), run=False)
    try:
        host.notify()
        host.hint(None)
        assert fake.calls == [("notify", None), ("hint", None)]
        assert host.run_once().added == 3
    finally:
        host.close()


def test_a_membership_version_stored_by_another_process_is_adopted(
    acme: Node, consortium_dir: Path, tmp_path: Path
) -> None:
    """The replicator (in one worker) stores a new version; every worker's writer adopts it."""
    acme.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "serials": ["N1"]}
    )
    ship = {"subjects": [pack("N1")], "body": {"destination": "newco"}}
    assert acme.post("/api/v1/actions/ship", ship).status_code == 400  # not a member (yet)

    copy = tmp_path / "consortium"
    shutil.copytree(consortium_dir, copy)
    signed = Consortium.open(copy).add_organisation(
        "newco",
        name="New Co",
        role="distributor",
        gln="4000000000099",
        feeds=["wh"],
        passphrase=PASSPHRASE,
    )
    acme.ctx.store.save_membership(signed)
    acme.ctx.membership_check_s = 0.0
    response = acme.post("/api/v1/actions/ship", ship)
    assert response.status_code == 201, response.get_json()
    assert acme.ctx.membership.version == 7
    assert acme.ctx.service.membership.version == 7
    provenance = acme.get(f"/api/v1/packs/{GTIN}/N1/provenance").get_json()
    assert len(provenance["memberships"]) == 7
