"""docs/spec/risk.md tells the truth: every feature the model uses has its row and rationale,
every parameter it quotes is the one in force, and the JSON line has the documented keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.risk import features, model

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "spec" / "risk.md").read_text(
    encoding="utf-8"
)


@pytest.mark.parametrize("name", features.feature_names())
def test_spec_names_and_explains_every_feature(name: str) -> None:
    rows = [line for line in SPEC.splitlines() if line.startswith("|") and f"`{name}`" in line]
    assert rows, f"{name} has no row in docs/spec/risk.md"
    assert rows[0].rstrip(" |").endswith("."), f"{name}'s row gives no rationale"


def test_spec_states_the_feature_count_and_parameters() -> None:
    assert f"{len(features.feature_names())} columns" in SPEC
    assert f"{model.ROUNDS} rounds" in SPEC
    for key in ("learning_rate", "num_leaves", "seed", "num_threads"):
        assert f'"{key}": {json.dumps(model.PARAMS[key])}' in SPEC, key
    assert (
        f"(frauds + {features.SMOOTHING:g} \u00d7 prior) / (rows + {features.SMOOTHING:g})" in SPEC
    )
    assert f"split into {features.FOLDS} folds" in SPEC


def test_spec_json_line_has_the_keys_evaluate_prints() -> None:
    line = next(line for line in SPEC.splitlines() if line.startswith('{"fraud_rate"'))
    doc = json.loads(line)
    assert set(doc) == {"rows", "fraud_rate", "precision_at", "recall_at", "inspected", "label"}
    for key in ("precision_at", "recall_at", "inspected"):
        assert sorted(doc[key], key=int) == ["1", "2", "5", "10"]
    assert re.search(r'"kind": "medtrace-risk-model"', SPEC)
