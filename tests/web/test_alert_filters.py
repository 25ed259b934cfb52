"""``GET /api/v1/alerts`` filters by level, product, organisation, declaration and country
(issue 15; api/alert_filters.py): each filter keeps the alerts it names and leaves out the
others, at the regulator's node the failed checks replicated to; a verifier still sees only
the pack it asks about."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.identifiers import pack_uri, with_check_digit
from node.tokens import TokenRole
from tests.api.conftest import GTIN, PREFIX
from tests.customs.conftest import doc_example, replicate
from tests.nodes_setup import Node, NodeFactory

GTIN2 = with_check_digit("0" + PREFIX + "00002")
REF = "DE-2026-000123"
#: Three failed checks: (reporting node, pack, verdict, extra fields of the report).
P1, P2, P3 = pack_uri(GTIN, "A1"), pack_uri(GTIN2, "A2"), pack_uri(GTIN2, "A3")


@pytest.fixture
def reg(make_node: NodeFactory) -> Node:
    """The regulator's node holding three failed checks: apo's REJECT of P1 in DE, border's
    HOLD of P2 against declaration REF (office of entry DE, origin IN, dispatch AE), dist's
    REJECT of P3 in FR (P3 is declared in REF, the check does not name it)."""
    apo, border, dist, reg = (make_node(o) for o in ("apo", "border", "dist", "reg"))
    declaration = doc_example("declaration-request")
    declaration["packages"] = [{"gtin": GTIN2, "serial": "A2"}, {"gtin": GTIN2, "serial": "A3"}]
    lodged = border.post("/api/v1/declarations", {"declarations": [declaration]})
    assert lodged.status_code == 201, lodged.json
    reports: list[tuple[Node, dict[str, Any]]] = [
        (apo, {"packs": [P1], "verdict": "REJECT", "reasons": ["recalled"], "country": "DE"}),
        (border, {"packs": [P2], "verdict": "HOLD", "reasons": ["unknown_pack"]}),
        (dist, {"packs": [P3], "verdict": "REJECT", "reasons": ["stolen"], "country": "FR"}),
    ]
    for node, report in reports:
        extra = {"declaration": REF, "context": "border"} if node is border else {}
        answer = node.post("/api/v1/checks", {"context": "counter", **report, **extra})
        assert answer.status_code == 201, answer.json
        replicate(node, reg)
    return reg


def _subjects(node: Node, query: str, role: TokenRole = TokenRole.OPERATOR) -> set[str]:
    answer = node.get(f"/api/v1/alerts?{query}", role)
    assert answer.status_code == 200, answer.json
    assert answer.json["count"] == len(answer.json["alerts"])
    return {a["subject"] for a in answer.json["alerts"]}


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("", {P1, P2, P3}),
        ("level=critical", {P1, P3}),
        ("level=warning", {P2}),
        (f"product={GTIN}", {P1}),
        (f"product={GTIN2[1:]}", {P2, P3}),  # a GTIN-13 names the same product
        ("organisation=apo", {P1}),
        ("organisation=border", {P2}),
        ("organisation=acme", set()),
        (f"declaration={REF}", {P2, P3}),
        ("declaration=DE-2026-999999", set()),
        ("country=DE", {P1, P2}),
        ("country=AE", {P2}),
        ("country=FR", {P3}),
        ("country=US", set()),
        (f"level=critical&declaration={REF}", {P3}),
        (f"organisation=dist&product={GTIN}", set()),
    ],
    ids=[
        "none",
        "level-critical",
        "level-warning",
        "product",
        "product-gtin13",
        "organisation-apo",
        "organisation-border",
        "organisation-without-alerts",
        "declaration",
        "declaration-unknown",
        "country-of-check-and-office",
        "country-of-dispatch",
        "country-of-check",
        "country-without-alerts",
        "level-and-declaration",
        "organisation-and-product",
    ],
)
def test_alert_filter_keeps_what_it_names(reg: Node, query: str, kept: set[str]) -> None:
    assert _subjects(reg, query) == kept


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("level=severe", "level"),
        ("product=4012345000019", "product"),
        ("organisation=Acme%20Pharma", "organisation"),
        ("declaration=de-lower", "declaration"),
        ("country=Germany", "country"),
    ],
    ids=["level", "product-check-digit", "organisation", "declaration", "country"],
)
def test_bad_filter_is_one_problem(reg: Node, query: str, parameter: str) -> None:
    answer = reg.get(f"/api/v1/alerts?{query}")
    assert answer.status_code == 400, answer.json
    assert parameter in (answer.json.get("parameter"), answer.json["detail"].split(":")[0])


def test_filters_do_not_widen_a_verifier_s_scope(reg: Node) -> None:
    assert _subjects(reg, f"product={GTIN2}", TokenRole.VERIFIER) == set()
    assert _subjects(reg, f"subject={P2}&declaration={REF}", TokenRole.VERIFIER) == {P2}
