"""Import declarations through the API of real node data directories (ADR 0020): all or
nothing, every error one problem with its path, the commercial fields sealed from every other
organisation and from verifiers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ledger.identifiers import pack_uri
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, openings_held, replicate
from tests.nodes_setup import NodeFactory

Mutation = Callable[[dict[str, Any]], None]


def _batch(request: dict[str, Any], n: int) -> list[dict[str, Any]]:
    batch = []
    for i in range(n):
        item = copy.deepcopy(request)
        item["reference"] = f"DE-2026-{i:06d}"
        item["packages"] = [{"gtin": GTIN, "serial": f"S{i}"}]
        batch.append(item)
    return batch


def test_declaration_is_recorded_and_read_back(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    border = make_node("border")
    answer = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 201, answer.json
    (declared,) = answer.json["declared"]
    assert declared["reference"] == "DE-2026-000123"
    shown = border.get("/api/v1/declarations/DE-2026-000123").json
    assert shown["packages"] == ["https://id.gs1.org/00/040123450000000016"]
    assert shown["declaration"]["countryOfOrigin"] == "IN"
    assert shown["commercial"]["consignee"]["name"] == "Acme Pharma GmbH"
    assert shown["commercial"]["goods"][0]["value"] == {"amount": "11.20", "currency": "EUR"}


def test_many_packs_are_committed_not_listed(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    border = make_node("border")
    packs = [{"gtin": GTIN, "serial": f"P{i}"} for i in range(3)]
    declaration_request["packages"] = [*declaration_request["packages"], *packs]
    assert (
        border.post("/api/v1/declarations", {"declarations": [declaration_request]}).status_code
        == 201
    )
    (entry,) = border.ctx.store.entries(border.ctx.feed)
    assert entry.payload.subjects == ("https://id.gs1.org/00/040123450000000016",)
    assert "commitment" in entry.payload.body
    assert set(entry.about) >= {pack_uri(GTIN, f"P{i}") for i in range(3)}
    shown = border.get("/api/v1/declarations/DE-2026-000123").json
    assert len(shown["packages"]) == 4


def test_declaration_fields_not_visible_to_others(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    border, reg, acme = make_node("border"), make_node("reg"), make_node("acme")
    assert (
        border.post("/api/v1/declarations", {"declarations": [declaration_request]}).status_code
        == 201
    )
    secrets = ("Acme Pharma GmbH", "Sunrise Generics", "11.20", "0.056", "Nord Customs")
    # a verifier of the customs node itself may not read declarations at all
    assert border.get("/api/v1/declarations/DE-2026-000123", TokenRole.VERIFIER).status_code == 403
    for other in (reg, acme):
        replicate(border, other)
        for entry in other.ctx.store.entries(border.ctx.feed):
            assert not any(s.encode() in entry.payload_bytes for s in secrets)
    # the regulator's node holds the declaration and its seal, never the clear fields
    for role in (TokenRole.OPERATOR, TokenRole.AUDITOR):
        answer = reg.get("/api/v1/declarations/DE-2026-000123", role)
        assert answer.status_code == 200, answer.json
        assert answer.json["commercial"] is None
        assert answer.json["sealed"]["fields"] == ["consignee", "consignor", "declarant", "goods"]
        assert not any(s in answer.get_data(as_text=True) for s in secrets)
    # a manufacturer's node holds the entry but answers no declaration query
    assert acme.get("/api/v1/declarations/DE-2026-000123").status_code == 404
    # nor does an EPCIS query about the declared pallet show the declaration
    events = acme.get(
        "/epcis/events?MATCH_anyEPC=https://id.gs1.org/00/040123450000000016", TokenRole.VERIFIER
    )
    assert not any(s in events.get_data(as_text=True) for s in secrets)


BAD: list[tuple[str, Mutation, str]] = [
    ("hs code of 4 digits", lambda d: d["goods"][0].update(hsCode="3004"), "goods[0].hsCode"),
    ("no consignee", lambda d: d.pop("consignee"), ""),
    ("address type", lambda d: d["consignee"].update(addressType="home"), "consignee.addressType"),
    ("country", lambda d: d.update(countryOfOrigin="India"), "countryOfOrigin"),
    ("float value", lambda d: d["goods"][0]["value"].update(amount=11.2), "goods[0].value.amount"),
    ("bad sscc", lambda d: d.update(packages=[{"sscc": "040123450000000017"}]), "packages[0].sscc"),
    ("no packages", lambda d: d.update(packages=[]), "packages"),
    ("transport mode", lambda d: d.update(transportMode=6), "transportMode"),
    ("office", lambda d: d.update(officeOfEntry="Hamburg"), "officeOfEntry"),
    ("zero net mass", lambda d: d["goods"][0].update(netMassKg="0.000"), "goods[0].netMassKg"),
    ("pack twice", lambda d: d.update(packages=[{"sscc": "040123450000000016"}] * 2), "packages"),
    ("unknown member", lambda d: d.update(incoterm="CIF"), ""),
]


@pytest.mark.parametrize(("what", "mutate", "where"), BAD, ids=[b[0] for b in BAD])
def test_declaration_schema_errors_store_nothing(
    make_node: NodeFactory,
    declaration_request: dict[str, Any],
    what: str,
    mutate: Mutation,
    where: str,
) -> None:
    border = make_node("border")
    batch = _batch(declaration_request, 3)
    mutate(batch[2])
    answer = border.post("/api/v1/declarations", {"declarations": batch})
    assert answer.status_code == 400, (what, answer.json)
    assert answer.json["type"] == "urn:medtrace:problem:invalid-request"
    assert answer.json["path"].startswith("$.declarations[2]"), answer.json
    assert answer.json["path"].endswith(where), answer.json
    assert answer.json["detail"].startswith("$.declarations[2]")
    assert border.ctx.store.head(border.ctx.feed) is None
    assert openings_held(border) == 0
    assert border.get("/api/v1/declarations/DE-2026-000000").status_code == 404


def test_duplicate_reference_in_a_batch_stores_nothing(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    border = make_node("border")
    batch = _batch(declaration_request, 2)
    batch[1]["reference"] = batch[0]["reference"]
    answer = border.post("/api/v1/declarations", {"declarations": batch})
    assert answer.status_code == 400
    assert answer.json["path"] == "$.declarations[1].reference"
    assert border.ctx.store.head(border.ctx.feed) is None
    assert openings_held(border) == 0


def test_refused_signing_keeps_no_opening(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    """A manufacturer's node refuses declarations before anything is kept."""
    acme = make_node("acme")
    answer = acme.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 403
    assert acme.ctx.store.head(acme.ctx.feed) is None
    assert openings_held(acme) == 0
