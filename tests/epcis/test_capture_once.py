"""Capture stores each event once (issue 18): an event already held, by its eventID or by its
CBV 2.0 hash, is reported in the job and not stored again; and a capture cannot commission
packs of a GTIN outside the capturing member's company prefixes, as /api/v1/commission cannot."""

from __future__ import annotations

import copy

import pytest

from ledger.epcis.normalise import check_digit
from tests.api.test_problems import assert_problem
from tests.epcis.conftest import NodeFactory
from tests.epcis.documents import object_event
from tests.epcis.test_capture import commissioning, ours, post
from tests.nodes_setup import Node

#: A GTIN under a company prefix no member of the EPCIS test consortium owns.
FOREIGN_BODY = "09506000" + "13435"
FOREIGN_GTIN = FOREIGN_BODY + check_digit(FOREIGN_BODY)


def test_capture_twice_stores_once(maker: Node) -> None:
    observed = object_event(eventID="urn:uuid:0b3c8e7e-3f54-4f0a-9e1e-5a0f3c2d1b01")
    doc = ours(commissioning("T1", "T2"), observed)
    first = post(maker, doc)
    assert first.status_code == 202, first.get_data(as_text=True)
    assert first.get_json()["alreadyHeld"] == []
    stored = maker.ctx.store.count("entries")
    digest = maker.ctx.store.digest()

    second = post(maker, doc)
    assert second.status_code == 202, second.get_data(as_text=True)
    job = second.get_json()
    assert (job["success"], job["entries"]) == (True, [])
    assert job["eventHashes"] == first.get_json()["eventHashes"]
    held = job["alreadyHeld"]
    assert [h["path"] for h in held] == ["$.epcisBody.eventList[0]", "$.epcisBody.eventList[1]"]
    assert [h["hash"] for h in held] == job["eventHashes"]
    assert held[1]["eventID"] == observed["eventID"]
    assert [h["entries"] for h in held] == [[e] for e in first.get_json()["entries"]]
    assert (maker.ctx.store.count("entries"), maker.ctx.store.digest()) == (stored, digest)

    # the same event under another eventID has the same hash: held all the same
    renamed = copy.deepcopy(observed)
    renamed["eventID"] = "urn:uuid:0b3c8e7e-3f54-4f0a-9e1e-5a0f3c2d1b02"
    third = post(maker, ours(renamed)).get_json()
    assert (third["success"], third["entries"]) == (True, [])
    assert [h["hash"] for h in third["alreadyHeld"]] == [job["eventHashes"][1]]
    # and the same eventID on other content is the event already held, too
    relabelled = object_event(eventID=observed["eventID"], disposition="active")
    assert post(maker, ours(relabelled)).get_json()["entries"] == []
    # an event repeated inside one document is stored once
    fresh = object_event(eventTime="2026-03-04T09:00:00.000+01:00")
    twice = post(maker, ours(fresh, fresh)).get_json()
    assert len(twice["entries"]) == 1
    assert [h["path"] for h in twice["alreadyHeld"]] == ["$.epcisBody.eventList[1]"]
    assert maker.ctx.store.count("entries") == stored + 1


@pytest.mark.parametrize(("org", "code"), [("maker", "foreign_gtin"), ("apo", "unauthorised_kind")])
def test_capture_of_foreign_gtins_refused(
    make_epcis_node: NodeFactory, org: str, code: str
) -> None:
    node = make_epcis_node(org)
    api = node.post(
        "/api/v1/commission",
        {"gtin": FOREIGN_GTIN, "lot": "L1", "expiry": "2031-12-31", "serials": ["F1"]},
    )
    assert assert_problem(api, 403)["code"] == code
    for behaviour in ("rollback", "proceed"):
        response = post(node, ours(commissioning("F1", gtin=FOREIGN_GTIN)), behaviour=behaviour)
        if behaviour == "rollback":
            problem = assert_problem(response, 403)
        else:
            assert response.status_code == 202, response.get_data(as_text=True)
            (problem,) = response.get_json()["errors"]
        assert problem["code"] == code
        assert problem["path"] == "$.epcisBody.eventList[0]"
    assert node.ctx.store.count("entries") == 0
    assert node.ctx.store.count("packs") == 0
    # observing a foreign pack commissions nothing: recorded, as before
    seen = post(node, ours(object_event(epcList=[f"https://id.gs1.org/01/{FOREIGN_GTIN}/21/F1"])))
    assert seen.status_code == 202, seen.get_data(as_text=True)
    assert node.ctx.store.count("entries") == 1
