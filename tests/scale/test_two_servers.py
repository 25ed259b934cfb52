"""Two `medtrace node run` servers of one node on one real PostgreSQL database (issue 19,
ADR 0021): one replicator between them, handed over when its server dies; one bucket and one
harvest count per token; a revocation refused by both within 1 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from medtrace.demo.scenario import EXPIRY, GTIN
from node.localnet.network import NODE_FEEDS, create_consortium
from node.store import Store
from node.store.leader import REPLICATOR_LOCK
from node.tokens import Tokens
from tests.scale.conftest import PASSPHRASE, Server, TwoServers, TwoServersFactory

pytestmark = pytest.mark.postgres


def _replicating(servers: TwoServers) -> list[Server]:
    """The servers whose log says one of their processes started the replicator (and has not
    lost its lock since)."""
    return [
        s
        for s in servers.servers
        if len(s.events("replicator started")) > len(s.events("replicator lost its lock"))
    ]


def _lock_holders(servers: TwoServers) -> int:
    with servers.store() as store, store.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objid = :key"
                ),
                {"key": REPLICATOR_LOCK},
            ).scalar_one()
        )


def _wait_for(condition: Callable[[], object], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _token(servers: TwoServers, role: str = "verifier") -> tuple[str, int]:
    with servers.store() as store:
        token, info = Tokens(store).create("scanner-1", role)
    return token, info.id


def test_two_servers_replicate_once(two_servers: TwoServersFactory) -> None:
    servers = two_servers()
    _wait_for(lambda: _replicating(servers), 15)
    time.sleep(3)  # the standbys have asked again (retry every 1 s here) and lost
    owners = _replicating(servers)
    assert len(owners) == 1, [s.events("replicator started") for s in servers.servers]
    assert len(owners[0].events("replicator started")) == 1  # one of its two workers
    assert _lock_holders(servers) == 1


def test_replicator_moves_when_its_server_dies(two_servers: TwoServersFactory) -> None:
    servers = two_servers()
    _wait_for(lambda: _replicating(servers), 15)
    (owner,) = _replicating(servers)
    (other,) = [s for s in servers.servers if s is not owner]
    owner.kill()
    moved = _wait_for(lambda: other.events("replicator started"), 10)
    print(f"replicator moved to the other server {moved:.1f} s after SIGKILL")
    assert _lock_holders(servers) == 1


def test_rate_limit_holds_across_servers(two_servers: TwoServersFactory) -> None:
    servers = two_servers(verify_rate_per_minute=20)
    token, _ = _token(servers)
    statuses = [
        servers.get(servers.servers[i % 2], "/api/v1/alerts", token).status_code for i in range(60)
    ]
    allowed = statuses.count(200)
    assert statuses.count(429) == 60 - allowed
    # 20 in the burst, one more per 3 s: four worker processes counting apart allow up to 80
    assert 20 <= allowed <= 22, statuses


def test_serial_harvesting_is_counted_across_servers(two_servers: TwoServersFactory) -> None:
    servers = two_servers(harvest_max_unknown=6, harvest_window_s=600)
    token, token_id = _token(servers)
    answers = [
        servers.get(servers.servers[i % 2], f"/api/v1/packs/{GTIN}/NOSUCH{i:04d}", token)
        for i in range(12)
    ]
    assert [a.status_code for a in answers[:6]] == [404] * 6
    for answer in answers[6:]:
        assert answer.status_code == 429
        assert answer.json()["code"] == "serial_harvesting"
    with servers.store() as store:
        alerts = store.node_alert_table().find(code="serial_harvesting")
    assert len(alerts) == 1, alerts
    assert f":{token_id}" in alerts[0].subject


def test_revoked_token_refused_by_every_server_within_1s(two_servers: TwoServersFactory) -> None:
    servers = two_servers(verify_rate_per_minute=100_000)
    token, token_id = _token(servers)
    for _ in range(8):  # every worker of both servers has read the token
        for server in servers.servers:
            assert servers.get(server, "/api/v1/alerts", token).status_code == 200
    with servers.store() as store:
        assert Tokens(store).revoke(token_id) == 1  # another process: the CLI's way
    revoked = time.monotonic()
    seen: list[tuple[float, str, int]] = []
    while time.monotonic() - revoked < 2.0:
        for server in servers.servers:
            sent = time.monotonic() - revoked
            seen.append(
                (sent, server.url, servers.get(server, "/api/v1/alerts", token).status_code)
            )
    late = [s for s in seen if s[0] >= 1.0 and s[2] != 401]
    assert not late, late
    served = [s for s in seen if s[2] == 200]
    print(f"last 200 after revocation at {max((s[0] for s in served), default=0):.3f} s")
    assert {url for sent, url, _ in seen if sent >= 1.0} == {s.url for s in servers.servers}


def test_a_replicator_whose_database_session_ends_stops_replicating(
    two_servers: TwoServersFactory,
) -> None:
    servers = two_servers()
    _wait_for(lambda: _replicating(servers), 15)
    (owner,) = _replicating(servers)
    with servers.store() as store, store.engine.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND objid = :key"
            ),
            {"key": REPLICATOR_LOCK},
        ).all()
    assert ended == [(True,)]
    _wait_for(lambda: owner.events("replicator lost its lock"), 5)
    _wait_for(lambda: _lock_holders(servers) == 1, 5)
    time.sleep(2)
    assert len(_replicating(servers)) == 1
    assert _lock_holders(servers) == 1


def test_verification_reads_go_to_the_read_replica_and_writes_never(
    two_servers: TwoServersFactory, new_database: Callable[[], str]
) -> None:
    # A stand-in for a streaming replica that has not caught up: its own, empty database.
    replica = new_database()
    Store(replica).close()
    servers = two_servers(database_read_url=replica)
    verifier, _ = _token(servers)
    operator, _ = _token(servers, "operator")
    server = servers.servers[0]
    body = {"gtin": GTIN, "lot": "R1", "expiry": EXPIRY, "serials": ["R0001"]}
    written = requests.post(
        server.url + "/api/v1/commission",
        json=body,
        headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    )
    assert written.status_code == 201, written.text
    assert servers.get(server, f"/api/v1/packs/{GTIN}/R0001", verifier).status_code == 404
    feeds = servers.get(server, "/api/v1/feeds", operator).json()["feeds"]
    assert feeds["manufacturer/line-1"]["size"] >= 1  # the primary holds the write
    with Store(replica) as store:
        assert store.count("entries") == 0


def test_both_servers_write_one_feed_without_forking_it(two_servers: TwoServersFactory) -> None:
    servers = two_servers()
    operator, _ = _token(servers, "operator")
    for i in range(8):  # alternately, each server signing after the head the other stored
        server = servers.servers[i % 2]
        body = {"gtin": GTIN, "lot": f"W{i}", "expiry": EXPIRY, "serials": [f"W{i:04d}"]}
        written = requests.post(
            server.url + "/api/v1/commission",
            json=body,
            headers={"Authorization": f"Bearer {operator}"},
            timeout=30,
        )
        assert written.status_code == 201, written.text
    with servers.store() as store:
        assert store.heads()["manufacturer/line-1"].size == 8
        assert store.forks() == []
        assert store.count("packs") == 8


def test_a_membership_change_reaches_every_server_within_1s(
    two_servers: TwoServersFactory, tmp_path: Path
) -> None:
    own = create_consortium(tmp_path / "own-consortium", PASSPHRASE)  # this test changes it
    servers = two_servers(own)
    operator, _ = _token(servers, "operator")

    def commission(server: Server, serial: str) -> int:
        body = {"gtin": GTIN, "lot": "M1", "expiry": EXPIRY, "serials": [serial]}
        return requests.post(
            server.url + "/api/v1/commission",
            json=body,
            headers={"Authorization": f"Bearer {operator}"},
            timeout=30,
        ).status_code

    for i, server in enumerate(servers.servers * 4):  # every worker has read the membership
        assert commission(server, f"M{i:04d}") == 201
    revoked = own.revoke_feed(NODE_FEEDS["manufacturer"], 0, PASSPHRASE)
    with servers.store() as store:
        store.save_membership(revoked)  # as the replicator stores a version a peer had
    changed = time.monotonic()
    seen: list[tuple[float, str, int]] = []
    n = 0
    while time.monotonic() - changed < 2.0:
        for server in servers.servers:
            n += 1
            sent = time.monotonic() - changed
            seen.append((sent, server.url, commission(server, f"N{n:04d}")))
    late = [s for s in seen if s[0] >= 1.0 and s[2] == 201]
    assert not late, late
    assert {url for sent, url, _ in seen if sent >= 1.0} == {s.url for s in servers.servers}
