"""``medtrace risk report`` (issue 16, item 3; docs/spec/risk.md "The report"): per indicator,
lane and the random selection, the declarations it fired on, how many were inspected and how
many inspections found something, over a real customs store (the generator's ledger) with
inspection outcomes recorded as signed ``outcome`` entries (ADR 0022)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.kinds import Kind
from ledger.lifecycle.customs_decisions import record_step
from ledger.membership.versions import sign_membership
from medtrace.cli.main import cli
from node.config import NodeConfig, save_config
from node.risk.generator import CUSTOMS_FEED, DATABASE, Generator, _key
from node.risk.lanes import RandomSelection, RiskConfig, commitment, draw
from node.risk.report import RiskReport, risk_report

SEED = bytes(range(32))
#: The generator's set with seed 16: 30 declarations, the kinds R1 to R11 in turn (R9 is six
#: parcels GEN-000019-0..5, of which the last four fire R9), and the outcomes recorded on them.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "GEN-000000": ("found_falsified",),  # R1 R8, red
    "GEN-000001": ("found_compliant",),  # legitimate, green
    "GEN-000002": ("found_falsified",),  # R2 R3, red
    "GEN-000004": ("found_compliant",),  # R3 R8, red
    "GEN-000007": ("found_compliant", "found_falsified"),  # R4, yellow: the newest counts
    "GEN-000009": ("not_inspected",),  # R5, yellow: not an inspection
    "GEN-000019-2": ("found_falsified",),  # R9, yellow
    "GEN-000019-3": ("found_compliant",),  # R9, yellow
}


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generator]:
    made = Generator(tmp_path_factory.mktemp("report"), 16)
    made.build(30, 0.4)
    for reference, outcomes in OUTCOMES.items():
        record = made.store.declaration(reference, "border")
        assert record is not None
        for outcome in outcomes:
            body = {"declaration": reference, "outcome": outcome}
            made.nodes["border"].submit(record_step(Kind.OUTCOME, body, record.entry_id))
    yield made
    made.close()


def tally(report: RiskReport, **rows: tuple[int, int, int]) -> dict[str, tuple[int, int, int]]:
    found = {code: (t.declarations, t.inspected, t.found) for code, t in report.indicators.items()}
    return {row: found[row] for row in rows}


def test_risk_report_hit_rate_per_indicator(generator: Generator) -> None:
    report = risk_report(generator.store, generator.membership, "border", RiskConfig())
    answer = report.to_json()
    # (declarations fired on, inspected, found falsified)
    expected = {
        "R1": (1, 1, 1),
        "R2": (1, 1, 1),
        "R3": (3, 2, 1),  # and the generator's seized consignment (below)
        "R4": (1, 1, 1),
        "R5": (1, 0, 0),
        "R6": (1, 0, 0),
        "R7": (1, 0, 0),
        "R9": (4, 2, 1),
        "R10": (1, 0, 0),
        "R11": (1, 0, 0),
    }
    assert tally(report, **expected) == expected
    assert answer["indicators"]["R3"]["hit_rate"] == 0.5
    assert answer["indicators"]["R1"]["hit_rate"] == 1.0
    assert answer["indicators"]["R5"]["hit_rate"] is None  # nothing inspected: unknown, not 0
    assert answer["indicators"]["R9"]["name"] == "split_parcels"
    # R8: GEN-000000, GEN-000004, GEN-000018, and GEN-SEIZED-000018, the consignment the
    # generator lodged (and customs seized) to flag GEN-000018's consignee: its consignor was
    # new then (and never held the case: R3)
    assert answer["indicators"]["R8"] == {"name": "party_history", "declarations": 4,
        "inspected": 2, "found": 1, "hit_rate": 0.5, "unevaluated": 0}  # fmt: skip
    assert answer["lanes"]["red"] == {"declarations": 5, "inspected": 3, "found": 2,
                                      "hit_rate": 0.666667}  # fmt: skip
    assert answer["lanes"]["yellow"] == {"declarations": 10, "inspected": 3, "found": 2,
                                         "hit_rate": 0.666667}  # fmt: skip
    assert answer["lanes"]["green"] == {"declarations": 16, "inspected": 1, "found": 0,
                                        "hit_rate": 0.0}  # fmt: skip
    assert answer["lanes"]["blue"]["declarations"] == 0
    assert answer["overall"] == {"declarations": 31, "inspected": 7, "found": 4,
                                 "hit_rate": 0.571429}  # fmt: skip
    assert answer["random"] == {"declarations": 0, "inspected": 0, "found": 0, "hit_rate": None}


def test_risk_report_counts_the_random_selection(generator: Generator) -> None:
    config = RiskConfig(random=RandomSelection(0.5, SEED, commitment(SEED)))
    report = risk_report(generator.store, generator.membership, "border", config)
    references = [d.reference for d in generator.store.earlier_declarations("border", None)]
    drawn = {ref for ref in references if draw(SEED, ref) < 0.5}
    assert report.random.declarations == len(drawn) > 0
    inspected = {r for r, o in OUTCOMES.items() if o[-1] != "not_inspected"} & drawn
    found = {r for r, o in OUTCOMES.items() if o[-1] == "found_falsified"} & drawn
    assert (report.random.inspected, report.random.found) == (len(inspected), len(found))


def data_dir(generator: Generator) -> Path:
    """A customs node's data directory over the generator's store: node.json and the signed
    membership the node would have verified."""
    root = generator.root
    if not (root / "node.json").exists():
        signed = sign_membership(generator.membership, {"gov-1": _key(1)})
        generator.store.save_membership(signed)
        config = NodeConfig(name="border", feed=CUSTOMS_FEED, genesis_id=signed.id,
                            database=str(root / DATABASE))  # fmt: skip
        save_config(root, config)
    return root


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["risk", "report", *args])


def test_risk_report_command_json_and_table(generator: Generator) -> None:
    data = data_dir(generator)
    result = run("--data", str(data), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    expected = risk_report(generator.store, generator.membership, "border", RiskConfig())
    assert answer == expected.to_json()
    table = run("--data", str(data))
    assert table.exit_code == 0, table.output + table.stderr
    assert "31 declarations" in table.stdout
    rows = [[cell.strip() for cell in line.split("│")[1:6]] for line in table.stdout.splitlines()]
    assert ["R3", "3", "2", "1", "0.500"] in rows
    assert ["R5", "1", "0", "0", "-"] in rows


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "missing", "expected a node's data directory, found nothing there"),
        (lambda tmp: tmp, "node.json"),
    ],
    ids=["no_directory", "no_node_json"],
)
def test_risk_report_refuses_what_is_not_a_node(tmp_path: Path, make: Any, says: str) -> None:
    result = run("--data", str(make(tmp_path)))
    assert result.exit_code == 1
    assert says in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_risk_report_does_not_score_with_hindsight(generator: Generator) -> None:
    """The outcomes were recorded after every declaration: a report that let them count would
    fire R8 on every later declaration of the parties found falsified, and credit R8 with finds
    it did not make when those declarations were lodged."""
    report = risk_report(generator.store, generator.membership, "border", RiskConfig())
    fired = [t.declarations for code, t in report.indicators.items() if code == "R8"]
    assert fired == [4]
    assert report.lanes["green"].declarations == 16
