"""The rule indicators R1 to R11 (issue 16, item 1; docs/spec/risk.md "Indicators"): each fires
on the falsification it is named after and stays quiet on a legitimate declaration, with its
evidence; one that needs a field this node cannot open says so instead of answering 0.

The legitimate declaration: Sunrise (an Indian manufacturer) sends one case of ten amoxicillin
packs it commissioned and still holds, by air from India, to a German distributor it has
declared to before; values, masses and HS code as registered."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from copy import deepcopy
from decimal import Decimal
from typing import Any

import pytest

from node.risk.indicators import (
    BY_CODE,
    INDICATORS,
    Facts,
    Member,
    PackFact,
    PastDeclaration,
    ProductFact,
    Settings,
    evaluate,
    gs1_country,
)

GTIN = "08901234000014"
TS = "2026-03-10T09:00:00.000Z"
SUNRISE: dict[str, Any] = {"name": "Sunrise Generics Pvt Ltd", "id": "8901234000005",
           "address": {"city": "Pune", "country": "IN"}}  # fmt: skip
NORD: dict[str, Any] = {"name": "Nord Grosshandel GmbH", "id": "4000001000007", "addressType": "business",
        "address": {"street": "Hafenstr. 1", "postcode": "20457", "city": "Hamburg",
                    "country": "DE"}}  # fmt: skip
PERSON: dict[str, Any] = {"name": "Eva Muster", "addressType": "private",
          "address": {"street": "Lindenweg 3", "postcode": "10115", "city": "Berlin",
                      "country": "DE"}}  # fmt: skip
MEMBERS = {
    "sunrise": Member("sunrise", SUNRISE["name"], "8901234000005", ("8901234",), "IN"),
    "nord": Member("nord", NORD["name"], "4000001000007", (), "DE"),
}
PRODUCT = ProductFact(GTIN, "p" * 64, "300410", "J01CA04", Decimal("0.028"), (Decimal("7.90"), "EUR"))  # fmt: skip


def pack(n: int, **change: Any) -> PackFact:
    base = PackFact(f"https://id.gs1.org/01/{GTIN}/21/S{n}", GTIN, f"S{n}", "L1", "2030-12-31",
                    "in_transit", "sunrise/line", "sunrise/line", "c" * 64, "nord")  # fmt: skip
    return dataclasses.replace(base, **change)


def commercial() -> dict[str, Any]:
    return {
        "consignor": deepcopy(SUNRISE), "consignee": deepcopy(NORD), "declarant": {"name": "B"},
        "goods": [{"hsCode": "300410", "description": "Amoxicillin 500 mg hard capsules",
                   "gtin": GTIN, "quantity": 10, "netMassKg": "0.280",
                   "value": {"amount": "79.00", "currency": "EUR"}}],
    }  # fmt: skip


def earlier(n: int, party: dict[str, Any], *, low: bool = False, flags: tuple[tuple[str, str], ...] = ()) -> PastDeclaration:  # fmt: skip
    ts = f"2026-03-0{n}T09:00:00.000Z"
    return PastDeclaration(f"OLD-{n}", f"{n}" * 64, ts, (ts, "border/post", n), low,
                           {"consignor": SUNRISE, "consignee": party}, flags)  # fmt: skip


def legitimate() -> Facts:
    return Facts(
        reference="DE-1", entry="e" * 64, ts=TS, order=(TS, "border/post", 9),
        declaration={"countryOfOrigin": "IN", "countryOfDispatch": "IN", "lowValue": False,
                     "consignmentType": "general"},
        commercial=commercial(), packs=tuple(pack(n) for n in range(10)), unknown=(),
        products={GTIN: PRODUCT}, members=MEMBERS, history=(earlier(1, NORD),),
    )  # fmt: skip


Change = Callable[[Facts], Facts]


def with_goods(**item: Any) -> Change:
    def change(f: Facts) -> Facts:
        c = deepcopy(dict(f.commercial or {}))
        c["goods"][0].update(item)
        return dataclasses.replace(f, commercial=c)

    return change


def parcel(consignee: dict[str, Any], history: tuple[PastDeclaration, ...] = ()) -> Change:
    def change(f: Facts) -> Facts:
        c = deepcopy(dict(f.commercial or {}))
        c["consignee"] = consignee
        c["goods"][0].update(
            quantity=1, netMassKg="0.028", value={"amount": "7.90", "currency": "EUR"}
        )
        d = dict(f.declaration, lowValue=True, consignmentType="postal")
        return dataclasses.replace(f, commercial=c, declaration=d, packs=(pack(0),),
                                   history=(earlier(1, NORD), *history))  # fmt: skip

    return change


def r(f: Facts, **change: Any) -> Facts:
    return dataclasses.replace(f, **change)


VIA_FREE_ZONE = {"countryOfDispatch": "AE",
                 "transit": {"countries": ["AE"], "freeZones": ["Jebel Ali"]}}  # fmt: skip
# fmt: off
FIRES: dict[str, Change] = {
    "R1": lambda f: r(f, unknown=(f"https://id.gs1.org/01/{GTIN}/21/FAKE",)),
    "R2": lambda f: r(f, packs=(pack(0, status="dispensed", custodian="apo/counter"),)),
    "R3": lambda f: r(f, packs=(pack(0, custodian="nord/wh", status="active"),)),
    "R4": lambda f: r(f, declaration={**f.declaration, **VIA_FREE_ZONE}),
    "R5": with_goods(hsCode="330499"),
    "R6": with_goods(value={"amount": "15.80", "currency": "EUR"}),
    "R7": with_goods(netMassKg="1.400"),
    "R8": lambda f: r(f, history=(earlier(1, NORD, flags=(("d" * 64, "seize"),)),)),
    "R9": parcel(PERSON, tuple(earlier(n, {**PERSON, "name": f"E. M. {n}"}, low=True) for n in (2, 3))),
    "R10": lambda f: r(f, packs=tuple(pack(n, gtin="04012345000016") for n in range(10))),
    "R11": parcel(PERSON),
}
#: The same kind of declaration, short of the falsification.
QUIET: dict[str, Change] = {
    "R1": lambda f: r(f, packs=(pack(0, observed_lot="L1", observed_expiry="2030-12-31"), *f.packs[1:])),
    "R2": lambda f: r(f, packs=(pack(0, status="active"), *f.packs[1:])),
    "R3": lambda f: f,
    "R4": lambda f: r(f, declaration={**f.declaration, "transit": {"countries": ["IN"]}}),
    "R5": with_goods(hsCode="300410"),
    "R6": with_goods(value={"amount": "70.00", "currency": "EUR"}),
    "R7": with_goods(netMassKg="0.300"),
    "R8": lambda f: f,
    "R9": parcel(PERSON, (earlier(2, PERSON, low=True),)),
    "R10": lambda f: f,
    "R11": parcel({**PERSON, "addressType": "business"}),
}
# fmt: on


def _finding(facts: Facts, code: str) -> Any:
    return BY_CODE[code](facts, Settings())


@pytest.mark.parametrize("code", list(FIRES))
def test_indicator_fires_with_evidence(code: str) -> None:
    finding = _finding(FIRES[code](legitimate()), code)
    assert finding.fired, finding
    assert finding.evaluated, finding
    assert finding.evidence, finding


@pytest.mark.parametrize("code", list(QUIET))
def test_indicator_does_not_fire(code: str) -> None:
    finding = _finding(QUIET[code](legitimate()), code)
    assert not finding.fired, finding
    assert finding.evaluated, finding


def test_r1_never_commissioned_fires() -> None:
    finding = _finding(FIRES["R1"](legitimate()), "R1")
    assert finding.evidence == ({"package": f"https://id.gs1.org/01/{GTIN}/21/FAKE", "found": "not commissioned"},)  # fmt: skip


def test_r1_other_lot_fires() -> None:
    facts = r(legitimate(), packs=(pack(0, observed_lot="L9"),))
    (evidence,) = _finding(facts, "R1").evidence
    assert evidence["field"] == "lot"
    assert evidence["ledger"] == "L1"
    assert evidence["read"] == "L9"


def test_r1_never_commissioned_does_not_fire() -> None:
    assert not _finding(QUIET["R1"](legitimate()), "R1").fired


def test_r2_inactive_elsewhere_fires() -> None:
    (evidence,) = _finding(FIRES["R2"](legitimate()), "R2").evidence
    assert evidence["status"] == "dispensed"
    assert evidence["custodian"] == "apo/counter"


def test_r2_inactive_elsewhere_does_not_fire() -> None:
    assert not _finding(QUIET["R2"](legitimate()), "R2").fired


def test_r3_custody_gap_fires() -> None:
    assert _finding(FIRES["R3"](legitimate()), "R3").fired


def test_r3_custody_gap_fires_for_a_consignor_who_is_no_member() -> None:
    c = commercial() | {"consignor": {"name": "Global Trading FZE", "address": {"country": "AE"}}}
    assert _finding(r(legitimate(), commercial=c), "R3").fired


def test_r3_custody_gap_does_not_fire() -> None:
    assert not _finding(legitimate(), "R3").fired


def test_r4_route_fires() -> None:
    fields = {e["field"] for e in _finding(FIRES["R4"](legitimate()), "R4").evidence}
    assert fields == {"countryOfDispatch", "transit.countries", "transit.freeZones"}


def test_r4_route_does_not_fire() -> None:
    assert not _finding(QUIET["R4"](legitimate()), "R4").fired


def test_r5_hs_code_fires() -> None:
    (evidence,) = _finding(FIRES["R5"](legitimate()), "R5").evidence
    assert evidence["declared"] == "330499"
    assert evidence["registered"] == "300410"


def test_r5_hs_code_does_not_fire() -> None:
    assert not _finding(QUIET["R5"](legitimate()), "R5").fired


def test_r6_undervalued_fires() -> None:
    (evidence,) = _finding(FIRES["R6"](legitimate()), "R6").evidence
    assert evidence["unit"] == "1.58"
    assert evidence["reference"] == "7.90"


def test_r6_undervalued_does_not_fire() -> None:
    assert not _finding(QUIET["R6"](legitimate()), "R6").fired


def test_r6_without_the_reference_price_is_not_evaluated() -> None:
    sealed = dataclasses.replace(PRODUCT, reference_price=None)
    finding = _finding(FIRES["R6"](r(legitimate(), products={GTIN: sealed})), "R6")
    assert not finding.fired
    assert not finding.evaluated
    assert "reference price sealed" in finding.evidence[0]["found"]


def test_r7_quantity_mass_fires() -> None:
    assert _finding(FIRES["R7"](legitimate()), "R7").fired
    assert _finding(with_goods(quantity=12, netMassKg="0.336")(legitimate()), "R7").fired


def test_r7_quantity_mass_does_not_fire() -> None:
    assert not _finding(QUIET["R7"](legitimate()), "R7").fired


def test_r8_party_history_fires() -> None:
    evidence = _finding(FIRES["R8"](legitimate()), "R8").evidence
    # the seized consignment named both parties: each is flagged with it
    assert {(e["party"], e["found"], e["declaration"]) for e in evidence} == {
        ("consignor", "seize", "OLD-1"),
        ("consignee", "seize", "OLD-1"),
    }


def test_r8_party_history_fires_for_a_new_consignor() -> None:
    (evidence,) = _finding(r(legitimate(), history=()), "R8").evidence
    assert evidence == {"party": "consignor", "found": "no earlier declaration at this node"}


def test_r8_party_history_does_not_fire() -> None:
    assert not _finding(QUIET["R8"](legitimate()), "R8").fired


def test_r9_split_parcels_fires() -> None:
    finding = _finding(FIRES["R9"](legitimate()), "R9")
    assert [e["declaration"] for e in finding.evidence] == ["OLD-2", "OLD-3"]


def test_r9_split_parcels_does_not_fire() -> None:
    assert not _finding(QUIET["R9"](legitimate()), "R9").fired


def test_r9_split_parcels_outside_the_window_does_not_fire() -> None:
    facts = FIRES["R9"](legitimate())
    assert not BY_CODE["R9"](facts, Settings(window_days=3)).fired


def test_r10_foreign_gtin_fires() -> None:
    assert _finding(FIRES["R10"](legitimate()), "R10").fired
    assert _finding(with_goods(gtin="09999999000017")(legitimate()), "R10").fired


def test_r10_foreign_gtin_does_not_fire() -> None:
    assert not _finding(QUIET["R10"](legitimate()), "R10").fired


def test_r11_private_prescription_fires() -> None:
    assert _finding(FIRES["R11"](legitimate()), "R11").fired
    assert _finding(with_goods(description="gift")(legitimate()), "R11").fired


def test_r11_private_prescription_does_not_fire() -> None:
    assert not _finding(QUIET["R11"](legitimate()), "R11").fired


def test_legitimate_declaration_fires_nothing() -> None:
    assert [f.code for f in evaluate(legitimate()) if f.fired] == []


def test_sealed_commercial_fields_are_unevaluated_not_zero() -> None:
    unknown = {f.code for f in evaluate(r(legitimate(), commercial=None)) if not f.evaluated}
    assert unknown == {"R3", "R5", "R6", "R7", "R8", "R11"}


def test_every_indicator_has_a_name_weight_and_one_sentence_rationale() -> None:
    assert [i.code for i in INDICATORS] == [f"R{n}" for n in range(1, 12)]
    for i in INDICATORS:
        assert i.name
        assert i.weight > 0
        assert i.rationale.endswith(".")
        assert i.rationale.count(". ") == 0


def test_gs1_prefix_names_the_country() -> None:
    assert (gs1_country("8901234000005"), gs1_country("4000001000007"), gs1_country("99")) == ("IN", "DE", None)  # fmt: skip


def test_spec_table_gives_every_indicator_its_weight_and_rationale() -> None:
    from pathlib import Path  # noqa: PLC0415

    spec = (Path(__file__).resolve().parents[2] / "docs" / "spec" / "risk.md").read_text("utf-8")
    for i in INDICATORS:
        row = f"| {i.code} | `{i.name}` | {i.weight} | {i.rationale} |"
        assert row in spec, f"docs/spec/risk.md has no row {row[:40]}…"


def test_r9_split_parcels_later_parcels_do_not_count() -> None:
    """Only what came before in the ledger's order counts: a replay gives the same lane."""
    facts = FIRES["R9"](legitimate())
    later = tuple(
        dataclasses.replace(p, order=(TS, "border/post", 99 + n), ts=TS)
        for n, p in enumerate(facts.history)
    )
    assert not _finding(r(facts, history=later), "R9").fired


def test_r8_party_history_later_seizure_does_not_count() -> None:
    facts = FIRES["R8"](legitimate())
    later = tuple(dataclasses.replace(p, order=(TS, "border/post", 99)) for p in facts.history)
    evidence = _finding(r(facts, history=later), "R8").evidence
    assert [e["found"] for e in evidence] == ["no earlier declaration at this node"]


def test_r4_route_without_a_known_country_is_not_evaluated() -> None:
    """A member whose GLN prefix names no country (950: GS1 Global Office) is not a route."""
    unknown = {k: dataclasses.replace(m, country=None) for k, m in MEMBERS.items()}
    finding = _finding(FIRES["R4"](r(legitimate(), members=unknown)), "R4")
    assert not finding.fired
    assert not finding.evaluated
