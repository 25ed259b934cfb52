"""Crash consistency: node processes SIGKILLed (master and workers) at random moments while
they commission, aggregate, ship, receive and replicate; restarted on the same data.

The kill moments come from a seeded RNG: a failure names its seed, and
``MEDTRACE_CRASH_SEED=<seed>`` replays the same schedule (the timing of the node itself still
varies). A few kills run in ``make test``; ``make crash`` runs the slow suite (>= 50 kills).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.alerts import Code
from medtrace.demo.scenario import GTIN
from node.localnet.network import NODE_FEEDS
from node.verify import verify_store
from tests.reliability.harness import DISTRIBUTOR, EXPIRY, MANUFACTURER, Harness, Plan, Report
from tests.reliability.network import CrashNode, NetworkFactory

NAMES = (MANUFACTURER, DISTRIBUTOR)


def _run(network_factory: NetworkFactory, plan: Plan, **databases: str) -> Report:
    network = network_factory(*NAMES, databases=databases or None)
    network.start()
    report = Harness(network, plan).run()
    print(json.dumps(report.summary(), indent=2))
    return report


def _assert_kills_landed(report: Report, plan: Plan) -> None:
    assert report.kills == plan.kills
    # A run whose kills all fell between requests proves little: some must cut a write.
    assert report.kills_mid_write >= 1, report.summary()


def test_acknowledged_writes_survive_sigkill_mid_commission_aggregation_shipping_replication(
    make_network: NetworkFactory, seed: int
) -> None:
    plan = Plan(
        seed=seed,
        kills=3,
        delay_s=(0.2, 1.2),
        batch=500,
        chunk=50,
        commissioners=1,
        alternate=True,  # manufacturer, distributor, manufacturer
    )
    report = _run(make_network, plan)
    _assert_kills_landed(report, plan)


def _slow_plan(seed: int) -> Plan:
    """50 kills; verify_store (which re-verifies every entry) on the victim every 10th."""
    return Plan(seed=seed, kills=50, batch=500, chunk=50, pace_s=0.5, verify_every=10)


@pytest.mark.slow
def test_fifty_sigkills_on_sqlite_lose_no_acknowledged_entry_and_split_no_batch(
    make_network: NetworkFactory, seed: int
) -> None:
    plan = _slow_plan(seed)
    _assert_kills_landed(_run(make_network, plan), plan)


@pytest.mark.slow
@pytest.mark.postgres
def test_fifty_sigkills_on_postgresql_lose_no_acknowledged_entry_and_split_no_batch(
    make_network: NetworkFactory, postgres_databases: Callable[[str], str], seed: int
) -> None:
    plan = _slow_plan(seed)
    databases = {name: postgres_databases(name) for name in NAMES}
    _assert_kills_landed(_run(make_network, plan, **databases), plan)


def _commission(node: CrashNode, lot: str, count: int = 20) -> list[str]:
    body = {
        "gtin": GTIN,
        "lot": lot,
        "expiry": EXPIRY,
        "serials": [f"{lot}S{i}" for i in range(count)],
    }
    entries: list[str] = node.call("POST", "/api/v1/commission", body)["entries"]
    return entries


def _size(node: CrashNode, feed: str) -> int:
    return int(node.heads()["feeds"][feed]["size"])


def test_a_node_restored_from_an_older_copy_of_its_data_learns_its_head_before_signing(
    make_network: NetworkFactory, tmp_path: Path
) -> None:
    """SIGKILL, the data directory replaced by an older copy, restart: the node must take its
    newer entries back from its peer before it signs, so its next entry follows its real head
    instead of a second entry at a position the peer already holds (a self-fork).

    The peer is down while the restored node boots (its replication loop fails and backs off)
    and back just before the first write: only the catch-up before the first signature can
    save the node then, not a lucky early replication round."""
    network = make_network(*NAMES)
    network.start()
    maker, peer = network.nodes[MANUFACTURER], network.nodes[DISTRIBUTOR]
    feed = NODE_FEEDS[MANUFACTURER]
    acked = _commission(maker, "OLD")
    network.converge()
    maker.kill()
    backup = tmp_path / "backup"
    # A backup tool skips sockets (the killed node's relay socket is left behind).
    shutil.copytree(maker.data, backup, ignore=shutil.ignore_patterns("*.sock"))
    maker.start()
    acked += _commission(maker, "NEWER")
    network.converge()
    size = _size(maker, feed)
    assert size > _size(peer, feed) - 1 > 0

    maker.kill()
    peer.stop()
    shutil.rmtree(maker.data)
    shutil.copytree(backup, maker.data)
    maker.start()
    peer.start()
    acked += _commission(maker, "AFTER")  # the first write after the restore

    network.converge()
    assert _size(maker, feed) == size + 1, "expected the new entry right after the real head"
    network.stop()
    for node in network.nodes.values():
        with node.store() as store:
            assert not [h for h in store.heads().values() if h.frozen_at is not None]
            assert not store.alerts(code=Code.FORK.value)
            verify_store(store, network.membership)
            found = {e.id for e in store.entries_by_id(acked)}
            assert found == set(acked), f"{node.name} lacks acknowledged entries"
