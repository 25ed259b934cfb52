"""POST /epcis/capture and the queries, on a node app: GS1's examples go in and come back with
the same hashes; medtrace's own rules apply to events in its scope; broken documents capture
nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from api import epcis as epcis_api
from ledger.action import Action
from ledger.epcis import jsontext
from ledger.epcis.hash import document_hashes, event_hash
from ledger.identifiers import pack_uri, with_check_digit
from ledger.kinds import Kind
from ledger.status import Status
from tests.api.conftest import Node
from tests.epcis.conftest import (
    GTIN,
    MEMBERS,
    PREFIX,
    SCHEMA,
    NodeFactory,
    load,
    need,
    need_gs1_examples,
)
from tests.epcis.documents import (
    BROKEN,
    STRICTER,
    broken,
    document,
    object_event,
    stored_hashes,
    valid,
)

CBVMDA = {"cbvmda": "urn:epcglobal:cbv:mda:"}


def post(node: Node, doc: Any, *, behaviour: str | None = None, role: str = "operator") -> Any:
    headers = {**node.auth(role), "Content-Type": "application/ld+json"}
    if behaviour is not None:
        headers["GS1-Capture-Error-Behaviour"] = behaviour
    data = doc if isinstance(doc, bytes) else jsontext.dumps(doc).encode()
    return node.client.post("/epcis/capture", data=data, headers=headers)


def query(node: Node, path: str = "/epcis/events", role: str = "operator") -> Any:
    response = node.get(path, role)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/ld+json"
    return jsontext.loads(response.get_data())


def all_events(node: Node) -> Any:
    return query(node, "/epcis/events?perPage=1000")


def sgtin(serial: str, gtin: str = GTIN) -> str:
    return f"https://id.gs1.org/01/{gtin}/21/{serial}"


def commissioning(*serials: str, gtin: str = GTIN) -> dict[str, Any]:
    return object_event(
        epcList=[sgtin(s, gtin) for s in serials],
        action="ADD",
        bizStep="commissioning",
        disposition="active",
        readPoint={"id": f"https://id.gs1.org/414/{MEMBERS['maker'][3]}"},
        ilmd={"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2031-12-31"},
    )


def shipping(*serials: str, to: str = "whole", disposition: str = "in_transit") -> dict[str, Any]:
    return object_event(
        epcList=[sgtin(s) for s in serials],
        bizStep="shipping",
        disposition=disposition,
        destinationList=[
            {"type": "owning_party", "destination": f"https://id.gs1.org/417/{MEMBERS[to][3]}"}
        ],
    )


def ours(*events: dict[str, Any]) -> dict[str, Any]:
    doc = document(*events)
    doc["@context"].append(CBVMDA)
    return doc


def schema_validator() -> Draft7Validator:
    return Draft7Validator(json.loads(need(SCHEMA).read_text()), format_checker=FormatChecker())


# -- GS1's examples ------------------------------------------------------------------------------


def test_harvest_from_captured_event_body(maker: Node) -> None:
    """A captured commissioning or shipping of many packs keeps its document in the signed
    body: without its lists, so that a verifier shown the entry learns no other serial; the
    node's own queries still list every pack and give the captured hash."""
    serials = ("C1", "C2", "C3")
    response = post(maker, ours(commissioning(*serials), shipping(*serials)))
    assert response.status_code == 202, response.get_data(as_text=True)
    for entry in maker.ctx.store.entries_by_id(response.get_json()["entries"]):
        for serial in serials:
            assert f"/21/{serial}" not in entry.payload_bytes.decode(), entry.payload.kind
    full = query(maker, f"/epcis/epcs/{sgtin('C1')}/events")
    assert document_hashes(full) == response.get_json()["eventHashes"]
    listed = {
        e
        for event in full["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        for e in event.get("epcList", [])
    }
    assert listed == {sgtin(s) for s in serials}
    verifier = query(maker, f"/epcis/epcs/{sgtin('C1')}/events", role="verifier")
    text = jsontext.dumps(verifier)
    assert sgtin("C1") in text
    for other in serials[1:]:
        assert f"/21/{other}" not in text


def test_every_gs1_example_is_captured_and_queried_back_with_the_same_hashes(maker: Node) -> None:
    examples = need_gs1_examples()
    expected: list[str] = []
    for path in examples:
        response = post(maker, path.read_bytes())
        assert response.status_code == 202, (path.name, response.get_data(as_text=True))
        hashes = document_hashes(load(path))
        assert response.get_json()["eventHashes"] == hashes
        expected += stored_hashes(hashes, response.get_json())
    assert maker.ctx.store.count("packs") == 0  # GS1's identifiers are foreign here
    answer = all_events(maker)
    assert sorted(document_hashes(answer)) == sorted(expected)
    errors = list(schema_validator().iter_errors(json.loads(jsontext.dumps(answer))))
    assert errors == [], errors[0].message


def test_each_event_can_be_fetched_by_its_id_or_hash(maker: Node) -> None:
    path = need_gs1_examples()[0]
    post(maker, path.read_bytes())
    for digest in document_hashes(load(path)):
        answer = query(maker, "/epcis/events/" + digest.replace("?", "%3F"))
        assert digest in document_hashes(answer)


# -- broken documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*BROKEN, *STRICTER])
def test_a_broken_document_is_400_naming_its_path_and_captures_nothing(
    maker: Node, name: str
) -> None:
    table = BROKEN if name in BROKEN else STRICTER
    doc = broken(name, table)
    good = object_event(epcList=["urn:epc:id:sgtin:0614141.107346.9999"])
    if isinstance(doc["epcisBody"].get("eventList"), list):  # a good event after it: not captured
        doc["epcisBody"]["eventList"].append(good)
    response = post(maker, doc)
    assert response.status_code == 400, response.get_data(as_text=True)
    problem = response.get_json()
    assert problem["path"] == table[name][1]
    assert problem["type"] == "urn:medtrace:problem:invalid-request"
    assert maker.ctx.store.count("entries") == 0


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"{not json", 400, "malformed-json"),
        (b"", 400, "malformed-json"),
        (b'{"a": NaN}', 400, "malformed-json"),
    ],
)
def test_what_is_not_json_is_400(maker: Node, body: bytes, status: int, slug: str) -> None:
    response = post(maker, body)
    assert response.status_code == status
    assert response.get_json()["type"].endswith(slug)


