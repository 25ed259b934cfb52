"""Whole-consignment verification on the node (issue 15, item 3): ``POST /api/v1/scan`` with a
pallet's code or a declaration checks every pack under it, nested cases included, on the
node's own store, and answers one verdict with counts, reasons and the offending packs.

The world: acme commissions two lots, packs them into three cases on one pallet and ships the
pallet to the pharmacy ``apo`` across the border; the border node holds every entry. Each test
adds what it breaks (a recall, a dispense, a clone, a declaration that disagrees)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api import consignment
from ledger.identifiers import container_uri, lot_uri, pack_uri, with_check_digit
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, MEMBERS, doc_example, replicate
from tests.nodes_setup import (
    PASSPHRASE,
    Member,
    Node,
    NodeFactory,
    init_node,
    init_templates,
    make_consortium,
    node_factory,
)

#: The customs tests' consortium, with a second counter at the pharmacy (a clone's source).
CLONE_MEMBERS: dict[str, Member] = {**MEMBERS, "apo": Member("pharmacy", ("counter", "branch"))}
LOT, RECALLED_LOT, EXPIRY = "L1", "L2", "2030-12-31"
PALLET = with_check_digit("04012345" + "900000001")
CASES = [with_check_digit("04012345" + f"9000001{n:02d}") for n in range(1, 4)]
EMPTY_CASE = with_check_digit("04012345" + "900000999")
#: (case, lot, serials): two cases of lot L1, one of lot L2, on one pallet
CONTENTS = [
    (CASES[0], LOT, [f"A{n}" for n in range(6)]),
    (CASES[1], LOT, [f"B{n}" for n in range(6)]),
    (CASES[2], RECALLED_LOT, [f"C{n}" for n in range(4)]),
]
ALL_PACKS = sum(len(s) for _, _, s in CONTENTS)


@pytest.fixture(scope="module")
def clone_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("consignment")
    make_consortium(root / "consortium", "Consignment tests", CLONE_MEMBERS, PASSPHRASE)
    templates = init_templates(root / "consortium", root / "templates", CLONE_MEMBERS)
    templates["apo-branch"] = init_node(
        root / "consortium", root / "templates" / "apo-branch", "apo/branch"
    )
    return templates


@dataclass
class World:
    acme: Node
    border: Node
    make: NodeFactory
    nodes: dict[str, Node] = field(default_factory=dict)
    ship: str = ""

    def node(self, org: str) -> Node:
        if org not in self.nodes:
            self.nodes[org] = self.make(org)
        return self.nodes[org]

    def to_border(self, *sources: Node) -> None:
        for source in sources or (self.acme,):
            replicate(source, self.border)

    def scan(
        self, body: dict[str, Any], role: TokenRole = TokenRole.OPERATOR, **headers: str
    ) -> Any:
        return self.border.client.post(
            "/api/v1/scan",
            json=body,
            headers={**self.border.auth(role), **headers},
        )

    def pallet(self, role: TokenRole = TokenRole.OPERATOR) -> dict[str, Any]:
        answer = self.scan({"text": f"(00){PALLET}", "context": "border"}, role)
        assert answer.status_code == 200, answer.get_json()
        value: dict[str, Any] = answer.get_json()
        return value


def act(node: Node, kind: str, subjects: list[str], **extra: Any) -> dict[str, Any]:
    answer = node.post(f"/api/v1/actions/{kind}", {"subjects": subjects, **extra})
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json()["entry"])


def build(
    make: NodeFactory, *, register: bool = True, ship_to: str | None = "apo", **border: Any
) -> World:
    acme, border_node = make("acme"), make("border", **border)
    for _, lot, serials in CONTENTS:
        done = acme.post(
            "/api/v1/commission", {"gtin": GTIN, "lot": lot, "expiry": EXPIRY, "serials": serials}
        )
        assert done.status_code == 201, done.get_json()
    for sscc, _, serials in CONTENTS:
        act(acme, "pack", [container_uri(sscc), *(pack_uri(GTIN, s) for s in serials)])
    act(acme, "pack", [container_uri(PALLET), *(container_uri(c) for c, _, _ in CONTENTS)])
    if register:
        product = dict(_product_request(), gtin=GTIN)
        assert acme.post("/api/v1/products", product).status_code == 201
    world = World(acme, border_node, make)
    if ship_to is not None:
        world.ship = act(acme, "ship", [container_uri(PALLET)], body={"destination": ship_to})["id"]
    world.to_border()
    return world


def _product_request() -> dict[str, Any]:
    return dict(doc_example("product-request"))


@pytest.fixture
def make(clone_templates: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    with node_factory(clone_templates, tmp_path, default_org="acme") as factory:
        yield factory


def received_at_apo(world: World) -> Node:
    apo = world.node("apo")
    replicate(world.acme, apo)
    act(apo, "receive", [container_uri(PALLET)], refs=[world.ship])
    return apo


# -- one verdict over every pack ----------------------------------------------------------------


def test_clean_pallet_releases(make: NodeFactory) -> None:
    answer = build(make).pallet()
    assert answer["kind"] == "consignment"
    assert answer["verdict"] == "RELEASE", answer
    assert (answer["checked"], answer["total"]) == (ALL_PACKS, ALL_PACKS)
    assert answer["counts"] == {"RELEASE": ALL_PACKS, "HOLD": 0, "REJECT": 0}
    assert answer["containers"] == [PALLET]
    assert answer["offending"] == []
    assert answer["offending_more"] == 0
    assert answer["products"][0]["name"] == "Amoxicillin Acme 500 mg hard capsules"
    assert answer["products"][0]["count"] == ALL_PACKS


def test_pallet_with_recalled_lot(make: NodeFactory) -> None:
    world = build(make)
    reg = world.node("reg")
    replicate(world.acme, reg)
    act(reg, "recall", [lot_uri(GTIN, RECALLED_LOT)])
    world.to_border(reg)
    answer = world.pallet()
    assert answer["verdict"] == "REJECT", answer
    assert answer["counts"] == {"RELEASE": ALL_PACKS - 4, "HOLD": 0, "REJECT": 4}
    assert answer["reasons"]["recalled"] == 4
    assert {o["serial"] for o in answer["offending"]} == {f"C{n}" for n in range(4)}
    assert all(o["reasons"][0]["code"] == "recalled" for o in answer["offending"])


def test_pallet_with_dispensed_pack(make: NodeFactory) -> None:
    world = build(make)
    apo = received_at_apo(world)
    act(apo, "dispense", [pack_uri(GTIN, "A3")])
    world.to_border(apo)
    answer = world.pallet()
    assert answer["verdict"] == "REJECT", answer
    assert answer["reasons"]["already_dispensed"] == 1
    assert [(o["serial"], o["verdict"]) for o in answer["offending"]] == [("A3", "REJECT")]


def test_nested_case_with_clone(make: NodeFactory) -> None:
    world = build(make)
    apo = received_at_apo(world)
    branch = world.make("apo-branch", name="apo-branch")
    replicate(apo, branch)  # the branch knows the pallet arrived, not what the counter sold
    act(apo, "dispense", [pack_uri(GTIN, "B5")])
    act(branch, "dispense", [pack_uri(GTIN, "B5")])  # the same serial sold twice: a clone
    world.to_border(apo, branch)
    answer = world.pallet()  # B5 is in a case on the pallet: found through the nesting
    assert answer["verdict"] == "REJECT", answer
    assert answer["reasons"]["suspected_clone"] == 1
    (clone,) = answer["offending"]
    assert clone["serial"] == "B5"
    assert "suspected_clone" in {r["code"] for r in clone["reasons"]}


def test_unregistered_product(make: NodeFactory) -> None:
    answer = build(make, register=False).pallet()
    assert answer["verdict"] == "HOLD", answer
    assert answer["counts"]["RELEASE"] == ALL_PACKS  # every pack is fine, what they are is not
    assert [f["code"] for f in answer["findings"]] == ["unregistered_product"]
    assert answer["products"] == [{"gtin": GTIN, "registered": False, "count": ALL_PACKS}]


def test_empty_container_holds(make: NodeFactory) -> None:
    world = build(make)
    extra = {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": ["E0"]}
    assert world.acme.post("/api/v1/commission", extra).status_code == 201
    act(world.acme, "pack", [container_uri(EMPTY_CASE), pack_uri(GTIN, "E0")])
    act(world.acme, "unpack", [container_uri(EMPTY_CASE), pack_uri(GTIN, "E0")])
    world.to_border()
    answer = world.scan({"text": f"(00){EMPTY_CASE}", "context": "border"}).get_json()
    assert answer["verdict"] == "HOLD", answer
    assert (answer["checked"], answer["total"]) == (0, 0)
    assert [f["code"] for f in answer["findings"]] == ["empty_case"]


def test_unknown_container_holds_and_counts_as_a_probe(make: NodeFactory) -> None:
    world = build(make)
    unknown = with_check_digit("04012345" + "912345678")
    answer = world.scan({"text": f"https://id.gs1.org/00/{unknown}"}).get_json()
    assert answer["verdict"] == "HOLD"
    assert answer["unknown_containers"] == [container_uri(unknown)]
    assert "unknown_container" in [f["code"] for f in answer["findings"]]


# -- who learns which serials ----------------------------------------------------------------------


def test_verifier_answer_names_no_pack_it_did_not_scan(make: NodeFactory) -> None:
    world = build(make)
    reg = world.node("reg")
    replicate(world.acme, reg)
    act(reg, "recall", [lot_uri(GTIN, RECALLED_LOT)])
    world.to_border(reg)
    answer = world.scan({"text": f"(00){PALLET}", "context": "border"}, TokenRole.VERIFIER)
    value = answer.get_json()
    assert value["verdict"] == "REJECT"
    assert value["counts"]["REJECT"] == 4
    assert value["reasons"]["recalled"] == 4
    assert (value["listed"], value["offending"], value["offending_more"]) == (False, [], 4)
    text = answer.get_data(as_text=True)
    for _, _, serials in CONTENTS:
        for serial in serials:
            assert f"/21/{serial}" not in text
            assert f'"{serial}"' not in text
    assert world.pallet()["listed"] is True  # the customs operator is told which packs


def test_verifier_pays_a_query_per_thousand_packs(
    make: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(make, verify_rate_per_minute=10)
    monkeypatch.setattr(consignment, "PACKS_PER_QUERY", 2)  # 16 packs: 8 queries
    body = {"text": f"(00){PALLET}", "context": "border"}
    assert world.scan(body, TokenRole.VERIFIER).status_code == 200
    refused = world.scan(body, TokenRole.VERIFIER)
    assert refused.status_code == 429
    assert "a consignment of 16 packs costs 8" in refused.get_json()["detail"]
    assert world.scan(body).status_code == 200  # an operator's scan costs one query


# -- progress ------------------------------------------------------------------------------------


def test_progress_streams_before_the_answer(make: NodeFactory) -> None:
    world = build(make)
    answer = world.scan(
        {"text": f"(00){PALLET}", "context": "border"}, Accept="application/x-ndjson"
    )
    assert answer.status_code == 200
    assert answer.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]
    assert lines[0] == {"progress": {"done": 0, "total": ALL_PACKS}}
    assert lines[-2] == {"progress": {"done": ALL_PACKS, "total": ALL_PACKS}}
    assert lines[-1]["kind"] == "consignment"
    assert lines[-1]["verdict"] == "RELEASE"


# -- bad input -------------------------------------------------------------------------------------

BAD = [
    ("text_and_declaration", {"text": f"(00){PALLET}", "declaration": "X1"}, 400, "not both"),
    ("declaration_lower_case", {"declaration": "de-1"}, 400, "$.declaration"),
    ("declaration_not_held", {"declaration": "NOPE-1"}, 404, "no declaration NOPE-1"),
    ("sscc_check_digit", {"text": "(00)040123459000000010"}, 422, ""),
]


@pytest.mark.parametrize(("case", "body", "status", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_problem_details(
    make: NodeFactory, case: str, body: dict[str, Any], status: int, words: str
) -> None:
    world = World(make("acme"), make("border"), make)
    answer = world.scan(body)
    assert answer.status_code == status, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert words in json.dumps(answer.get_json())


def test_declaration_needs_an_inspector(make: NodeFactory) -> None:
    world = World(make("acme"), make("border"), make)
    answer = world.scan({"declaration": "DE-2026-000123"}, TokenRole.VERIFIER)
    assert answer.status_code == 403
    assert answer.mimetype == "application/problem+json"


# -- a declaration against the ledger ---------------------------------------------------------------


def declare(world: World, request: dict[str, Any], **changes: Any) -> str:
    request = {
        **request,
        "reference": "DE-2026-000777",
        "consignor": {"name": "Acme", "id": "acme", "address": {"country": "DE"}},
        "consignee": {
            "name": "Apo",
            "id": "apo",
            "addressType": "business",
            "address": {"country": "DE"},
        },
        "goods": [
            {
                "hsCode": "300410",
                "description": "Amoxicillin 500 mg hard capsules",
                "gtin": GTIN,
                "quantity": ALL_PACKS,
                "netMassKg": "0.448",
                "value": {"amount": "126.40", "currency": "EUR"},
            }
        ],
        "packages": [{"sscc": PALLET}],
        **changes,
    }
    lodged = world.border.post("/api/v1/declarations", {"declarations": [request]})
    assert lodged.status_code == 201, lodged.get_json()
    return str(request["reference"])


def test_declaration_that_agrees_releases(
    make: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    world = build(make)
    reference = declare(world, declaration_request)
    answer = world.scan({"declaration": reference}).get_json()
    assert answer["verdict"] == "RELEASE", answer
    assert answer["declaration"] == reference
    assert answer["containers"] == [PALLET]
    assert answer["checked"] == ALL_PACKS
    assert answer["declaration_check"] == {"agrees": True, "findings": []}


def test_declared_quantity_differs(make: NodeFactory, declaration_request: dict[str, Any]) -> None:
    world = build(make)
    goods = {
        "hsCode": "300410",
        "description": "Amoxicillin 500 mg hard capsules",
        "gtin": GTIN,
        "quantity": ALL_PACKS - 3,
        "netMassKg": "0.364",
        "value": {"amount": "102.70", "currency": "EUR"},
    }
    reference = declare(world, declaration_request, goods=[goods])
    answer = world.scan({"declaration": reference}).get_json()
    assert answer["verdict"] == "HOLD", answer
    check = answer["declaration_check"]
    assert check["agrees"] is False
    assert [f["code"] for f in check["findings"]] == ["declared_quantity_differs"]
    assert (
        f"declared {ALL_PACKS - 3} pack(s), the ledger holds {ALL_PACKS}"
        in (check["findings"][0]["message"])
    )


def test_consignor_not_custodian(make: NodeFactory, declaration_request: dict[str, Any]) -> None:
    world = build(make)
    someone = {"name": "Sunrise Generics Pvt Ltd", "address": {"country": "IN"}}
    reference = declare(world, declaration_request, consignor=someone)
    answer = world.scan({"declaration": reference}).get_json()
    assert answer["verdict"] == "HOLD", answer
    findings = answer["declaration_check"]["findings"]
    assert [f["code"] for f in findings] == ["consignor_not_custodian"]
    assert "custody of acme" in findings[0]["message"]


def test_declared_goods_not_on_their_way_here(
    make: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    world = build(make, ship_to="dist")  # the pallet travels to someone else
    reference = declare(world, declaration_request)
    answer = world.scan({"declaration": reference}).get_json()
    assert answer["verdict"] == "HOLD", answer
    codes = [f["code"] for f in answer["declaration_check"]["findings"]]
    assert codes == ["not_in_transit_here"]


def test_failed_consignment_raises_one_check_alert(make: NodeFactory) -> None:
    world = build(make)
    apo = received_at_apo(world)
    act(apo, "dispense", [pack_uri(GTIN, "A3")])
    world.to_border(apo)
    body = {"text": f"(00){PALLET}", "context": "border"}
    streamed = world.scan(body, Accept="application/x-ndjson").get_data(as_text=True)
    assert json.loads(streamed.splitlines()[-1])["verdict"] == "REJECT"
    alerts = world.border.ctx.store.alerts(code="check_rejected")
    assert {a.subject for a in alerts} >= {container_uri(PALLET), pack_uri(GTIN, "A3")}


def test_declared_loose_packs_are_checked_too(
    make: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    world = build(make, ship_to=None)
    extra = {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": ["X0"]}
    assert world.acme.post("/api/v1/commission", extra).status_code == 201
    subjects = [container_uri(PALLET), pack_uri(GTIN, "X0")]
    act(world.acme, "ship", subjects, body={"destination": "apo"})
    world.to_border()
    goods = {
        "hsCode": "300410",
        "description": "Amoxicillin 500 mg hard capsules",
        "gtin": GTIN,
        "quantity": ALL_PACKS + 1,
        "netMassKg": "0.476",
        "value": {"amount": "134.30", "currency": "EUR"},
    }
    loose = [{"gtin": GTIN, "serial": "X0"}, {"gtin": GTIN, "serial": "NOPE"}]
    packages = [{"sscc": PALLET}, *loose]
    reference = declare(world, declaration_request, goods=[goods], packages=packages)
    answer = world.scan({"declaration": reference}).get_json()
    assert (answer["checked"], answer["total"]) == (ALL_PACKS + 2, ALL_PACKS + 2)
    assert answer["verdict"] == "HOLD", answer
    assert answer["reasons"]["unknown_pack"] == 1
    assert [o["serial"] for o in answer["offending"]] == ["NOPE"]
    assert answer["declaration_check"] == {"agrees": True, "findings": []}


def test_declaration_sealed_at_the_regulator_holds(
    make: NodeFactory, declaration_request: dict[str, Any]
) -> None:
    world = build(make)
    reference = declare(world, declaration_request)
    reg = world.node("reg")
    replicate(world.acme, reg)
    replicate(world.border, reg)  # the seal travels, the opening stays at the border
    answer = reg.post("/api/v1/scan", {"declaration": reference}).get_json()
    assert answer["verdict"] == "HOLD", answer
    assert answer["checked"] == ALL_PACKS
    codes = [f["code"] for f in answer["declaration_check"]["findings"]]
    assert codes == ["declaration_sealed"]
