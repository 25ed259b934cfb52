"""Customs decisions and inspection outcomes through the API of real node data directories
(ADR 0022): signed entries naming the declaration, a seizure final, only the customs post that
took the declaration decides, the outcome a Store read away."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import lifecycle
from ledger.alerts import Code
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from ledger.lifecycle.customs_decisions import record_step
from ledger.lifecycle.declarations import declaration_step
from ledger.status import Status
from tests.customs.conftest import GTIN, SSCC, doc_example, replicate
from tests.ledger.builders import CUSTOMS, Net
from tests.nodes_setup import Node, NodeFactory

REF = "DE-2026-000123"
DECISION = f"/api/v1/declarations/{REF}/decision"
INSPECTION = f"/api/v1/declarations/{REF}/inspection"
SERIALS = ("D1", "D2", "D3")


def _declared(make_node: NodeFactory, request: dict[str, Any]) -> tuple[Node, Node, Node]:
    """acme commissions three packs in case SSCC; the border post declares the case."""
    acme, border, reg = make_node("acme"), make_node("border"), make_node("reg")
    done = acme.post(
        "/api/v1/commission",
        {"gtin": GTIN, "lot": "L2607", "expiry": "2030-12-31", "serials": list(SERIALS)},
    )
    assert done.status_code == 201, done.json
    packs = [pack_uri(GTIN, s) for s in SERIALS]
    packed = acme.post("/api/v1/actions/pack", {"subjects": [container_uri(SSCC), *packs]})
    assert packed.status_code == 201, packed.json
    replicate(acme, border)
    request["packages"] = [{"sscc": SSCC}]
    lodged = border.post("/api/v1/declarations", {"declarations": [request]})
    assert lodged.status_code == 201, lodged.json
    return acme, border, reg


def test_seize_names_its_declaration_and_holds_the_packs(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    _acme, border, reg = _declared(make_node, declaration_request)
    declared = border.ctx.store.declaration(REF)
    assert declared is not None
    seized = border.post(DECISION, {"decision": "seize", "note": "falsified labels"})
    assert seized.status_code == 201, seized.json
    (decide,) = border.ctx.store.entries_by_id([seized.json["entry"]])
    assert decide.payload.kind is Kind.DECIDE
    assert decide.payload.refs == (declared.entry_id,)
    assert decide.payload.body["declaration"] == REF
    assert decide.payload.body["decision"] == "seize"
    pack = border.ctx.store.pack(pack_uri(GTIN, "D1"))
    assert pack is not None
    assert pack.status is Status.QUARANTINED
    replicate(border, reg)
    shown = reg.get(f"/api/v1/declarations/{REF}").json
    assert shown["decision"]["decision"] == "seize"
    assert shown["decision"]["note"] == "falsified labels"
    assert [d["decision"] for d in shown["decisions"]] == ["seize"]


def test_release_after_seize_is_refused(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    _acme, border, _reg = _declared(make_node, declaration_request)
    assert border.post(DECISION, {"decision": "seize"}).status_code == 201
    entries = len(border.ctx.store.entries(border.ctx.feed))
    refused = border.post(DECISION, {"decision": "release"})
    assert refused.status_code == 409, refused.json
    assert refused.json["code"] == "decision_after_seizure"
    assert len(border.ctx.store.entries(border.ctx.feed)) == entries  # nothing stored
    pack = border.ctx.store.pack(pack_uri(GTIN, "D1"))
    assert pack is not None
    assert pack.status is Status.QUARANTINED


def test_hold_then_release_lets_the_packs_go(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    _acme, border, _reg = _declared(make_node, declaration_request)
    assert border.post(DECISION, {"decision": "hold"}).status_code == 201
    released = border.post(DECISION, {"decision": "release"})
    assert released.status_code == 201, released.json
    pack = border.ctx.store.pack(pack_uri(GTIN, "D2"))
    assert pack is not None
    assert pack.status is Status.ACTIVE
    shown = border.get(f"/api/v1/declarations/{REF}").json
    assert [d["decision"] for d in shown["decisions"]] == ["hold", "release"]


def test_decision_by_a_non_customs_org_is_refused(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    _acme, border, reg = _declared(make_node, declaration_request)
    replicate(border, reg)
    refused = reg.post(DECISION, {"decision": "seize"})
    assert refused.status_code == 403, refused.json
    assert refused.json["code"] == "unauthorised_kind"
    assert reg.ctx.store.entries(reg.ctx.feed) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [(DECISION, {"decision": "seize"}), (INSPECTION, {"outcome": "found_falsified"})],
    ids=["decision", "inspection"],
)
def test_unknown_declaration_is_404(make_node: NodeFactory, path: str, body: Any) -> None:
    border = make_node("border")
    answer = border.post(path, body)
    assert answer.status_code == 404, answer.json
    assert answer.json["type"].endswith("not-found")


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        (DECISION, {"decision": "burn"}, "decision"),
        (DECISION, {"decision": "hold", "note": "x" * 501}, "note"),
        (INSPECTION, {"outcome": "fine"}, "outcome"),
        (INSPECTION, {"outcome": "found_compliant", "findings": ""}, "findings"),
    ],
    ids=["unknown-decision", "note-too-long", "unknown-outcome", "empty-findings"],
)
def test_bad_decision_is_one_problem_and_stores_nothing(
    make_node: NodeFactory, declaration_request: dict[str, Any], path: str, body: Any, where: str
) -> None:
    _acme, border, _reg = _declared(make_node, declaration_request)
    entries = len(border.ctx.store.entries(border.ctx.feed))
    answer = border.post(path, body)
    assert answer.status_code == 400, answer.json
    assert where in answer.json["detail"]
    assert len(border.ctx.store.entries(border.ctx.feed)) == entries


def test_inspection_outcome_is_a_store_read(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    _acme, border, reg = _declared(make_node, declaration_request)
    found = border.post(INSPECTION, {"outcome": "found_falsified", "findings": "no hologram"})
    assert found.status_code == 201, found.json
    replicate(border, reg)
    for node in (border, reg):
        (outcome,) = node.ctx.store.record_history(Kind.OUTCOME.value, f"border/{REF}")
        assert outcome.data["outcome"] == "found_falsified"
        assert outcome.data["findings"] == "no hologram"
        assert outcome.entry_id == found.json["entry"]
    shown = reg.get(f"/api/v1/declarations/{REF}").json
    assert shown["outcome"]["outcome"] == "found_falsified"


def test_replicated_decision_after_seizure_raises_an_alert_and_is_not_in_force() -> None:
    """A peer's decision after its own seizure (signed past the API) is a signed fact: every
    node raises ``decision_after_seizure`` and keeps the seizure in force."""
    net = Net()
    declared, _ = declaration_step(doc_example("declaration-request"))
    declare = net.sign(
        "declare", CUSTOMS, Kind.DECLARE, subjects=declared.subjects, body=declared.body
    )
    bodies = {
        d: dict(record_step(Kind.DECIDE, {"declaration": REF, "decision": d}, declare.id).body)
        for d in ("seize", "release")
    }
    seize = net.sign("seize", CUSTOMS, Kind.DECIDE, refs=["declare"], body=bodies["seize"])
    release = net.sign("release", CUSTOMS, Kind.DECIDE, refs=["declare"], body=bodies["release"])
    alerts = lifecycle.fold([release, seize, declare], net.membership, net.state)
    assert [a.code for a in alerts] == [Code.DECISION_AFTER_SEIZURE]
    assert alerts[0].evidence == (seize.id, release.id)
    held = net.state.records[("decide", f"{CUSTOMS.split('/')[0]}/{REF}")]
    assert held.data["decision"] == "seize"