def test_a_document_sent_as_text_is_415(maker: Node) -> None:
    response = maker.client.post(
        "/epcis/capture", data=b"{}", headers={**maker.auth(), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_more_events_than_the_capture_limit_is_413_and_captures_nothing(
    maker: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(epcis_api, "CAPTURE_LIMIT", 2)
    doc = document(
        *(object_event(epcList=[f"urn:epc:id:sgtin:0614141.107346.{i}"]) for i in range(3))
    )
    response = post(maker, doc)
    assert response.status_code == 413
    assert response.headers["GS1-EPCIS-Capture-Limit"] == "2"
    assert maker.ctx.store.count("entries") == 0


def test_a_document_over_the_file_size_limit_is_413(maker: Node) -> None:
    doc = valid()
    doc["epcisBody"]["eventList"][0]["example:padding"] = "x" * epcis_api.FILE_SIZE_LIMIT
    response = post(maker, doc)
    assert response.status_code == 413
    assert response.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(epcis_api.FILE_SIZE_LIMIT)
    assert maker.ctx.store.count("entries") == 0


def test_options_advertise_the_limits(maker: Node) -> None:
    response = maker.client.options("/epcis/capture")
    assert response.status_code == 204
    assert response.headers["GS1-EPCIS-Capture-Limit"] == str(epcis_api.CAPTURE_LIMIT)
    assert response.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(epcis_api.FILE_SIZE_LIMIT)
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert "POST" in response.headers["Allow"]


def test_capture_needs_an_operator_token(maker: Node) -> None:
    assert post(maker, valid(), role="verifier").status_code == 403
    assert maker.client.post("/epcis/capture", data=b"{}").status_code == 401


# -- the two paths: lifecycle or recorded fact -------------------------------------------------


def test_an_event_of_unknown_identifiers_is_recorded_with_no_state(maker: Node) -> None:
    response = post(maker, valid())
    assert response.status_code == 202
    job = response.get_json()
    assert job["success"] is True
    (entry,) = maker.ctx.store.entries_by_id(job["entries"])
    assert entry.payload.kind is Kind.EVENT
    assert entry.payload.body["epcis"]["hash"] == event_hash(valid()["epcisBody"]["eventList"][0])
    assert list(entry.payload.subjects) == [pack_uri("10614141073464", "2017")]
    assert maker.ctx.store.count("packs") == 0


def test_commissioning_the_members_own_gtin_becomes_a_commission_and_pack_state(
    maker: Node,
) -> None:
    response = post(maker, ours(commissioning("A1", "A2")))
    assert response.status_code == 202, response.get_data(as_text=True)
    (entry,) = maker.ctx.store.entries_by_id(response.get_json()["entries"])
    assert entry.payload.kind is Kind.COMMISSION
    # v2: the serials are committed to, not listed; the node holds them beside the entry
    assert "serials" not in entry.payload.body
    assert sorted(entry.about) == sorted(pack_uri(GTIN, s) for s in ("A1", "A2"))
    state = maker.ctx.store.pack(pack_uri(GTIN, "A1"))
    assert state is not None
    assert (state.status, state.lot) == (Status.ACTIVE, "L1")
    # and it comes back as captured, with its hash
    answer = query(maker, f"/epcis/epcs/{sgtin('A1')}/events")
    assert document_hashes(answer) == response.get_json()["eventHashes"]


def test_shipping_a_dispensed_pack_is_409_naming_the_rule(make_epcis_node: NodeFactory) -> None:
    maker, apo = make_epcis_node("maker"), make_epcis_node("apo")
    made = maker.ctx.service.commission(GTIN, "L1", "2031-12-31", serials=["D1"])
    ship = maker.ctx.service.submit(
        Action(Kind.SHIP, subjects=[pack_uri(GTIN, "D1")], body={"destination": "apo"})
    )
    apo.ctx.store.ingest([*made.entries, ship], apo.ctx.membership)  # replicated to the pharmacy
    apo.ctx.service.submit(Action(Kind.RECEIVE, subjects=[pack_uri(GTIN, "D1")], refs=[ship.id]))
    dispense = apo.ctx.service.submit(Action(Kind.DISPENSE, subjects=[pack_uri(GTIN, "D1")]))
    response = post(apo, ours(shipping("D1", to="maker", disposition="returned")))
    assert response.status_code == 409, response.get_data(as_text=True)
    problem = response.get_json()
    assert problem["code"] == "already_inactive"
    assert problem["path"] == "$.epcisBody.eventList[0]"
    assert dispense.id in problem["evidence"]
    assert "Location" in response.headers
    job = apo.get(response.headers["Location"]).get_json()
    assert job["success"] is False
    assert job["errors"][0]["code"] == "already_inactive"
    state = apo.ctx.store.pack(pack_uri(GTIN, "D1"))
    assert state is not None
    assert state.status is Status.DISPENSED


def test_shipping_an_uncommissioned_pack_of_a_member_gtin_is_422_unknown_pack(maker: Node) -> None:
    response = post(maker, ours(shipping("NEVER")))
    assert response.status_code == 422
    assert response.get_json()["code"] == "unknown_pack"
    assert maker.ctx.store.count("entries") == 0


def test_a_pharmacy_commissioning_is_403_unauthorised_kind(make_epcis_node: NodeFactory) -> None:
    apo = make_epcis_node("apo")
    response = post(apo, ours(commissioning("P1")))
    assert response.status_code == 403
    assert response.get_json()["code"] == "unauthorised_kind"


def test_commissioning_without_lot_and_expiry_is_422_malformed(maker: Node) -> None:
    event = commissioning("M1")
    del event["ilmd"]
    response = post(maker, ours(event))
    assert response.status_code == 422
    assert response.get_json()["code"] == "malformed"
    assert response.get_json()["path"] == "$.epcisBody.eventList[0].ilmd"


def test_ship_then_receive_through_epcis_moves_custody(make_epcis_node: NodeFactory) -> None:
    maker = make_epcis_node("maker")
    assert post(maker, ours(commissioning("S1"), shipping("S1"))).status_code == 202
    state = maker.ctx.store.pack(pack_uri(GTIN, "S1"))
    assert state is not None
    assert (state.status, state.destination) == (Status.IN_TRANSIT, "whole")


def test_rollback_is_all_or_nothing_and_proceed_keeps_the_good_events(maker: Node) -> None:
    doc = ours(commissioning("R1"), shipping("NEVER"), valid()["epcisBody"]["eventList"][0])
    assert post(maker, doc).status_code == 422
    assert maker.ctx.store.count("entries") == 0
    response = post(maker, doc, behaviour="proceed")
    assert response.status_code == 202
    job = response.get_json()
    assert job["success"] is False
    assert [e["path"] for e in job["errors"]] == ["$.epcisBody.eventList[1]"]
    assert len(job["entries"]) == 2
    assert maker.get(f"/epcis/capture/{job['captureID']}").get_json() == job


def test_an_unknown_error_behaviour_is_400(maker: Node) -> None:
    assert post(maker, valid(), behaviour="retry").status_code == 400


def test_an_unknown_capture_job_is_404(maker: Node) -> None:
    assert maker.get("/epcis/capture/nope").status_code == 404


# -- corrections -----------------------------------------------------------------------------------


def test_an_error_declaration_is_a_new_entry_and_queries_show_both(maker: Node) -> None:
    original = object_event(eventID="urn:uuid:7e6c2d0e-38a6-4c59-9d5a-0f6a4b6e1d11")
    first = post(maker, document(original)).get_json()
    declared = copy.deepcopy(original)
    declared["errorDeclaration"] = {
        "declarationTime": "2026-03-03T08:00:00Z",
        "reason": "incorrect_data",
    }
    second = post(maker, document(declared)).get_json()
    (entry,) = maker.ctx.store.entries_by_id(second["entries"])
    assert entry.payload.kind is Kind.EVENT
    assert list(entry.payload.refs) == first["entries"]
    answer = query(maker, "/epcis/events/urn:uuid:7e6c2d0e-38a6-4c59-9d5a-0f6a4b6e1d11")
    events = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) == 2
    assert ["errorDeclaration" in e for e in events] == [False, True]
    assert len(set(document_hashes(answer))) == 1  # a declaration has the hash of its event


# -- queries ---------------------------------------------------------------------------------------


def test_filters_match_the_way_the_hash_compares(maker: Node) -> None:
    events = [
        object_event(epcList=["urn:epc:id:sgtin:0614141.107346.1"], bizStep="shipping"),
        object_event(
            epcList=["urn:epc:id:sgtin:0614141.107346.2"],
            bizStep="receiving",
            disposition="in_progress",
            eventTime="2026-03-05T09:00:00.000+01:00",
            bizLocation={"id": "urn:epc:id:sgln:0614141.07346.0"},
        ),
    ]
    post(maker, document(*events))

    def count(params: str) -> int:
        return len(document_hashes(query(maker, f"/epcis/events?{params}")))

    assert count("MATCH_epc=https://id.gs1.org/01/10614141073464/21/1") == 1
    assert count("MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*") == 2
    assert count("MATCH_anyEPC=urn:epc:id:sgtin:0614141.107346.2") == 1
    assert count("EQ_bizStep=https://ref.gs1.org/cbv/BizStep-receiving") == 1
    assert count("EQ_bizStep=shipping,receiving") == 2
    assert count("EQ_disposition=in_progress") == 1
    assert count("EQ_bizLocation=https://id.gs1.org/414/0614141073467") == 1
    assert count("GE_eventTime=2026-03-04T00:00:00Z") == 1
    assert count("LT_eventTime=2026-03-04T00:00:00Z") == 1
    assert count("eventType=AggregationEvent") == 0
    assert count("eventType=ObjectEvent") == 2


@pytest.mark.parametrize(
    "params", ["EQ_nonsense=1", "GE_eventTime=yesterday", "perPage=0", "nextPageToken=abc"]
)
def test_a_query_parameter_epcis_does_not_know_is_400(maker: Node, params: str) -> None:
    response = maker.get(f"/epcis/events?{params}", "verifier")
    assert response.status_code == 400
    assert response.get_json()["parameter"] in params


def test_pages_follow_the_link_header_to_the_end(maker: Node) -> None:
    post(
        maker,
        document(
            *(object_event(epcList=[f"urn:epc:id:sgtin:0614141.107346.{i}"]) for i in range(5))
        ),
    )
    seen: list[str] = []
    path: str | None = "/epcis/events?perPage=2"
    while path is not None:
        response = maker.get(path, "operator")
        seen += document_hashes(jsontext.loads(response.get_data()))
        link = response.headers.get("Link")
        path = link[link.index("/epcis") : link.index(">")] if link else None
    assert len(seen) == 5 == len(set(seen))


def test_the_medtrace_context_is_served_and_defines_every_extension_term(maker: Node) -> None:
    response = maker.client.get("/epcis/context/medtrace.jsonld")
    assert response.status_code == 200
    body = json.loads(response.get_data())
    assert body["@context"]["mt"] == "urn:medtrace:voc:"
    terms = {item["@id"] for item in body["@graph"]}
    for term in ("exported", "sample", "free_sample", "locked", "quarantined", "withdrawn"):
        assert f"mt:{term}" in terms
    assert PREFIX  # the consortium the node runs in is the EPCIS test one


LOT_URI = f"https://id.gs1.org/01/{GTIN}/10/L1"
CASE = f"https://id.gs1.org/00/{with_check_digit('0' + GTIN[1:8] + '000000001')}"


def _packing(children: list[str]) -> dict[str, Any]:
    event = object_event(action="ADD", bizStep="packing", disposition="in_progress")
    del event["epcList"]
    return {**event, "type": "AggregationEvent", "parentID": CASE, "childEPCs": children}


@pytest.mark.parametrize(
    ("event", "path", "expected"),
    [
        pytest.param(
            lambda: shipping("G1") | {"epcList": [sgtin("G1"), LOT_URI]},
            "epcList[1]",
            "expected packs (SGTIN) or containers (SSCC)",
            id="a-lot-among-the-shipped-goods",
        ),
        pytest.param(
            lambda: _packing([sgtin("G1"), LOT_URI]),
            "childEPCs[1]",
            "expected packs or containers as children",
            id="a-lot-among-the-packed-children",
        ),
    ],
)
def test_a_lot_where_packs_or_containers_belong_is_refused_naming_its_place(
    maker: Node, event: Callable[[], dict[str, Any]], path: str, expected: str
) -> None:
    maker.ctx.service.commission(GTIN, "L1", "2031-12-31", serials=["G1"])
    before = maker.ctx.store.count("entries")
    response = post(maker, ours(event()))
    problem = response.get_json()
    assert response.status_code == 422, problem
    assert problem["path"].endswith(path), problem
    assert expected in problem["detail"], problem
    assert maker.ctx.store.count("entries") == before
