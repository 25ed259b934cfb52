"""`medtrace risk train | evaluate | explain` on slices of the KCS declarations: the JSON line's
shape, the table, the same scores from the same files, contributions that add up."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from node.risk import kcs, metrics, model
from tests.risk.conftest import run

RATES = ["1", "10", "2", "5"]


def _last_json(output: str) -> dict[str, Any]:
    value = json.loads(output.strip().splitlines()[-1])
    assert isinstance(value, dict)
    return value


def test_evaluate_json_last_line_has_rows_fraud_rate_precision_and_recall_at_each_rate(
    model_dir: Path, valid_slice: Path
) -> None:
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    doc = _last_json(result.stdout)
    assert doc["rows"] == 1000
    assert isinstance(doc["fraud_rate"], float)
    assert 0 < doc["fraud_rate"] < 1
    for key in ("precision_at", "recall_at"):
        by_rate = doc[key]
        assert isinstance(by_rate, dict)
        assert sorted(by_rate) == RATES
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in by_rate.values())
    assert doc["inspected"] == {"1": 10, "2": 20, "5": 50, "10": 100}
    # Better than inspecting at random, even from a 3,000-row slice.
    precision = doc["precision_at"]
    assert isinstance(precision, dict)
    assert precision["5"] > 2 * doc["fraud_rate"]


def test_evaluate_without_json_prints_a_table(model_dir: Path, valid_slice: Path) -> None:
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(model_dir), "--data", str(valid_slice)
    )
    assert result.exit_code == 0, result.output + result.stderr
    for text in ("top 1 %", "top 2 %", "top 5 %", "top 10 %", "precision", "recall", "1,000 rows"):
        assert text in result.stdout


def test_same_files_give_the_same_model_and_the_same_scores(
    train_slice: Path, valid_slice: Path, model_dir: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    result = run(
        "risk", "train", "--format", "kcs", "--data", str(train_slice), "--out", str(again)
    )
    assert result.exit_code == 0, result.output + result.stderr
    for name in (model.BOOSTER, model.ENCODINGS):
        assert (again / name).read_bytes() == (model_dir / name).read_bytes(), name
    declarations = kcs.read([valid_slice])
    first, second = model.load(model_dir), model.load(again)
    assert (
        first.scores(first.matrix(declarations)).tobytes()
        == second.scores(second.matrix(declarations)).tobytes()
    )


def test_contributions_add_up_to_the_raw_score(model_dir: Path, valid_slice: Path) -> None:
    loaded = model.load(model_dir)
    x = loaded.matrix(kcs.read([valid_slice]))
    contributions = loaded.contributions(x)
    assert contributions.shape == (len(x), len(loaded.manifest["features"]) + 1)
    assert abs(contributions.sum(axis=1) - loaded.scores(x)).max() < 1e-9
    result = run(
        "risk", "explain", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--row", "7", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    listed = doc["contributions"]
    assert len(listed) == len(loaded.manifest["features"])
    total = doc["bias"] + sum(item["contribution"] for item in listed)
    assert math.isclose(total, doc["raw_score"], abs_tol=1e-4)
    assert math.isclose(doc["raw_score"], float(loaded.scores(x[6:7])[0]), abs_tol=1e-6)


def test_explain_table_names_the_row_and_its_features(model_dir: Path, valid_slice: Path) -> None:
    result = run(
        "risk", "explain", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--row", "1", "--top", "5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "row 1 (declaration" in result.stdout
    assert "contributions = raw score" in result.stdout


def test_train_json_and_manifest(train_slice: Path, model_dir: Path) -> None:
    manifest = json.loads((model_dir / model.MANIFEST).read_text())
    assert manifest["training"]["digest"] == kcs.read([train_slice]).digest
    assert manifest["training"]["rows"] == 3000
    assert manifest["label"] == "fraud"
    assert set(manifest["versions"]) == {"lightgbm", "numpy", "python", "medtrace"}
    assert set(manifest["files"]) == {model.BOOSTER, model.ENCODINGS}
    assert manifest["params"]["deterministic"] is True


def test_critical_label_trains_and_evaluates(
    train_slice: Path, valid_slice: Path, tmp_path: Path
) -> None:
    out = tmp_path / "critical"
    result = run(
        "risk", "train", "--format", "kcs", "--data", str(train_slice), "--data",
        str(valid_slice), "--out", str(out), "--label", "critical", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert _last_json(result.stdout)["rows"] == 4000
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(out), "--data", str(valid_slice),
        "--json",
    )  # fmt: skip
    doc = _last_json(result.stdout)
    assert doc["label"] == "critical"
    assert isinstance(doc["fraud_rate"], float)
    assert doc["fraud_rate"] < 0.05


def test_precision_and_recall_count_the_top_rows_ties_in_file_order() -> None:
    import numpy as np  # noqa: PLC0415

    scores = np.asarray([0.9, 0.1, 0.9, 0.5] + [0.0] * 96)
    y = np.asarray([0, 1, 1, 1] + [0] * 95 + [1], dtype=np.int8)
    result = metrics.evaluate(scores, y)
    assert result.inspected == {"1": 1, "2": 2, "5": 5, "10": 10}
    assert result.precision_at == {"1": 0.0, "2": 0.5, "5": 0.6, "10": 0.3}
    assert result.recall_at == {"1": 0.0, "2": 0.25, "5": 0.75, "10": 0.75}


def test_evaluate_show_lists_the_top_rows_with_their_largest_contributions(
    model_dir: Path, valid_slice: Path
) -> None:
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--show", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    top = _last_json(result.stdout)["top"]
    assert isinstance(top, list)
    assert len(top) == 3
    chances = [item["probability"] for item in top]
    assert chances == sorted(chances, reverse=True)
    for item in top:
        sizes = [abs(reason["contribution"]) for reason in item["reasons"]]
        assert len(sizes) == 3
        assert sizes == sorted(sizes, reverse=True)
        assert item["outcome"] in (0, 1)


def test_explain_shows_a_history_rate_with_the_training_rows_behind_it(
    model_dir: Path, valid_slice: Path
) -> None:
    loaded = model.load(model_dir)
    declarations = kcs.read([valid_slice])
    histories = loaded.encodings.histories["declarant"]
    row = next(
        i + 1
        for i, who in enumerate(declarations.text["Declarant ID"])
        if who in histories and histories[who][0] > 1
    )
    result = run(
        "risk", "explain", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--row", str(row), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    listed = _last_json(result.stdout)["contributions"]
    shown = {item["feature"]: item["value"] for item in listed}
    rows, frauds = histories[declarations.text["Declarant ID"][row - 1]]
    assert shown["declarant_rate"].endswith(f"({frauds:,} of {rows:,} in training)")
    assert shown["declarant_count"] == f"{rows:,}"
