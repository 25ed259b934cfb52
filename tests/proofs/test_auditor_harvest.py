"""An auditor's token learns no serial of a pack it did not ask about (issue 14, ADR 0019):
feeds' entries come to it without sidecars, and EPCIS answers show of each event's EPC lists
only the EPCs the query names. Peers and operators keep whole lists (replication needs them)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from keys.consortium import Consortium
from node.config import load_config
from node.replication.http_peer import HttpPeer
from node.replication.signed_requests import RequestSigner
from tests.api.conftest import GTIN, PASSPHRASE, pack
from tests.api.test_server import create_token
from tests.proofs.conftest import PACKS, Harvest


def _entries(harvest: Harvest, role: str) -> list[dict[str, Any]]:
    feed = load_config(harvest.data).feed
    answer = harvest.get(f"/api/v1/feeds/{feed}/entries?from=0&limit=1000", role)
    assert answer.status_code == 200, answer.text[:300]
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


def _events(answer_json: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = answer_json["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return events


def test_harvest_from_feed_entries_with_an_auditor_token(harvest: Harvest) -> None:
    feed = load_config(harvest.data).feed
    answer = harvest.get(f"/api/v1/feeds/{feed}/entries?from=0&limit=1000", "auditor")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["entries"], "expected the node's entries, roots and signatures"
    assert "sidecar" not in answer.text
    assert harvest.others_in(answer.text) == set()


def test_peer_and_operator_feed_entries_keep_sidecars(harvest: Harvest) -> None:
    assert any("sidecar" in e for e in _entries(harvest, "operator"))
    assert harvest.consortium is not None
    feed = load_config(harvest.data).feed
    token = create_token(harvest.data, "peer", "peer@dist")
    key = Consortium.open(harvest.consortium).feed_key("dist/wh", PASSPHRASE)
    signer = RequestSigner("dist/wh", key)
    with HttpPeer("acme", harvest.url, token, signer=signer) as peer:
        page = peer.entries(feed, 0, 1000)
    committed = [e for e in page if e.payload.commits]
    assert committed, "expected the committed entries, with their sidecars, for replication"
    for entry in committed:
        entry.require_sidecar()


def test_harvest_from_epcis_query_with_an_auditor_token(harvest: Harvest) -> None:
    for query in (
        "eventType=ObjectEvent&perPage=1000",
        "eventType=AggregationEvent&perPage=1000",
        f"MATCH_anyEPC={quote(f'urn:epc:idpat:sgtin:{GTIN}.*', safe='')}&perPage=1000",
        "EQ_bizStep=commissioning&perPage=1000",
        "perPage=1000",
    ):
        answer = harvest.get(f"/epcis/events?{query}", "auditor")
        assert answer.status_code == 200, answer.text[:300]
        assert harvest.others_in(answer.text) == set(), query
    events = harvest.get("/epcis/events?perPage=1000", "auditor").json()
    assert _events(events), "expected the events, their lists cut"


def test_auditor_epcis_query_naming_one_pack_shows_it(harvest: Harvest) -> None:
    asked = harvest.captured[0]
    answer = harvest.get(f"/epcis/events?MATCH_epc={quote(pack(asked), safe='')}", "auditor")
    assert answer.status_code == 200, answer.text[:300]
    stored = [e for e in _events(answer.json()) if e.get("bizStep") == "storing"]
    assert stored
    assert stored[0]["epcList"] == [pack(asked)]
    assert harvest.others_in(answer.text) - {asked} == set()
    # an operator sees whole lists
    whole = harvest.get(f"/epcis/events?MATCH_epc={quote(pack(asked), safe='')}", "operator")
    listed = [e for e in _events(whole.json()) if e.get("bizStep") == "storing"]
    assert sorted(listed[0]["epcList"]) == sorted(pack(s) for s in harvest.captured)
    assert len(harvest.captured) < PACKS


def test_harvest_from_alert_evidence_with_an_auditor_token(harvest: Harvest) -> None:
    answer = harvest.get("/api/v1/alerts?limit=5000", "auditor")
    assert answer.status_code == 200, answer.text[:300]
    alerts = answer.json()["alerts"]
    assert [e for a in alerts for e in a["entries"]], "expected the evidence entries"
    assert "sidecar" not in answer.text
    # the alerts name the packs that failed a check (documented); the evidence names no other
    named = {a["subject"] for a in alerts}
    evidence = json.dumps([e for a in alerts for e in a["entries"]])
    assert {s for s in harvest.others_in(evidence) if pack(s) not in named} == set()
