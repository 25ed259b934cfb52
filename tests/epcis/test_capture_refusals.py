"""A refused capture names no other party (issue 13, finding 5), in the answer and in the job
kept for it; and each event refused for an unknown pack counts as serial harvesting."""

from __future__ import annotations

from ledger.action import Action
from ledger.identifiers import pack_uri
from ledger.kinds import Kind
from tests.api.test_problems import assert_problem
from tests.epcis.conftest import GTIN, NodeFactory
from tests.epcis.documents import object_event
from tests.epcis.test_capture import ours, post, sgtin, shipping


def test_a_capture_refusal_names_no_custodian(make_epcis_node: NodeFactory) -> None:
    maker, whole, apo = (make_epcis_node(org) for org in ("maker", "whole", "apo"))
    made = maker.ctx.service.commission(GTIN, "L1", "2031-12-31", serials=["C1"])
    ship = maker.ctx.service.submit(
        Action(Kind.SHIP, subjects=[pack_uri(GTIN, "C1")], body={"destination": "whole"})
    )
    whole.ctx.store.ingest([*made.entries, ship], whole.ctx.membership)
    received = whole.ctx.service.submit(
        Action(Kind.RECEIVE, subjects=[pack_uri(GTIN, "C1")], refs=[ship.id])
    )
    apo.ctx.store.ingest([*made.entries, ship, received], apo.ctx.membership)

    dispensing = object_event(epcList=[sgtin("C1")], bizStep="dispensing", disposition="dispensed")
    for behaviour in ("rollback", "proceed"):
        answer = post(apo, ours(dispensing), behaviour=behaviour)
        job = apo.get(answer.headers["Location"], "auditor").get_data(as_text=True)
        if behaviour == "rollback":
            problem = assert_problem(answer, 409, "rule-violation")
            assert problem["code"] == "custody_violation"
            assert problem["evidence"] == []
            assert "outside apo's custody" in problem["detail"]
        for text in (answer.get_data(as_text=True), job):
            assert "custody_violation" in text
            for other in ("whole", "maker"):
                assert other not in text, (behaviour, other)


def test_each_unknown_pack_of_a_proceed_capture_counts_as_harvesting(
    make_epcis_node: NodeFactory,
) -> None:
    maker = make_epcis_node("maker", harvest_max_unknown=3)
    doc = ours(*(shipping(f"NEVER{i}") for i in range(3)))
    answer = post(maker, doc, behaviour="proceed")
    assert answer.status_code == 202
    assert [e["code"] for e in answer.get_json()["errors"]] == ["unknown_pack"] * 3
    refused = post(maker, ours(shipping("NEVER9")))
    assert assert_problem(refused, 429, "rate-limited")["code"] == "serial_harvesting"
