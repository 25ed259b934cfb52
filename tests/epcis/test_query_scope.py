"""What a verifier may ask of EPCIS (issue 13, finding 1): the events of one pack or container,
never a listing, a pattern or a class; its probes of unknown EPCs count as serial harvesting;
and a refused capture reads as words, not Python reprs."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlencode

from api.epcis_index import INDEX_KEY as _INDEX
from api.problems import Problem
from ledger.epcis import jsontext
from ledger.kinds import Kind
from tests.api.test_problems import assert_problem
from tests.epcis.conftest import GTIN, PREFIX, NodeFactory
from tests.epcis.documents import object_event
from tests.epcis.test_capture import ours, post, sgtin
from tests.nodes_setup import Node

#: The SGTIN URN of a pack of GTIN (indicator 0, item reference 00001 after the prefix).
URN_ROOT = f"urn:epc:id:sgtin:{PREFIX}.0{GTIN[8:13]}."
ALL_SERIALS = f"urn:epc:idpat:sgtin:{PREFIX}.0{GTIN[8:13]}.*"


def commission(node: Node, count: int) -> list[str]:
    made = node.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2031-12-31", "count": count}
    )
    assert made.status_code == 201, made.get_json()
    serials: list[str] = made.get_json()["serials"]
    return serials


def events(path: str, **params: str | list[str]) -> str:
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def epc_path(epc: str) -> str:
    return f"/epcis/epcs/{quote(epc, safe=':')}/events"


def serials_in(response: Any, serials: list[str]) -> set[str]:
    text = response.get_data(as_text=True)
    return {s for s in serials if s in text}


def test_epcis_query_dumps_serials(make_epcis_node: NodeFactory) -> None:
    maker = make_epcis_node("maker")
    serials = commission(maker, 30)
    one, other = serials[0], serials[1]
    too_broad = {
        "listing of a type, a large page": events(
            "/epcis/events", eventType="ObjectEvent", perPage="1000"
        ),
        "listing of a type": events("/epcis/events", eventType="ObjectEvent"),
        "no parameter at all": "/epcis/events",
        "a time window": events("/epcis/events", GE_eventTime="2000-01-01T00:00:00Z"),
        "a business step": events("/epcis/events", EQ_bizStep="commissioning"),
        "every serial of the GTIN": events("/epcis/events", MATCH_epc=ALL_SERIALS),
        "every serial, anywhere in the event": events("/epcis/events", MATCH_anyEPC=ALL_SERIALS),
        "every serial, in the path": epc_path(ALL_SERIALS),
        "a wildcard Digital Link": events("/epcis/events", MATCH_epc=sgtin("*")),
        "the product (class)": events("/epcis/events", MATCH_epc=f"https://id.gs1.org/01/{GTIN}"),
        "the lot (class)": events("/epcis/events", MATCH_epc=f"https://id.gs1.org/01/{GTIN}/10/L1"),
        "the lot as an LGTIN URN": events(
            "/epcis/events", MATCH_epc=f"urn:epc:class:lgtin:{PREFIX}.0{GTIN[8:13]}.L1"
        ),
        "two packs": events("/epcis/events", MATCH_epc=[sgtin(one), sgtin(other)]),
        "one pack, a large page": events("/epcis/events", MATCH_epc=sgtin(one), perPage="1000"),
        "one pack in the path, a large page": epc_path(URN_ROOT + one) + "?perPage=101",
    }
    for what, path in too_broad.items():
        answer = maker.get(path, "verifier")
        problem = assert_problem(answer, 403, "query-too-broad")
        if what.endswith("in the path"):
            assert problem["parameter"] == "epc"
        assert "exactly one pack or container" in problem["detail"], what
        assert "at most 100 events per page" in problem["detail"], what
        assert serials_in(answer, serials) <= {one, other}, what  # echoes what it was asked
    # what a verifier may ask: the events of the pack in its hand
    for path in (
        epc_path(URN_ROOT + one),
        epc_path(sgtin(one)),
        events("/epcis/events", MATCH_epc=URN_ROOT + one),
        events("/epcis/events", MATCH_anyEPC=sgtin(one), EQ_bizStep="commissioning"),
        events("/epcis/events", MATCH_epc=sgtin(one), perPage="100"),
    ):
        answer = maker.get(path, "verifier")
        assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        assert one in serials_in(answer, serials), path
    # operators and auditors keep the whole query language; an auditor's answers name only
    # the EPCs its query names (issue 14), an operator's every pack
    for role, seen in (("operator", set(serials)), ("auditor", set())):
        for what in ("listing of a type, a large page", "every serial of the GTIN"):
            answer = maker.get(too_broad[what], role)
            assert answer.status_code == 200, (role, what, answer.get_data(as_text=True))
            assert serials_in(answer, serials) == seen, (role, what)
        assert maker.get(too_broad["the lot (class)"], role).status_code == 200


def test_a_verifiers_malformed_query_is_still_400_naming_the_parameter(maker: Node) -> None:
    answer = maker.get(events("/epcis/events", EQ_nonsense="1"), "verifier")
    assert assert_problem(answer, 400, "invalid-request")["parameter"] == "EQ_nonsense"


def test_epcis_probes_unknown_serials(make_epcis_node: NodeFactory) -> None:
    maker = make_epcis_node("maker", harvest_max_unknown=10, harvest_window_s=600)
    real = commission(maker, 5)
    for serial in real:  # packs that exist never count
        assert maker.get(epc_path(URN_ROOT + serial), "verifier").status_code == 200
    probes = [f"H{secrets.token_hex(5).upper()}" for _ in range(10)]
    for i, serial in enumerate(probes):
        path = (
            epc_path(URN_ROOT + serial)
            if i % 2
            else events("/epcis/events", MATCH_epc=sgtin(serial))
        )
        answer = maker.get(path, "verifier")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        found = jsontext.loads(answer.get_data())
        assert found["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []

    refused = maker.get(epc_path(URN_ROOT + "HNEXT"), "verifier")
    problem = assert_problem(refused, 429, "rate-limited")
    assert problem["code"] == "serial_harvesting"
    assert int(refused.headers["Retry-After"]) > 500
    # the real pack in hand is refused too now: the token is throttled, not the serial
    assert maker.get(epc_path(URN_ROOT + real[0]), "verifier").status_code == 429
    # other tokens are not
    assert maker.get(epc_path(URN_ROOT + real[0]), "operator").status_code == 200

    listed = maker.get("/api/v1/alerts?code=serial_harvesting", "auditor").get_json()
    assert listed["count"] == 1
    [alert] = listed["alerts"]
    details = alert["details"]
    assert (details["user"], details["role"], details["count"]) == ("verifier-1", "verifier", 10)
    assert set(details["sample"]) == {sgtin(s) for s in probes}


def test_python_repr_in_problem(make_epcis_node: NodeFactory) -> None:
    """A regulator's node may not destroy: the 403 lists what it may write, in words."""
    agency = make_epcis_node("agency")
    destroying = object_event(epcList=[sgtin("P1")], bizStep="destroying", disposition="destroyed")
    answer = post(agency, ours(destroying))
    problem = assert_problem(answer, 403, "kind-not-allowed")
    assert problem["code"] == "unauthorised_kind"
    assert problem["detail"] == (
        "expected a kind feed agency/desk may write (event, lock, recall, unlock, withdraw), "
        "found destroy"
    )
    text = answer.get_data(as_text=True)
    assert "Kind." not in text
    assert "<" not in text
    job = agency.get(answer.headers["Location"]).get_json()
    assert "Kind." not in str(job)
    # and whatever formatted a message, the answer carries the value, not the repr
    slipped = Problem("kind-not-allowed", f"found {[Kind.DESTROY, Kind.LOCK]!r}").body()
    assert slipped["detail"] == "found [destroy, lock]"


