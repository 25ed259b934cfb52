"""docs/spec/risk.md tells the truth: every feature the model uses has its row and rationale,
every parameter it quotes is the one in force, and the JSON line has the documented keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.risk import declared_features, features, model

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


#: docs/spec/risk.md from the section on the node's own declarations (--format medtrace) on.
NODE_SPEC = SPEC[SPEC.index("# The learned score of the node's declarations") :]


@pytest.mark.parametrize("name", declared_features.feature_names())
def test_spec_names_and_explains_every_feature_of_the_node_declarations(name: str) -> None:
    rows = [
        line
        for line in NODE_SPEC.splitlines()
        if line.startswith("|") and (f"`{name}`" in line or (name[:1] == "R" and "`R1_" in line))
    ]
    assert rows, f"{name} has no row in docs/spec/risk.md's node section"
    assert rows[0].rstrip(" |").endswith("."), f"{name}'s row gives no rationale"


def test_spec_states_the_node_features_and_parameters() -> None:
    assert f"{len(declared_features.feature_names())} columns" in NODE_SPEC
    assert f"{model.NODE_ROUNDS} rounds" in NODE_SPEC
    assert f"`num_leaves` {model.NODE_PARAMS['num_leaves']}" in NODE_SPEC
    assert f"`min_data_in_leaf` {model.NODE_PARAMS['min_data_in_leaf']}" in NODE_SPEC
    assert f"{declared_features.FOLDS} folds are **contiguous blocks" in NODE_SPEC
    for code in ("R1", "R11"):
        name = next(n for n in declared_features.INDICATOR_FEATURES if n.startswith(f"{code}_"))
        assert f"`{name}`" in NODE_SPEC
