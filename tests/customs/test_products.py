"""Product master data through the API of real node data directories (ADR 0020): registered by
the GTIN's owner only, chapter 30 only, versioned, and the price sealed from everyone else."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.identifiers import gtin14
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, openings_held, replicate
from tests.nodes_setup import NodeFactory

FOREIGN_GTIN = "09506000134352"


def test_unregistered_product(make_node: NodeFactory) -> None:
    """No registration: ``Store.product`` says None (the scanner's HOLD unregistered_product)
    and the API answers 404 with that code."""
    acme = make_node("acme")
    assert acme.ctx.store.product(gtin14(GTIN)) is None
    answer = acme.get(f"/api/v1/products/{GTIN}", TokenRole.VERIFIER)
    assert answer.status_code == 404
    assert answer.json["code"] == "unregistered_product"


def test_registered_product_is_read_back_and_superseded(
    make_node: NodeFactory, product_request: dict[str, Any]
) -> None:
    acme = make_node("acme")
    done = acme.post("/api/v1/products", product_request)
    assert done.status_code == 201, done.json
    stored = acme.ctx.store.product(gtin14(GTIN))
    assert stored is not None
    assert stored.data["name"] == product_request["name"]
    product_request["name"] = "Amoxicillin Acme 500 mg capsules (new livery)"
    assert acme.post("/api/v1/products", product_request).status_code == 201
    shown = acme.get(f"/api/v1/products/{GTIN}").json
    assert shown["product"]["name"].endswith("(new livery)")
    assert shown["version"] == 2
    assert shown["referencePrice"] == {"amount": "7.90", "currency": "EUR"}


@pytest.mark.parametrize(
    ("org", "gtin", "status"),
    [
        ("acme", FOREIGN_GTIN, 403),  # a manufacturer, but not the owner of this GTIN
        ("reg", GTIN, 403),  # a regulator may not register master data
        ("dist", GTIN, 403),
        ("border", GTIN, 403),
    ],
)
def test_product_registered_by_non_owner_refused(
    make_node: NodeFactory, product_request: dict[str, Any], org: str, gtin: str, status: int
) -> None:
    node = make_node(org)
    answer = node.post("/api/v1/products", {**product_request, "gtin": gtin})
    assert answer.status_code == status, answer.json
    assert answer.json["type"] == "urn:medtrace:problem:kind-not-allowed"
    assert node.ctx.store.product(gtin14(gtin)) is None
    assert node.ctx.store.head(node.ctx.feed) is None  # nothing signed
    assert openings_held(node) == 0  # and no price kept


@pytest.mark.parametrize(
    ("hs", "found"),
    [("300490", None), ("290410", "chapter 29"), ("440890", "chapter 44"), ("3004", "^[0-9]{6}$")],
)
def test_hs_code_outside_chapter_30_refused(
    make_node: NodeFactory, product_request: dict[str, Any], hs: str, found: str | None
) -> None:
    acme = make_node("acme")
    answer = acme.post("/api/v1/products", {**product_request, "hsCode": hs})
    if found is None:
        assert answer.status_code == 201, answer.json
        return
    assert answer.status_code == 400
    assert answer.json["path"] == "$.hsCode"
    assert found in answer.json["detail"]
    assert acme.ctx.store.product(gtin14(GTIN)) is None


def test_reference_price_not_visible_to_others(
    make_node: NodeFactory, product_request: dict[str, Any]
) -> None:
    acme, border = make_node("acme"), make_node("border")
    assert acme.post("/api/v1/products", product_request).status_code == 201
    assert "referencePrice" not in acme.get(f"/api/v1/products/{GTIN}", TokenRole.VERIFIER).json
    replicate(acme, border)
    for role in (TokenRole.OPERATOR, TokenRole.AUDITOR, TokenRole.VERIFIER):
        answer = border.get(f"/api/v1/products/{GTIN}", role)
        assert answer.status_code == 200
        assert answer.json["product"]["hsCode"] == "300410"
        assert "referencePrice" not in answer.json
        assert "7.90" not in answer.get_data(as_text=True)
    # the bytes the other node holds say nothing of the price either
    for entry in border.ctx.store.entries(acme.ctx.feed):
        assert b"7.90" not in entry.payload_bytes


def test_rebuild_refolds_products(make_node: NodeFactory, product_request: dict[str, Any]) -> None:
    acme = make_node("acme")
    assert acme.post("/api/v1/products", product_request).status_code == 201
    acme.ctx.store.rebuild(acme.ctx.membership)
    stored = acme.ctx.store.product(gtin14(GTIN))
    assert stored is not None
    assert stored.versions == 1
    assert stored.opened == {"referencePrice": {"amount": "7.90", "currency": "EUR"}}
