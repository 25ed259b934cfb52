"""A refused write names no other party (issue 13, finding 5): about a pack or container the
caller's organisation neither holds nor expects, the answer says only that it is not in its
custody; about its own, the refusal keeps its rule, message and evidence."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import NodeFactory, case, pack
from tests.api.test_problems import assert_problem
from tests.api.test_writes_and_queries import act, commission, sync

#: Every spelling of the other parties: organisations and feeds.
OTHERS = ("acme", "line-1", "dist", "dist/wh")


def assert_names_no_custodian(answer: Any, org: str, rule: str = "custody_violation") -> None:
    problem = assert_problem(answer, 409, "rule-violation")
    assert problem["code"] == rule
    assert problem["evidence"] == []
    assert set(problem) == {"type", "title", "status", "detail", "code", "evidence"}
    text = answer.get_data(as_text=True)
    for other in OTHERS:
        assert other not in text, (other, problem["detail"])
    assert (
        f"not in {org}'s custody" in problem["detail"]
        or f"outside {org}'s custody" in (problem["detail"])
    )


def test_refusal_names_no_custodian(make_node: NodeFactory) -> None:
    acme, dist, apo, reg = (make_node(org) for org in ("acme", "dist", "apo", "reg"))
    commission(acme, ["P1", "P2", "P3", "P4"])
    act(acme, "pack", [case(1), pack("P3")])
    to_dist = act(acme, "ship", [pack("P1"), case(1)], body={"destination": "dist"})
    act(acme, "ship", [pack("P2")], body={"destination": "dist"})  # in transit, acme holds it
    sync(dist, acme)
    act(dist, "receive", [pack("P1"), case(1)], refs=[to_dist["id"]])
    sync(apo, acme, dist)
    sync(reg, acme, dist)

    # held by the distributor, in transit between two others, held by the manufacturer: the
    # pharmacy learns that none is in its custody, and nothing about who holds them
    for kind, subjects, extra in (
        ("lock", [pack("P1")], {}),
        ("dispense", [pack("P1")], {}),
        ("destroy", [pack("P1")], {}),
        ("return", [pack("P1")], {"body": {"destination": "acme"}}),
        ("receive", [pack("P1")], {"refs": [to_dist["id"]]}),
        ("lock", [pack("P2")], {}),
        ("dispense", [pack("P4")], {}),
        ("lock", [case(1)], {}),
        ("destroy", [case(1)], {}),
    ):
        answer = apo.post(f"/api/v1/actions/{kind}", {"subjects": subjects, **extra})
        assert_names_no_custodian(answer, "apo")

    # a regulator acts without custody: it keeps the rule that refused, not the holder
    act(reg, "lock", [pack("P1")])
    again = reg.post("/api/v1/actions/lock", {"subjects": [pack("P1")]})
    assert_names_no_custodian(again, "reg", rule="already_inactive")

    # the holder itself still gets the whole refusal, evidence included
    dist_again = dist.post(
        "/api/v1/actions/receive", {"subjects": [pack("P1")], "refs": [to_dist["id"]]}
    )
    own = assert_problem(dist_again, 409, "rule-violation")
    assert own["evidence"]


def test_a_pack_on_its_way_to_the_caller_is_not_someone_elses(make_node: NodeFactory) -> None:
    """The receiver of a shipment knows its sender: a refusal about goods addressed to it is
    the lifecycle's own, holder and evidence included."""
    acme, dist = make_node("acme"), make_node("dist")
    commission(acme, ["Q1"])
    ship = act(acme, "ship", [pack("Q1")], body={"destination": "dist"})
    sync(dist, acme)
    answer = dist.post("/api/v1/actions/lock", {"subjects": [pack("Q1")]})
    problem = assert_problem(answer, 409, "rule-violation")
    assert problem["code"] == "already_inactive"  # in transit, not yet received
    assert ship["id"] in problem["evidence"]
