"""A declaration names its packages, so it is part of their history: a pack inside a declared
case still verifies as before (the ``declare`` entry changes no pack state), at the customs node
and at a node it replicated to, and a verifier's provenance shows the seal, never the clear
fields."""

from __future__ import annotations

from typing import Any

from ledger.identifiers import container_uri, pack_uri
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, SSCC, replicate
from tests.nodes_setup import NodeFactory


def test_pack_in_a_declared_case_scans_release(
    make_node: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    acme, border, reg = make_node("acme"), make_node("border"), make_node("reg")
    done = acme.post(
        "/api/v1/commission",
        {"gtin": GTIN, "lot": "L2607", "expiry": "2030-12-31", "serials": ["D1", "D2", "D3"]},
    )
    assert done.status_code == 201, done.json
    packs = [pack_uri(GTIN, s) for s in ("D1", "D2", "D3")]
    packed = acme.post("/api/v1/actions/pack", {"subjects": [container_uri(SSCC), *packs]})
    assert packed.status_code == 201, packed.json
    replicate(acme, border)
    declaration_request["packages"] = [
        {"sscc": SSCC},
        {"gtin": GTIN, "serial": "D1"},
        {"gtin": GTIN, "serial": "D2"},
    ]
    lodged = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert lodged.status_code == 201, lodged.json
    replicate(border, reg)  # the declaration's packs travel in its sidecar, checked at ingest
    assert len(reg.get("/api/v1/declarations/DE-2026-000123").json["packages"]) == 3
    for node in (border, reg):
        scanned = node.client.post(
            "/api/v1/scan",
            json={"text": f"(01){GTIN}(17)301231(10)L2607(21)D1"},
            headers=node.auth(TokenRole.VERIFIER),
        )
        assert scanned.status_code == 200, scanned.get_json()
        assert scanned.get_json()["verdict"] == "RELEASE", scanned.get_json()
        provenance = node.get(f"/api/v1/packs/{GTIN}/D1/provenance", TokenRole.VERIFIER)
        text = provenance.get_data(as_text=True)
        assert "Acme Pharma GmbH" not in text
        assert "11.20" not in text
