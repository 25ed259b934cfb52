"""The generator of labelled declarations and the evaluation of the lanes on it (issue 16, item
5; docs/spec/risk.md "The generator"): a real ledger in a scratch node store, every kind of
falsification R1 to R11 injected, and `medtrace risk simulate` printing recall against the
inspection rate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli
from node.risk.facts import Scorer
from node.risk.generator import KINDS, LABELS, Generator, evaluate_set, read_labels
from node.risk.lanes import Lane, RandomSelection, RiskConfig, commitment

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generator]:
    root = tmp_path_factory.mktemp("risk-generator")
    generator = Generator(root, seed=7)
    generator.build(300, falsified=0.12)
    yield generator
    generator.close()


def test_generator_injects_every_kind_and_labels_it(generated: Generator) -> None:
    labels = read_labels(generated.root / LABELS)
    kinds = {label.falsified for label in labels}
    assert kinds == {None, *KINDS}
    for label in labels:
        assert generated.store.declaration(label.reference, "border") is not None


def test_generator_legitimate_flows_are_green(generated: Generator) -> None:
    """Legitimate flows come from the ledger: no indicator fires on most of them."""
    labels = read_labels(generated.root / LABELS)
    scorer = Scorer(generated.store, generated.membership, RiskConfig())
    scorer.preload("border", limit=10_000)
    lanes = []
    for label in labels:
        record = generated.store.declaration(label.reference, "border")
        if label.falsified is None and record is not None:
            lanes.append(scorer.score(record).lane)
    assert lanes.count(Lane.GREEN) / len(lanes) >= 0.97


def test_generator_each_falsification_fires_its_indicator(generated: Generator) -> None:
    labels = read_labels(generated.root / LABELS)
    scorer = Scorer(generated.store, generated.membership, RiskConfig())
    scorer.preload("border", limit=10_000)
    fired: dict[str, set[str]] = {}
    for label in labels:
        if label.falsified is None:
            continue
        record = generated.store.declaration(label.reference, "border")
        assert record is not None
        codes = {f.code for f in scorer.score(record).reasons}
        fired.setdefault(label.falsified, set()).update(codes)
    for kind in KINDS:
        assert kind in fired[kind], (kind, fired[kind])


def test_evaluation_recall_against_inspection_rate(generated: Generator) -> None:
    labels = read_labels(generated.root / LABELS)
    config = RiskConfig(random=RandomSelection(0.02, SEED, commitment(SEED)))
    result = evaluate_set(generated.store, generated.membership, labels, config)
    assert result.recall >= 0.95, result.to_json()
    assert result.kinds.keys() == set(KINDS)


def test_simulate_prints_recall_and_rates(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["risk", "simulate", "--declarations", "200", "--falsified", "0.1",
              "--keep", str(tmp_path / "sim"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output.strip().splitlines()[-1])
    assert answer["declarations"] >= 200
    assert answer["falsified"] > 0
    assert set(answer) >= {"recall", "inspection_rate", "random", "kinds", "lanes"}
    assert (tmp_path / "sim" / "generator.db").is_file()
    assert (tmp_path / "sim" / LABELS).is_file()
