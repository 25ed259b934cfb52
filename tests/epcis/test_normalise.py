"""EPC URNs and Digital Link URIs to canonical GS1 Digital Link: every published vector."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.epcis.normalise import canonical, check_digit, ledger_subject, parse
from ledger.identifiers import container_uri, lot_uri, pack_uri, product_uri
from tests.epcis.conftest import HASH_GENERATOR, need


def vectors() -> list[dict[str, Any]]:
    path = HASH_GENERATOR / "dl_normaliser_vectors.json"
    if not path.exists():
        return []
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return list(data["vectors"])


def test_there_are_71_vectors() -> None:
    need(HASH_GENERATOR / "dl_normaliser_vectors.json")
    assert len(vectors()) == 71
    assert sum(v["expected"] is None for v in vectors()) == 9


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: f"{v['group']}:{str(v['input'])[:60]}")
def test_every_normaliser_vector_is_reproduced_rejections_included(vector: dict[str, Any]) -> None:
    assert canonical(vector["input"]) == vector["expected"]


@pytest.mark.parametrize(
    ("epc", "ledger"),
    [
        ("urn:epc:id:sgtin:4012345.011111.ABC-123", pack_uri("04012345111118", "ABC-123")),
        ("urn:epc:id:sgtin:0614141.107346.2017", pack_uri("10614141073464", "2017")),
        ("https://id.gs1.org/01/10614141073464/21/2017", pack_uri("10614141073464", "2017")),
        (
            "https://example.com/gtin/10614141073464/ser/2017?x=1",
            pack_uri("10614141073464", "2017"),
        ),
        ("urn:epc:id:sscc:4012345.0000000011", container_uri("040123450000000115")),
        ("urn:epc:class:lgtin:4012345.012345.Lot987", lot_uri("04012345123456", "Lot987")),
        ("urn:epc:idpat:sgtin:4012345.012345.*", product_uri("04012345123456")),
    ],
)
def test_sgtin_and_sscc_normalise_to_the_ledgers_own_subjects(epc: str, ledger: str) -> None:
    assert canonical(epc) == ledger
    assert ledger_subject(epc) == ledger


def test_a_serial_the_ledger_escapes_differently_still_maps_by_its_parts() -> None:
    # Digital Link keeps "'" as is (the reference hashes do too); the ledger percent-encodes it.
    epc = "urn:epc:id:sgtin:4012345.011111.A'B"
    assert canonical(epc) == "https://id.gs1.org/01/04012345111118/21/A'B"
    assert ledger_subject(epc) == pack_uri("04012345111118", "A'B")
    assert ledger_subject(epc) == "https://id.gs1.org/01/04012345111118/21/A%27B"


@pytest.mark.parametrize(
    "uri",
    [
        "urn:epc:id:sgln:4012345.00005.0",  # a location, not a pack
        "https://id.gs1.org/01/04012345111119/21/X",  # wrong check digit: the ledger checks it
        "https://example.com/private/id/42",
        "urn:epc:id:sgtin:4012345.011111.",  # no serial
    ],
)
def test_identifiers_the_ledger_cannot_name_have_no_subject(uri: str) -> None:
    assert ledger_subject(uri) is None


def test_parse_splits_key_and_qualifiers() -> None:
    key = parse("urn:epc:id:sgln:4012345.00005.122")
    assert key is not None
    assert (key.ai, key.key, key.qualifier("254")) == ("414", "4012345000054", "122")
    assert check_digit("401234500005") == "4"
