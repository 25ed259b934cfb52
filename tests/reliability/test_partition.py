"""Partitions: the network splits in two for a while, both sides write, then it heals.

Real node processes replicate through proxies (``faulty_link``) that a test cuts, makes lossy
(connections dropped, responses cut mid-page) or slow. What must hold once healed:

* every node holds the same ledger (one digest, the same heads);
* nothing acknowledged is lost: every entry a node answered 2xx for is present at every node;
* a fact that conflicts with one signed on the other side raises an alert, the same alert (same
  id, same evidence) at every node: a pack dispensed at both counters is a ``suspected_clone``,
  a pack shipped to two places is ``already_inactive`` for the second shipment;
* a border post with no link at all, which syncs only by bundle file (``medtrace sync``),
  catches up the same way, and a fact it signed offline raises its alert everywhere.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.faulty_link import UP, Mode, lossy
from tests.reliability.partition_net import (
    LINKED,
    NODES,
    SplitNetwork,
    Template,
    build,
    exchange_bundles,
    make_template,
    start,
    uri,
    wait_for,
)
from tests.replication.test_network import MEDTRACE

pytestmark = pytest.mark.skipif(
    not Path(MEDTRACE).exists(), reason="the medtrace command is not installed in this venv"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("partition-template"))


@pytest.fixture
def network(template: Template, tmp_path: Path) -> Iterator[SplitNetwork]:
    made = build(template, tmp_path)
    try:
        start(made)
        yield made
    finally:
        made.close()


def acked(entry: dict[str, Any] | None) -> dict[str, Any]:
    assert entry is not None, "a write this scenario needs was refused"
    return entry


def one_alert(network: SplitNetwork, node: str, code: str, serial: str) -> dict[str, Any]:
    found = network.alerts(node, code=code, subject=uri(serial))
    assert len(found) == 1, (node, code, found)
    return found[0]


def assert_one_ledger(network: SplitNetwork) -> None:
    """The same digest and heads everywhere, every acknowledged entry in it, the same alerts."""
    network.converged(list(NODES))
    acknowledged = {w.entry_id for w in network.written}
    alert_ids = {}
    for name in NODES:
        missing = acknowledged - network.entry_ids(name)
        assert not missing, f"{name} lost {len(missing)} acknowledged entries"
        alert_ids[name] = sorted(a["id"] for a in network.alerts(name))
    assert len({tuple(ids) for ids in alert_ids.values()}) == 1, alert_ids


def test_a_split_network_heals_to_one_ledger_with_an_alert_for_each_conflicting_fact(
    network: SplitNetwork, tmp_path: Path
) -> None:
    n = network
    bundles = tmp_path / "bundles"
    # Before the split: acme commissions, ships four packs to the pharmacy, counter a receives.
    serials = n.commission("a1", "SHARED", 6)
    shipped = acked(n.act("a1", "ship", serials[:4], body={"destination": "pharm"}))
    wait_for(n, "p1", "acme/line-1", shipped["id"])
    acked(n.act("p1", "receive", serials[:4], refs=[shipped["id"]]))
    n.converged(LINKED)
    exchange_bundles(n, "border", "a1", bundles)  # the post leaves up to date
    clone, seized, twice_shipped = serials[0], serials[3], serials[4]

    # The split: inside each side, the links are lossy and slow.
    n.split(("a1", "p1"), ("a2", "p2"), inside=lossy(drop=0.2, delay_s=0.01))
    a_dispense = acked(n.act("p1", "dispense", [clone]))
    a_ship = acked(n.act("a1", "ship", [twice_shipped], body={"destination": "dist"}))
    acked(n.act("p1", "dispense", [serials[1]]))
    b_dispense = acked(n.act("p2", "dispense", [clone]))
    b_ship = acked(n.act("a2", "ship", [twice_shipped], body={"destination": "pharm"}))
    acked(n.act("p2", "dispense", [serials[2]]))
    n.commission("a1", "SIDE-A", 3)
    n.commission("a2", "SIDE-B", 3)
    # The border post, offline: it detains and destroys a pack counter a still holds, which
    # counter a then dispenses (two physical packs with one serial).
    acked(n.act("border", "inspect", [seized], body={"decision": "detain"}))
    destroyed = acked(n.act("border", "destroy", [seized]))
    sold = acked(n.act("p1", "dispense", [seized]))
    digest_a = n.converged(("a1", "p1"))
    digest_b = n.converged(("a2", "p2"))
    assert digest_a != digest_b
    assert n.alerts("a1", code="suspected_clone") == []  # neither side can see the conflict yet

    n.heal(lossy(drop=0.1, delay_s=0.0))
    n.converged(LINKED)
    exchange_bundles(n, "border", "a1", bundles)
    assert_one_ledger(n)

    for name in NODES:
        clone_alert = one_alert(n, name, "suspected_clone", clone)
        assert set(clone_alert["evidence"]) == {a_dispense["id"], b_dispense["id"]}
        ship_alert = one_alert(n, name, "already_inactive", twice_shipped)
        assert set(ship_alert["evidence"]) == {a_ship["id"], b_ship["id"]}
        seized_alert = one_alert(n, name, "already_inactive", seized)
        assert set(seized_alert["evidence"]) == {destroyed["id"], sold["id"]}
    assert sum(link.dropped for link in n.links.values()) > 0  # the lossy links did drop


# -- a longer, randomised schedule -------------------------------------------------------------

CYCLES = 5
WRITES_PER_CYCLE = 16
INSIDE_MODES = (UP, lossy(drop=0.25, delay_s=0.02), Mode("lossy", 0.0, 0.1))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 2026])
def test_random_splits_and_writes_heal_to_one_ledger_with_every_conflict_alerted(
    network: SplitNetwork, tmp_path: Path, seed: int
) -> None:
    """Several split/heal cycles, each a random split of the four linked nodes, random link
    faults inside each side, and random writes on both sides (some refused where the node
    already knows better); the border post trades bundles with a random hub now and then."""
    rng = random.Random(seed)
    n = network
    acme, pharm = ("a1", "a2"), ("p1", "p2")
    active: list[str] = []  # commissioned serials
    to_pharm: list[tuple[str, list[str]]] = []  # (ship id, serials) towards the pharmacy
    received: list[str] = []
    # serial -> acknowledged ships, dispenses: a second of either conflicts with the first
    ships: dict[str, int] = defaultdict(int)
    dispenses: dict[str, int] = defaultdict(int)

    def write(name: str) -> None:
        if name in acme:
            if not active or rng.random() < 0.25:
                active.extend(n.commission(name, f"L{rng.randrange(1000)}", 4))
                return
            chosen = rng.sample(active, min(len(active), rng.randint(1, 2)))
            destination = rng.choice(("pharm", "pharm", "dist"))
            entry = n.act(name, "ship", chosen, body={"destination": destination})
            if entry is not None:
                for serial in chosen:
                    ships[serial] += 1
                if destination == "pharm":
                    to_pharm.append((entry["id"], chosen))
        elif rng.random() < 0.5 and to_pharm:
            ship_id, chosen = rng.choice(to_pharm)
            if n.act(name, "receive", chosen, refs=[ship_id]) is not None:
                received.extend(chosen)
        elif received:
            serial = rng.choice(received)
            if n.act(name, "dispense", [serial]) is not None:
                dispenses[serial] += 1

    def contest() -> None:
        """The same pack dispensed at both counters, another shipped by both lines: each is
        acknowledged where the other write is not known yet (the counters or lines are split)."""
        serial = rng.choice(received)
        for name in pharm:
            if n.act(name, "dispense", [serial]) is not None:
                dispenses[serial] += 1
        serial = rng.choice(active)
        for name in acme:
            if n.act(name, "ship", [serial], body={"destination": "dist"}) is not None:
                ships[serial] += 1

    seeded = n.commission("a1", "SEED", 8)
    shipped = acked(n.act("a1", "ship", seeded[:4], body={"destination": "pharm"}))
    wait_for(n, "p1", "acme/line-1", shipped["id"])
    acked(n.act("p1", "receive", seeded[:4], refs=[shipped["id"]]))
    active.extend(seeded[4:])
    received.extend(seeded[:4])
    n.converged(LINKED)
    for cycle in range(CYCLES):
        order = rng.sample(LINKED, len(LINKED))
        cut = rng.randint(1, len(order) - 1)
        groups = (order[:cut], order[cut:])
        n.split(*groups, inside=rng.choice(INSIDE_MODES))
        contest()
        for _ in range(WRITES_PER_CYCLE):
            write(rng.choice([*acme, *pharm]))
        if rng.random() < 0.5 and received:
            hub = rng.choice(LINKED)
            exchange_bundles(n, "border", hub, tmp_path / "bundles")
            n.act("border", "inspect", [rng.choice(received)], body={"decision": "release"})
        for group in groups:
            n.converged(group)
        n.heal(rng.choice((UP, lossy(drop=0.1, delay_s=0.0))))
        if cycle % 2:  # sometimes the next split comes before the whole network caught up
            n.converged(LINKED)
    n.heal(UP)
    n.converged(LINKED)
    exchange_bundles(n, "border", "a1", tmp_path / "bundles")
    assert_one_ledger(n)
    conflicting = [s for s in {*ships, *dispenses} if ships[s] >= 2 or dispenses[s] >= 2]
    alerted = {a["subject"] for a in n.alerts("a1")}
    assert conflicting, "the schedule wrote no conflicting facts: a test that cannot fail"
    assert {uri(s) for s in conflicting} <= alerted
