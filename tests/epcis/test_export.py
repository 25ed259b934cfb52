"""medtrace's own entries, written through its API and replicated, exported as EPCIS 2.0: the
demo's supply chain (the golden scenario) and every other kind validate against GS1's schema."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.hash import document_hashes
from ledger.epcis.query import Record, query_document
from ledger.epcis.render import render
from ledger.epcis.validate.document import validate_document
from ledger.feed import FeedWriter
from ledger.kinds import Kind
from tests.epcis.conftest import SCHEMA, need
from tests.vectors import golden


def exported(entries: list[SignedEntry]) -> dict[str, Any]:
    membership = golden.genesis_membership()
    records = [Record.of(render(entry, membership)) for entry in entries]
    return query_document(records, "2026-03-06T00:00:00.000Z")


def more_kinds() -> list[SignedEntry]:
    """One entry of each kind the golden scenario does not have (rendering reads the payload
    only, so these need not pass the rules)."""
    writer = FeedWriter(golden.MANUFACTURER, golden.seed_key(0x11))
    pack = golden.PACKS[1]
    steps: list[tuple[Kind, list[str], dict[str, Any]]] = [
        (Kind.UNPACK, [golden.CASE, pack], {}),
        (Kind.LOCK, [pack], {}),
        (Kind.UNLOCK, [pack], {}),
        (Kind.EXPORT, [pack], {}),
        (Kind.SAMPLE, [pack], {"free": True}),
        (Kind.DESTROY, [pack], {}),
        (Kind.STOLEN, [pack], {}),
        (Kind.RETURN, [pack], {"destination": "nordic-dist"}),
        (Kind.RECALL, [golden.LOT_URI], {}),
        (Kind.WITHDRAW, [golden.LOT_URI.rsplit("/10/", 1)[0]], {}),
        (Kind.INSPECT, [pack], {"decision": "hold", "reasons": ["seal broken"]}),
    ]
    entries = []
    for index, (kind, subjects, body) in enumerate(steps):
        entries.append(
            writer.append(
                kind, subjects=subjects, body=body, ts=f"2026-03-07T08:00:{index:02d}.000Z"
            )
        )
    undo = writer.append(
        Kind.UNDO, subjects=[pack], refs=[entries[3].id], ts="2026-03-07T09:00:00.000Z"
    )
    return [*entries, undo]


def test_the_demo_supply_chain_exports_as_valid_epcis() -> None:
    entries = [entry for _, entry in golden.scenario()]
    doc = exported(entries)
    plain = json.loads(jsontext.dumps(doc))
    validator = Draft7Validator(_schema(), format_checker=FormatChecker())
    assert [e.message for e in validator.iter_errors(plain)] == []
    validate_document(doc)
    events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["mt:kind"] for e in events] == [e.payload.kind.value for e in entries]
    assert [e["type"] for e in events[:2]] == ["ObjectEvent", "AggregationEvent"]
    assert events[0]["ilmd"] == {
        "cbvmda:lotNumber": golden.LOT,
        "cbvmda:itemExpirationDate": golden.EXPIRY,
    }
    # every event's eventID is its hash, and the hash survives the document
    assert document_hashes(doc) == [e["eventID"] for e in events]


def test_every_other_kind_exports_as_valid_epcis() -> None:
    doc = exported(more_kinds())
    validator = Draft7Validator(_schema(), format_checker=FormatChecker())
    plain = json.loads(jsontext.dumps(doc))
    assert [e.message for e in validator.iter_errors(plain)] == []
    validate_document(doc)
    events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    by_kind = {e["mt:kind"]: e for e in events}
    assert by_kind["return"]["disposition"] == "returned"
    assert by_kind["sample"]["disposition"] == "mt:free_sample"
    assert by_kind["inspect"]["disposition"] == "mt:quarantined"
    assert by_kind["recall"]["quantityList"] == [{"epcClass": golden.LOT_URI}]
    assert "bizStep" not in by_kind["stolen"]


def test_rendering_is_deterministic() -> None:
    entries = [entry for _, entry in golden.scenario()]
    assert document_hashes(exported(entries)) == document_hashes(exported(entries))


def _schema() -> Any:
    return json.loads(need(SCHEMA).read_text(encoding="utf-8"))
