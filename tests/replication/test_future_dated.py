"""Entries dated in the future: a commission dated after its own expiry (a lifecycle rule, the
same on every node), and an entry dated ahead of the receiver's clock (checked on arrival, at a
local write and by the scanner, against their clocks, never in the fold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger import lifecycle
from ledger.action import Action
from ledger.alerts import Code
from ledger.entry import SignedEntry
from ledger.errors import RuleViolation
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.state import MemoryState
from ledger.timefmt import format_ts
from node.local_alerts import LocalAlerts
from node.replication.pull import LocalPeer, pull_round
from node.service import NodeService
from scanner.reading import ScanData
from scanner.verdict import Decision
from scanner.verifying import check, today_iso
from tests.node.world import GTIN, World, key, make_world, pack
from tests.replication.support import open_node, signed_genesis


def commission(world: World, lot: str, *, dated: str, expiry: str) -> SignedEntry:
    """acme/line1 commissions packs ``<lot>-1`` and ``<lot>-2``, signed with ``ts`` ``dated``."""
    body = {
        "gtin": GTIN,
        "ilmd": {"lotNumber": lot, "itemExpirationDate": expiry},
        "serials": [f"{lot}-1", f"{lot}-2"],
    }
    return world.writers["acme/line1"].append(
        Kind.COMMISSION, ts=dated, subjects=[lot_uri(GTIN, lot)], body=body
    )


def scan(world: World, entries: list[SignedEntry], serial: str, expiry: str) -> list[str]:
    """The scanner's verdict on pack ``serial`` from ``entries``: its decision, then its
    reasons' codes."""
    genesis = signed_genesis(world)
    verdict = check(
        ScanData(GTIN, serial, None, expiry, "text", f"(01){GTIN}(21){serial}", None),
        entries,
        [genesis],
        pin=genesis.id,
        today=today_iso(),
    )
    return [verdict.decision.value, *(r.code for r in verdict.reasons)]


def test_future_dated_commission(tmp_path: Path) -> None:
    """A commission signed by acme/line1's own key, dated 2099-12-31, giving its packs the
    expiry 2027-01-31: refused locally, an alert when it arrives from a peer (and no packs),
    never RELEASE at a scanner."""
    world = make_world()
    future = commission(world, "FUT", dated="2099-12-31T00:00:00.000Z", expiry="2027-01-31")
    with pytest.raises(RuleViolation) as caught:  # the rules, as a node applies its own writes
        lifecycle.apply(MemoryState(), future, world.membership, strict=True)
    assert caught.value.code == Code.DATED_AFTER_EXPIRY
    assert caught.value.subject == lot_uri(GTIN, "FUT")
    with (
        open_node(tmp_path / "peer.db", world) as peer,
        open_node(tmp_path / "v.db", world) as node,
    ):
        with pytest.raises(RuleViolation):  # a node never stores an entry of its own like it
            node.append_local([future], world.membership)
        assert node.heads() == {}
        service = NodeService(node, world.membership, "acme/line1", key(11))
        with pytest.raises(RuleViolation) as expired:  # dated now, expired last year
            service.commission(GTIN, "OLD", "2025-01-31", serials=["OLD-1"])
        assert expired.value.code == Code.DATED_AFTER_EXPIRY
        assert node.heads() == {}

        assert not peer.ingest([future], world.membership).rejected  # replicated: a fact
        result = pull_round([LocalPeer("peer", peer)], node, world.membership)
        assert result.report.added == 1
        [alert] = node.alerts(code=Code.DATED_AFTER_EXPIRY.value)
        assert alert.subject == lot_uri(GTIN, "FUT")
        assert alert.evidence == (future.id,)
        assert node.pack(pack("FUT-1")) is None  # packs expired before they exist are none
    assert scan(world, [future], "FUT-1", "2027-01-31")[0] != Decision.RELEASE.value


def test_entry_from_the_future_raises_an_alert(tmp_path: Path) -> None:
    """A commission dated 2090 with an expiry later still breaks no rule: it is stored and its
    packs exist, and the node that receives it raises the node-local alert ``future_dated``,
    once, naming the entry and both times. A scanner holds the pack; the node refuses to sign
    anything that would have to follow it."""
    world = make_world()
    dated = "2090-01-01T00:00:00.000Z"
    future = commission(world, "LATER", dated=dated, expiry="2095-12-31")
    with (
        open_node(tmp_path / "peer.db", world) as peer,
        open_node(tmp_path / "v.db", world) as node,
    ):
        assert not peer.ingest([future], world.membership).rejected
        before = format_ts(datetime.now(UTC))
        pull_round([LocalPeer("peer", peer)], node, world.membership)
        assert node.heads()["acme/line1"].head == future.id  # stored: a signed fact
        assert node.pack(pack("LATER-1")) is not None
        [alert] = LocalAlerts(node).find(code=Code.FUTURE_DATED.value)
        assert alert.subject == f"urn:medtrace:entry:{future.id}"
        assert alert.details["entry"] == future.id
        assert alert.details["dated"] == dated
        assert before <= alert.details["received"] == alert.ts <= format_ts(datetime.now(UTC))
        assert alert.details["tolerance_s"] == 600
        assert not node.alerts()  # no rule of the ledger is broken: nothing replicated
        node.ingest([future], world.membership)  # arriving again is no news
        assert len(LocalAlerts(node).find(code=Code.FUTURE_DATED.value)) == 1

        regulator = NodeService(node, world.membership, "reg/main", key(16))
        with pytest.raises(RuleViolation) as caught:  # a lock must be ordered after 2090
            regulator.submit(Action(Kind.LOCK, subjects=[pack("LATER-2")]))
        assert caught.value.code == Code.FUTURE_DATED
        assert node.head("reg/main") is None
    assert scan(world, [future], "LATER-1", "2095-12-31")[:2] == ["HOLD", "future_dated"]


def test_an_entry_within_the_tolerance_is_no_alert(tmp_path: Path) -> None:
    """A signer's clock five minutes fast is drift, not a false date."""
    world = make_world()
    soon = format_ts(datetime.now(UTC) + timedelta(minutes=5))
    entry = commission(world, "SOON", dated=soon, expiry="2095-12-31")
    with open_node(tmp_path / "v.db", world) as node:
        assert node.ingest([entry], world.membership).added == 1
        assert LocalAlerts(node).find(code=Code.FUTURE_DATED.value) == []
    assert scan(world, [entry], "SOON-1", "2095-12-31")[0] == Decision.RELEASE.value
