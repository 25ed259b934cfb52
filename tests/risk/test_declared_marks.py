"""R1's lot and expiry half (issue 16): a declared pack may state the lot and expiry its packing
list says are printed on it (``packages[i].lot`` / ``.expiry``, sealed with the commercial
fields); R1 fires when they differ from the pack's commissioning, and only then.

The world is the consignment tests' (tests/customs/test_consignment.py): acme commissions lot
L1 (expiry 2030-12-31) and lot L2, ships the pallet, and the border node holds every entry."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.customs.conftest import GTIN, declaration_request  # noqa: F401 (a fixture)
from tests.customs.test_consignment import (  # noqa: F401 (fixtures)
    EXPIRY,
    LOT,
    build,
    clone_templates,
    declare,
    make,
)
from tests.nodes_setup import NodeFactory


def _r1(world_border: Any, reference: str) -> dict[str, Any] | None:
    answer = world_border.get(f"/api/v1/declarations/{reference}")
    assert answer.status_code == 200, answer.get_json()
    reasons = answer.get_json()["risk"]["reasons"]
    return next((r for r in reasons if r["code"] == "R1"), None)


@pytest.mark.parametrize(
    ("scenario", "stated", "fires_on"),
    [
        ("another lot", {"lot": "L9"}, {("lot", "L9", LOT)}),
        ("another expiry", {"expiry": "2031-01-31"}, {("expiry", "2031-01-31", EXPIRY)}),
        ("both wrong", {"lot": "L9", "expiry": "2031-01-31"},
         {("lot", "L9", LOT), ("expiry", "2031-01-31", EXPIRY)}),
        ("the commissioned lot and expiry", {"lot": LOT, "expiry": EXPIRY}, set()),
        ("nothing stated", {}, set()),
    ],
)  # fmt: skip
def test_r1_declared_lot_or_expiry_differs_from_the_commissioning(
    make: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    scenario: str,
    stated: dict[str, str],
    fires_on: set[tuple[str, str, str]],
) -> None:
    world = build(make)
    packages = [{"sscc": "040123450000000016"}, {"gtin": GTIN, "serial": "A0", **stated}]
    reference = declare(world, declaration_request, packages=packages)
    r1 = _r1(world.border, reference)
    found = {
        (e["field"], e["read"], e["ledger"]) for e in (r1 or {}).get("evidence", []) if "field" in e
    }
    assert found == fires_on, scenario
    if fires_on:
        assert all(e["pack"].endswith(f"/01/{GTIN}/21/A0") for e in r1["evidence"] if "field" in e)  # type: ignore[index]


def test_r1_stated_marks_are_sealed_not_public(
    make: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    """What the packing list says is commercial: the signed entry lists it among the sealed
    fields, and its public body does not carry it."""
    world = build(make)
    packages = [{"gtin": GTIN, "serial": "A0", "lot": "L9"}]
    reference = declare(world, declaration_request, packages=packages)
    shown = world.border.get(f"/api/v1/declarations/{reference}").get_json()
    assert shown["commercial"]["marks"] == {f"https://id.gs1.org/01/{GTIN}/21/A0": {"lot": "L9"}}
    feed = world.border.get(f"/api/v1/feeds/{shown['feed']}/entries").get_json()
    (entry,) = [e for e in feed["entries"] if shown["entry"] in json.dumps(e)]
    body = base64.b64decode(entry["payload"]).decode()
    assert '"L9"' not in body
    assert "marks" in body  # named among the sealed fields, its value committed


@pytest.mark.parametrize(
    ("scenario", "package", "words"),
    [
        ("a lot on an SSCC", {"sscc": "040123450000000016", "lot": "L1"}, "packages[0]"),
        ("an expiry that is no date", {"gtin": GTIN, "serial": "A0", "expiry": "2030-02-30"},
         "packages[0].expiry"),
        ("a lot outside the GS1 characters", {"gtin": GTIN, "serial": "A0", "lot": "L 1"},
         "packages[0].lot"),
    ],
)  # fmt: skip
def test_bad_stated_marks_store_nothing(
    make: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    scenario: str,
    package: dict[str, str],
    words: str,
) -> None:
    world = build(make)
    request = dict(declaration_request, reference="DE-2026-000778", packages=[package])
    answer = world.border.post("/api/v1/declarations", {"declarations": [request]})
    assert answer.status_code == 400, scenario
    assert answer.mimetype == "application/problem+json"
    assert words in json.dumps(answer.get_json()), answer.get_json()
    assert world.border.get("/api/v1/declarations/DE-2026-000778").status_code == 404