def test_epcis_query_cost_unbounded_for_verifiers(make_epcis_node: NodeFactory) -> None:
    """A verifier's EPCIS query about one pack is answered from the store's subject index at the
    cost of that pack's entries: it never builds the index of the whole ledger that operators'
    and auditors' full queries use (6.5 s and ~115 MB per worker on a 210,107-pack node), and
    it answers exactly what that index would."""
    maker = make_epcis_node("maker")
    serials = commission(maker, 40)
    for serial in serials[:3]:
        shipped = maker.post("/api/v1/actions/lock", {"subjects": [sgtin(serial)]})
        assert shipped.status_code == 201, shipped.get_json()
    asked = {
        "the pack, in the path": epc_path(URN_ROOT + serials[0]),
        "the pack as anyEPC": events("/epcis/events", MATCH_anyEPC=sgtin(serials[1])),
        "the pack as epc, a business step": events(
            "/epcis/events", MATCH_epc=sgtin(serials[2]), EQ_bizStep="commissioning"
        ),
        "an unknown pack": epc_path(URN_ROOT + "NOSUCH1"),
    }
    answered = {}
    for what, path in asked.items():
        verifier = maker.get(path, "verifier")
        assert verifier.status_code == 200, (what, verifier.get_data(as_text=True))
        answered[what] = _events_of(verifier)
    assert _INDEX not in maker.app.extensions  # no ledger-wide index was built for them
    for what, path in asked.items():
        # the same events (a verifier's name no other pack: their EPC lists are cut to it)
        full = _events_of(maker.get(path, "auditor"))
        assert [e["eventID"] for e in answered[what]] == [e["eventID"] for e in full], what
    assert _INDEX in maker.app.extensions  # the auditor's full query language uses it
    assert [len(answered[what]) for what in asked] == [2, 2, 1, 0]


def _events_of(response: Any) -> list[Any]:
    found: list[Any] = jsontext.loads(response.get_data())["epcisBody"]["queryResults"][
        "resultsBody"
    ]["eventList"]
    return found
