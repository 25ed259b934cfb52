"""Writes through the API, refused rules as problems with their code, and the queries a
verifier makes (whose answers it checks itself against the pinned membership)."""

from __future__ import annotations

from typing import Any

import pytest

from api.queries import effective_status
from keys.consortium import Consortium
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.membership import MembershipChain, SignedMembership
from ledger.state import PackState
from ledger.status import Status
from node.replication.pull import LocalPeer, pull
from scanner.verdict import Decision, Scanned, decide
from tests.api.conftest import (
    FOREIGN_GTIN,
    GTIN,
    PASSPHRASE,
    Node,
    NodeFactory,
    case,
    pack,
    sscc,
)
from tests.api.test_problems import assert_problem

EXPIRY = "2030-12-31"


def commission(node: Node, serials: list[str], lot: str = "L1") -> dict[str, Any]:
    response = node.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": lot, "expiry": EXPIRY, "serials": serials}
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def act(node: Node, kind: str, subjects: list[str], **fields: Any) -> dict[str, str]:
    response = node.post(f"/api/v1/actions/{kind}", {"subjects": subjects, **fields})
    assert response.status_code == 201, response.get_json()
    wire = response.get_json()["entry"]
    assert SignedEntry.from_wire(wire).payload.kind.value == kind
    return dict(wire)


def sync(node: Node, *others: Node) -> None:
    for other in others:
        pull(LocalPeer(other.ctx.name, other.ctx.store), node.ctx.store, node.ctx.membership)


def client_side_membership(provenance: dict[str, Any]) -> MembershipChain:
    versions = [SignedMembership.from_wire(v) for v in provenance["memberships"]]
    chain = MembershipChain(versions[0], provenance["genesis"])
    chain.extend_all(versions[1:])
    return chain


@pytest.fixture
def network(make_node: NodeFactory) -> dict[str, Node]:
    return {org: make_node(org) for org in ("acme", "dist", "apo", "reg")}


def test_commission_generates_or_takes_serials_in_chunks(acme: Node) -> None:
    response = acme.post(
        "/api/v1/commission",
        {"gtin": GTIN[1:], "lot": "L7", "expiry": EXPIRY, "count": 2_500, "chunk": 1_000},
    )
    assert response.status_code == 201
    done = response.get_json()
    assert done["gtin"] == GTIN
    assert done["count"] == 2_500
    assert len(set(done["serials"])) == 2_500
    assert len(done["entries"]) == 3
    assert acme.ctx.store.count("packs") == 2_500
    given = commission(acme, ["A-1", "A/2"], lot="L8")
    assert given["serials"] == ["A-1", "A/2"]
    assert given["count"] == 2


def test_a_supply_chain_over_the_api_and_a_verdict_checked_client_side(
    network: dict[str, Node],
) -> None:
    acme, dist, apo = network["acme"], network["dist"], network["apo"]
    commission(acme, ["P1", "P2", "P3"])
    act(acme, "pack", [case(1), pack("P1"), pack("P2")])
    ship = act(acme, "ship", [case(1), pack("P3")], body={"destination": "dist"})
    sync(dist, acme)
    act(dist, "receive", [case(1), pack("P3")], refs=[ship["id"]])
    onward = act(dist, "ship", [case(1)], body={"destination": "apo"})
    sync(apo, acme, dist)
    act(apo, "receive", [case(1)], refs=[onward["id"]])
    act(apo, "dispense", [pack("P1")])

    again = apo.post("/api/v1/actions/dispense", {"subjects": [pack("P1")]})
    problem = assert_problem(again, 409, "rule-violation")
    assert problem["code"] == "already_inactive"
    assert problem["evidence"]

    state = apo.get(f"/api/v1/packs/{GTIN}/P1", role="verifier").get_json()
    assert state["status"] == "dispensed"
    assert state["effective_status"] == "dispensed"
    assert state["custodian"] == "apo/counter"
    assert state["container"] == case(1)
    assert state["lot"] == "L1"
    assert state["expiry"] == EXPIRY

    box = apo.get(f"/api/v1/containers/{sscc(1)}", role="verifier").get_json()
    assert box["custodian"] == "apo/counter"
    assert box["status"] == "active"
    assert box["children"] is None  # a scanner is told counts, never a case's serials
    assert box["packs"] == 2
    listed = apo.get(f"/api/v1/containers/{sscc(1)}", role="operator").get_json()
    assert listed["children"] == sorted([pack("P1"), pack("P2")])  # the custodian's operator

    for serial, expected in (("P2", Decision.RELEASE), ("P1", Decision.REJECT)):
        provenance = apo.get(f"/api/v1/packs/{GTIN}/{serial}/provenance", role="verifier")
        body = provenance.get_json()
        assert body["pack"] == pack(serial)
        chain = client_side_membership(body)
        entries = [SignedEntry.from_wire(w) for w in body["entries"]]
        verdict = decide(
            Scanned(GTIN, serial, "L1", EXPIRY), entries, chain.current, today="2026-01-01"
        )
        assert verdict.decision is expected, verdict.reasons

    unknown = apo.get(f"/api/v1/packs/{GTIN}/NEVER", role="verifier")
    assert_problem(unknown, 404, "not-found")
    empty = apo.get(f"/api/v1/packs/{GTIN}/NEVER/provenance", role="verifier").get_json()
    assert empty["entries"] == []


