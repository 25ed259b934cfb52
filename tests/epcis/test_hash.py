"""The CBV 2.0 event hash: every published reference hash, and what must (not) change it."""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.epcis import jsontext
from ledger.epcis.context import document_context
from ledger.epcis.hash import HASH_URI, document_hashes, event_hash, events_of
from ledger.epcis.values import canonical_number, canonical_time
from tests.epcis.conftest import GS1_EPCIS, HASH_GENERATOR, load, need


def reference_examples() -> list[Path]:
    return sorted(
        p for p in HASH_GENERATOR.glob("examples/*.jsonld") if p.with_suffix(".hashes").exists()
    )


def test_there_are_22_json_ld_reference_files() -> None:
    need(HASH_GENERATOR / "examples")
    assert len(reference_examples()) == 22


@pytest.mark.parametrize("path", reference_examples(), ids=lambda p: p.stem)
def test_every_reference_hash_is_reproduced_in_document_order(path: Path) -> None:
    expected = [
        line.strip()
        for line in path.with_suffix(".hashes").read_text().splitlines()
        if line.strip()
    ]
    assert document_hashes(load(path)) == expected


def test_the_expected_equal_json_document_is_one_event_written_twice() -> None:
    hashes = document_hashes(
        load(HASH_GENERATOR / "expected_equal" / "ReferenceEventHashAlgorithm.json")
    )
    assert len(hashes) == 2
    assert len(set(hashes)) == 1
    assert all(HASH_URI.match(h) for h in hashes)


# -- GS1's "identical hash" set (XML/WithEventHashID), in JSON: ADR 0010 ------------------------

IDENTICAL = GS1_EPCIS / "XML" / "WithEventHashID" / "event_with_identical_hash_id_7.json"
#: The hash of GS1's identical-hash event: equal to the reference implementation's pre-hash of
#: files _1, _3, _4, _5 and _6 once XML type annotations (xsi:type) are not counted as data.
IDENTICAL_HASH = (
    "ni:///sha-256;562ccc013c1a8bd231aa3577158164098fe1dd72e88cf4cad64137470627b82b?ver=CBV2.0"
)


def identical() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = load(IDENTICAL)
    return doc, doc["epcisBody"]["eventList"][0]


def hash_of(doc: dict[str, Any]) -> str:
    return document_hashes(doc)[0]


def test_the_json_identical_hash_event_has_the_recorded_hash() -> None:
    doc, _ = identical()
    assert hash_of(doc) == IDENTICAL_HASH


def _shuffled(doc: dict[str, Any]) -> None:  # as files _3/_4: lists and members in other orders
    event = doc["epcisBody"]["eventList"][0]
    rng = random.Random(7)
    for key in ("epcList", "quantityList", "sourceList", "destinationList"):
        rng.shuffle(event[key])
    doc["epcisBody"]["eventList"][0] = dict(reversed(list(event.items())))


def _renamed_prefix(doc: dict[str, Any]) -> None:  # as file _5: another prefix, the same IRI
    doc["@context"][1] = {"other": "http://example.com/ext1"}
    text = jsontext.dumps(doc).replace('"ext1:', '"other:')
    doc.clear()
    doc.update(jsontext.loads(text))


def _other_time_zone(doc: dict[str, Any]) -> None:  # the same instant written in UTC
    doc["epcisBody"]["eventList"][0]["eventTime"] = "2005-04-05T02:33:31.116Z"


def _precision(doc: dict[str, Any]) -> None:  # 26.0 vs 26.000, 20.0 vs 20, time fraction
    event = doc["epcisBody"]["eventList"][0]
    report = event["sensorElementList"][0]["sensorReport"][0]
    report["value"] = Decimal("26.000")
    report["minValue"] = 26
    event["ext1:float"] = 20
    event["eventTime"] = "2005-04-04T20:33:31.1160-06:00"


