"""The learned score of a customs node's own declarations (``--format medtrace``; issue 16,
item 3; docs/spec/risk.md "The learned score of the node's declarations"): trained offline on
a node's data directory, each declaration labelled by its recorded inspection outcome, its rule
indicators R1 to R11 among the features as they fired when it was lodged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ledger.kinds import Kind
from ledger.lifecycle.customs_decisions import record_step
from node.risk import declared_features
from node.risk.declared import read_store
from node.risk.generator import AMOXICILLIN, Generator, loose
from node.risk.lanes import RiskConfig
from tests.risk.conftest import run


def last_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_learned_score_trained_on_node_outcomes(node_model: Path, node_valid: Path) -> None:
    """Trained on one generated store (seed 16), measured on another (seed 17): the top-scored
    tenth of the declarations holds far more falsified ones than the base rate."""
    measured = last_json(run("risk", "evaluate", "--format", "medtrace", "--model",
                             str(node_model), "--data", str(node_valid), "--json"))  # fmt: skip
    assert set(measured) == {"rows", "fraud_rate", "precision_at", "recall_at", "inspected",
                             "label"}  # the same shape as --format kcs  # fmt: skip
    assert measured["rows"] == 600
    assert measured["label"] == "fraud"
    base = measured["fraud_rate"]
    assert 0.05 < base < 0.3
    assert measured["precision_at"]["10"] >= max(0.8, 3 * base), measured
    assert measured["precision_at"]["5"] >= 0.9, measured
    assert measured["recall_at"]["10"] >= 0.5, measured


def test_training_leaves_out_declarations_without_an_outcome(
    node_train: Path, tmp_path: Path
) -> None:
    trained = last_json(run("risk", "train", "--format", "medtrace", "--data", str(node_train),
                            "--out", str(tmp_path / "m"), "--json"))  # fmt: skip
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    # the generator's set: 600 labelled declarations; the consignments it lodged (and seized)
    # to flag R8's consignees carry no outcome and teach nothing
    assert trained["rows"] == 600
    assert manifest["format"] == "medtrace"
    assert manifest["features"] == declared_features.feature_names()
    assert manifest["training"]["files"] == ["border"]
    assert manifest["params"]["min_data_in_leaf"] == 5
    assert manifest["rounds"] == 200


def test_learned_score_is_deterministic(node_train: Path, tmp_path: Path) -> None:
    """The same store gives a byte-identical booster and encodings, and the same scores."""
    made = []
    for name in ("a", "b"):
        out = tmp_path / name
        last_json(run("risk", "train", "--format", "medtrace", "--data", str(node_train),
                      "--out", str(out), "--json"))  # fmt: skip
        made.append(out)
    for name in ("booster.txt", "encodings.json"):
        assert (made[0] / name).read_bytes() == (made[1] / name).read_bytes(), name
    explained = [
        last_json(
            run(
                "risk",
                "explain",
                "--format",
                "medtrace",
                "--model",
                str(m),
                "--data",
                str(node_train),
                "--row",
                "7",
                "--json",
            )
        )
        for m in made
    ]
    assert explained[0] == explained[1]


def test_explain_a_node_declaration_adds_up(node_model: Path, node_train: Path) -> None:
    explained = last_json(run("risk", "explain", "--format", "medtrace", "--model",
                              str(node_model), "--data", str(node_train), "--row", "3",
                              "--json"))  # fmt: skip
    assert explained["row"] == 3
    assert explained["declaration"].startswith("GEN-")
    total = explained["bias"] + sum(c["contribution"] for c in explained["contributions"])
    assert math.isclose(total, explained["raw_score"], abs_tol=1e-4)
    features = {c["feature"]: c["value"] for c in explained["contributions"]}
    assert set(features) == set(declared_features.feature_names())
    assert features["R1_never_commissioned"] in {"0", "1"}
    assert features["office"] == "DE004098"
    table = run("risk", "explain", "--format", "medtrace", "--model", str(node_model),
                "--data", str(node_train), "--row", "3")  # fmt: skip
    assert table.exit_code == 0, table.output + table.stderr
    assert f"bias {explained['bias']:+.3f} + all 44 contributions" in table.stdout


def _labelled_store(root: Path, outcomes: list[str]) -> Path:
    """A small node store whose first declarations carry ``outcomes``."""
    root.mkdir(parents=True)
    made = Generator(root, 16)
    try:
        labels = made.build(12, 0.0)
        for label, outcome in zip(labels, outcomes, strict=False):
            record = made.store.declaration(label.reference, "border")
            assert record is not None
            body = {"declaration": label.reference, "outcome": outcome}
            made.nodes["border"].submit(record_step(Kind.OUTCOME, body, record.entry_id))
        return made.node_json()
    finally:
        made.close()


def _a_file(tmp: Path, _: Path) -> list[str]:
    (tmp / "rows.csv").write_text("x\n")
    return ["--data", str(tmp / "rows.csv")]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_a_file, "expected a node's data directory, found a file"),
        (lambda tmp, _: ["--data", str(tmp / "missing")],
         "expected a node's data directory, found nothing there"),
        (lambda _, node: ["--data", str(node), "--label", "critical"],
         "--label: expected fraud with --format medtrace"),
        (lambda tmp, _: ["--data", str(_labelled_store(tmp / "none", []))],
         "expected declarations with an inspection outcome"),
        (lambda tmp, _: ["--data", str(_labelled_store(tmp / "one", ["found_compliant"] * 3))],
         "expected both outcomes of 'fraud' in the training data"),
    ],
    ids=["a_file", "nothing_there", "critical_label", "no_outcomes", "one_outcome_only"],
)  # fmt: skip
def test_train_refuses_what_it_cannot_learn_from_in_one_line(
    make: Any, says: str, node_train: Path, tmp_path: Path
) -> None:
    args = make(tmp_path, node_train)
    result = run("risk", "train", "--format", "medtrace", *args, "--out", str(tmp_path / "m"))
    assert result.exit_code == 1, result.output
    assert says in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_a_node_model_is_not_a_kcs_model(node_model: Path, tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("x\n")
    result = run("risk", "explain", "--format", "kcs", "--model", str(node_model), "--data",
                 str(tmp_path / "rows.csv"), "--row", "1")  # fmt: skip
    assert result.exit_code == 1
    assert "expected a model of --format kcs, found one of 'medtrace'" in result.stderr


def test_learned_training_uses_no_hindsight(tmp_path: Path) -> None:
    """A declaration's rule features are those it had when lodged: a seizure recorded after it
    about the same consignor does not fire R8 on it (it does on the next one), and a split
    parcel counts only the parcels before it."""
    made = Generator(tmp_path, 16)
    try:
        made.build(11, 0.0)
        trader = {"name": "Hindsight Trading", "address": {"city": "Lagos", "country": "NG"}}

        def lodge(reference: str) -> str:
            packs = made.commission(AMOXICILLIN, 1)
            declared = made.declaration(reference, product=AMOXICILLIN, packages=loose(packs),
                                        quantity=1, consignor=trader)  # fmt: skip
            return made.lodge([declared])[0]

        first = lodge("HS-FIRST")
        lodge("HS-SECOND")
        seize = {"declaration": "HS-FIRST", "decision": "seize"}
        made.nodes["border"].submit(record_step(Kind.DECIDE, seize, first))
        lodge("HS-THIRD")
        rows, _ = read_store(made.store, made.membership, "border", RiskConfig())
    finally:
        made.close()
    r8 = {r.reference: r.indicators["R8"] for r in rows if r.reference.startswith("HS-")}
    # first: a consignor new here; second: seen before, nothing flagged yet; third: seized before
    assert r8 == {"HS-FIRST": 1.0, "HS-SECOND": 0.0, "HS-THIRD": 1.0}


def test_simulate_with_outcomes_keeps_a_node_to_train_on(tmp_path: Path) -> None:
    """`medtrace risk simulate --outcomes --keep DIR` (docs/spec/risk.md's examples): DIR is a
    customs node's data directory with an outcome on every generated declaration."""
    kept = tmp_path / "sim"
    simulated = last_json(run("risk", "simulate", "--declarations", "40", "--falsified", "0.3",
                              "--outcomes", "--keep", str(kept), "--json"))  # fmt: skip
    assert (kept / "node.json").is_file()
    report = last_json(run("risk", "report", "--data", str(kept), "--json"))
    labelled = [json.loads(line) for line in (kept / "labels.jsonl").read_text().splitlines()]
    assert report["overall"]["inspected"] == len(labelled) == simulated["declarations"]
    assert report["overall"]["found"] == simulated["falsified"]
    trained = last_json(run("risk", "train", "--format", "medtrace", "--data", str(kept),
                            "--out", str(tmp_path / "model"), "--json"))  # fmt: skip
    assert trained["rows"] == simulated["declarations"]
    assert trained["fraud_rate"] == round(simulated["falsified"] / simulated["declarations"], 6)
