"""A slice of the Korea Customs Service's synthetic import declarations (shared testdata,
kcs-customs-declarations) lodged as declarations at a customs node in one batch: real HS6
codes of every chapter, countries, net masses and prices; the values stay at the customs node."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from ledger.identifiers import with_check_digit
from tests.customs.conftest import PREFIX, replicate
from tests.nodes_setup import NodeFactory

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "kcs-customs-declarations"
ROWS = 400
#: KCS mode-of-transport codes to UN/ECE Rec. 19.
MODES = {"10": 1, "20": 2, "30": 3, "40": 4, "50": 5}


def _declarations(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_id[row["Declaration ID"]].append(row)
    made = []
    for n, (declaration_id, items) in enumerate(sorted(by_id.items()), 1):
        first = items[0]

        def party(name: str, country: str) -> dict[str, Any]:
            return {"name": name, "address": {"country": country}}

        made.append(
            {
                "reference": f"KR-{declaration_id}",
                "consignor": party(
                    first["Seller ID"] or "(seller not named)", first["Country of Departure"]
                ),
                "consignee": {
                    **party(first["Importer ID"] or "(importer not named)", "KR"),
                    "addressType": "business",
                },
                "declarant": party(first["Declarant ID"] or "(declarant not named)", "KR"),
                "countryOfOrigin": first["Country of Origin"],
                "countryOfDispatch": first["Country of Departure"],
                "transportMode": MODES.get(first["Mode of Transport"], 1),
                "officeOfEntry": f"KR{int(first['Office ID']):06d}",
                "consignmentType": "express" if first["Courier ID"] else "general",
                "goods": [
                    {
                        "hsCode": item["HS6 Code"].zfill(6),
                        "description": f"HS {item['HS6 Code'].zfill(6)}",
                        "quantity": 1,
                        "netMassKg": f"{max(float(item['Net Mass']), 0.001):.3f}",
                        "value": {"amount": f"{float(item['Item Price']):.2f}", "currency": "KRW"},
                    }
                    for item in items
                ],
                "packages": [{"sscc": with_check_digit("0" + PREFIX + f"{n:09d}")}],
            }
        )
    return made


def _rows() -> list[dict[str, str]]:
    path = DATA / "valid.csv"
    if not path.is_file():
        pytest.skip(f"KCS synthetic declarations not found at {path} (clone shared/ beside main/)")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
    return [
        r for r in rows if len(r["Country of Origin"]) == 2 and len(r["Country of Departure"]) == 2
    ]


def test_kcs_declarations_import_in_one_batch(make_node: NodeFactory) -> None:
    declarations = _declarations(_rows())
    border, reg = make_node("border"), make_node("reg")
    started = time.perf_counter()
    answer = border.post("/api/v1/declarations", {"declarations": declarations})
    took = time.perf_counter() - started
    assert answer.status_code == 201, answer.json
    assert len(answer.json["declared"]) == len(declarations)
    assert len(border.ctx.store.entries(border.ctx.feed, 0, 10_000)) == len(declarations)
    print(f"{len(declarations)} KCS declarations lodged in {took:.2f} s")
    sample = declarations[len(declarations) // 2]
    shown = border.get(f"/api/v1/declarations/{sample['reference']}").json
    assert shown["commercial"]["goods"] == sample["goods"]
    assert shown["declaration"]["countryOfOrigin"] == sample["countryOfOrigin"]
    replicate(border, reg)
    elsewhere = reg.get(f"/api/v1/declarations/{sample['reference']}").json
    assert elsewhere["commercial"] is None
    assert sample["goods"][0]["value"]["amount"] not in str(elsewhere)