def _curie_spelled_out(doc: dict[str, Any]) -> None:  # gs1:Temperature = the bare word
    doc["epcisBody"]["eventList"][0]["sensorElementList"][0]["sensorReport"][0]["type"] = (
        "Temperature"
    )


def _web_uris_for_urns(doc: dict[str, Any]) -> None:  # CBV URNs = Web URIs = bare words
    event = doc["epcisBody"]["eventList"][0]
    event["bizStep"] = "receiving"
    event["disposition"] = "https://ref.gs1.org/cbv/Disp-in_progress"


def _bookkeeping(doc: dict[str, Any]) -> None:  # not hashed: recordTime, eventID, declaration
    event = doc["epcisBody"]["eventList"][0]
    event["recordTime"] = "2026-01-01T00:00:00Z"
    event["eventID"] = "urn:uuid:7e6c2d0e-38a6-4c59-9d5a-0f6a4b6e1d11"
    event["errorDeclaration"] = {
        "declarationTime": "2026-01-02T00:00:00Z",
        "reason": "incorrect_data",
    }


@pytest.mark.parametrize(
    "variation",
    [
        _shuffled,
        _renamed_prefix,
        _other_time_zone,
        _precision,
        _curie_spelled_out,
        _web_uris_for_urns,
        _bookkeeping,
    ],
)
def test_a_different_serialisation_of_the_identical_event_keeps_its_hash(variation: Any) -> None:
    doc, _ = identical()
    varied = copy.deepcopy(doc)
    variation(varied)
    assert hash_of(varied) == IDENTICAL_HASH


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("eventTimeZoneOffset", "-05:00"),  # GS1's file _2: the offset is part of the event
        ("action", "OBSERVE"),
        ("ext1:int", 11),
    ],
)
def test_a_different_event_gets_a_different_hash(member: str, value: Any) -> None:
    doc, event = identical()
    event[member] = value
    assert hash_of(doc) != IDENTICAL_HASH


def test_an_events_hash_does_not_depend_on_its_siblings() -> None:
    doc, event = identical()
    sibling = copy.deepcopy(event)
    sibling["ext1:default"] = "receiving"  # a bare CBV word in a sibling's extension
    doc["epcisBody"]["eventList"] = [sibling, event]
    assert document_hashes(doc)[1] == IDENTICAL_HASH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-02-02T11:04:03.1415Z", "2023-02-02T11:04:03.142Z"),
        ("2023-02-02T11:04:03.1414Z", "2023-02-02T11:04:03.141Z"),
        ("2019-12-31T23:59:59.9996Z", "2020-01-01T00:00:00.000Z"),
        ("2019-10-21T14:58:56+02:00", "2019-10-21T12:58:56.000Z"),
        ("2005-04-03T20:33:31.116000-06:00", "2005-04-04T02:33:31.116Z"),
        ("not a time", "not a time"),
    ],
)
def test_times_are_utc_milliseconds_rounded_half_up(text: str, expected: str) -> None:
    assert canonical_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26.0", "26"),
        ("0.180000", "0.18"),
        ("1E3", "1000"),
        ("-0.0", "0"),
        ("0614141", "614141"),
        ("12a", None),
    ],
)
def test_numbers_compare_as_exact_decimals(text: str, expected: str | None) -> None:
    assert canonical_number(text) == expected


def test_decimals_beyond_binary_precision_are_kept_exact() -> None:
    doc, event = identical()
    event["ext1:float"] = Decimal("0.12345678901234567890123")
    first = hash_of(doc)
    event["ext1:float"] = Decimal("0.12345678901234567890124")
    assert hash_of(doc) != first


def test_an_event_level_context_is_context_not_data() -> None:
    doc, event = identical()
    ctx = document_context(doc)
    scoped = {"@context": [{"ext1": "http://example.com/ext1"}], **event}
    assert event_hash(scoped, ctx) == IDENTICAL_HASH
    assert events_of(doc) == [event]