def test_a_serial_with_a_slash_is_found_by_path(acme: Node) -> None:
    commission(acme, ["A/2"])
    for path in (f"/api/v1/packs/{GTIN}/A/2", f"/api/v1/packs/{GTIN}/A%2F2"):
        assert acme.get(path).get_json()["pack"] == pack("A/2")
    assert acme.get(f"/api/v1/packs/{GTIN}/A/2/provenance").get_json()["pack"] == pack("A/2")


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (
            "/api/v1/actions/ship",
            {"subjects": [pack("NOPE")], "body": {"destination": "dist"}},
            422,
            "unknown_pack",
        ),
        ("/api/v1/actions/unpack", {"subjects": [case(9)]}, 422, "unknown_container"),
        (
            "/api/v1/commission",
            {"gtin": GTIN, "lot": "L1", "expiry": EXPIRY, "serials": ["S1"]},
            409,
            "duplicate_commission",
        ),
        (
            "/api/v1/actions/undo",
            {"subjects": [pack("S1")], "refs": ["0" * 64]},
            409,
            "undo_not_allowed",
        ),
        (
            "/api/v1/commission",
            {"gtin": FOREIGN_GTIN, "lot": "L1", "expiry": EXPIRY, "count": 1},
            403,
            "foreign_gtin",
        ),
    ],
)
def test_a_refused_rule_is_a_problem_with_its_code(
    acme: Node, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    commission(acme, ["S1"])
    before = acme.ctx.store.count("entries")
    problem = assert_problem(acme.post(path, body), status)
    assert problem["code"] == code
    assert acme.ctx.store.count("entries") == before


def test_a_malformed_step_is_400_and_nothing_is_signed(acme: Node) -> None:
    commission(acme, ["S1"])
    response = acme.post(
        "/api/v1/actions/ship", {"subjects": [pack("S1")], "body": {"destination": "nobody"}}
    )
    assert_problem(response, 400, "invalid-entry")
    assert acme.ctx.store.count("entries") == 1
    assert acme.ctx.store.head("acme/line-1") is not None


def test_a_recall_shows_as_effective_status_and_refuses_supply(
    network: dict[str, Node],
) -> None:
    acme, reg = network["acme"], network["reg"]
    commission(acme, ["R1"], lot="LR")
    sync(reg, acme)
    recall = act(reg, "recall", [lot_uri(GTIN, "LR")])
    sync(acme, reg)
    state = acme.get(f"/api/v1/packs/{GTIN}/R1", role="auditor").get_json()
    assert state["status"] == "active"
    assert state["effective_status"] == "recalled"
    assert state["recalled_by"] == recall["id"]
    refused = acme.post(
        "/api/v1/actions/ship", {"subjects": [pack("R1")], "body": {"destination": "dist"}}
    )
    assert assert_problem(refused, 409, "rule-violation")["code"] == "recalled"


def test_alerts_come_with_their_evidence_entries(acme: Node, consortium_dir: Any) -> None:
    """A pharmacy's signed dispense of a pack nobody commissioned, replicated to the
    manufacturer's node: an alert with the entry that proves it."""
    key = Consortium.open(consortium_dir).feed_key("apo/counter", PASSPHRASE)
    forged = FeedWriter("apo/counter", key).append(Kind.DISPENSE, subjects=[pack("GHOST")])
    report = acme.ctx.store.ingest([forged], acme.ctx.membership)
    assert [a.code.value for a in report.alerts] == ["unknown_pack"]

    found = acme.get("/api/v1/alerts?code=unknown_pack", role="auditor").get_json()
    assert found["count"] == 1
    (alert,) = found["alerts"]
    assert alert["subject"] == pack("GHOST")
    assert alert["level"] == "critical"
    assert alert["evidence"] == [forged.id]
    assert [SignedEntry.from_wire(w).id for w in alert["entries"]] == [forged.id]
    by_subject = acme.get(f"/api/v1/alerts?subject={pack('GHOST')}", role="verifier")
    assert by_subject.get_json()["count"] == 1
    assert acme.get("/api/v1/alerts?code=fork", role="verifier").get_json()["count"] == 0


def _state(status: Status, expiry: str = "2030-12-31") -> PackState:
    return PackState(pack("X"), GTIN, "X", "L1", expiry, "c" * 64, "acme/line-1", status)


@pytest.mark.parametrize(
    ("status", "recall", "withdrawal", "expiry", "expected"),
    [
        (Status.ACTIVE, None, None, "2030-12-31", Status.ACTIVE),
        (Status.ACTIVE, "r", None, "2030-12-31", Status.RECALLED),
        (Status.DISPENSED, "r", None, "2030-12-31", Status.RECALLED),
        (Status.STOLEN, "r", "w", "2000-01-01", Status.STOLEN),
        (Status.IN_TRANSIT, None, "w", "2030-12-31", Status.WITHDRAWN),
        (Status.ACTIVE, None, None, "2020-01-01", Status.EXPIRED),
        (Status.DISPENSED, None, None, "2020-01-01", Status.DISPENSED),
    ],
)
def test_effective_status(
    status: Status, recall: str | None, withdrawal: str | None, expiry: str, expected: Status
) -> None:
    assert effective_status(_state(status, expiry), recall, withdrawal, "2026-06-01") is expected
