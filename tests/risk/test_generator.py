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

from ledger.kinds import Kind
from ledger.lifecycle.customs_decisions import record_step
from medtrace.cli.main import cli
from node.risk.facts import Scorer
from node.risk.generator import (
    AMOXICILLIN,
    KINDS,
    LABELS,
    Generator,
    evaluate_set,
    loose,
    read_labels,
)
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


def test_cached_history_scores_as_the_preloaded_one(generated: Generator) -> None:
    """One declaration at a time (the API's way: this process's history, caught up) gives the
    lanes and reasons that scoring the whole set over one read gives."""
    labels = read_labels(generated.root / LABELS)
    preloaded = Scorer(generated.store, generated.membership, RiskConfig())
    preloaded.preload("border", limit=10_000)
    one_by_one = Scorer(generated.store, generated.membership, RiskConfig())
    for label in labels[::7]:
        record = generated.store.declaration(label.reference, "border")
        assert record is not None
        assert one_by_one.score(record).to_json() == preloaded.score(record).to_json()


def test_cached_history_sees_a_seizure_recorded_since(generated: Generator) -> None:
    """A consignee's earlier consignment seized after this process read its history still
    flags the consignee's next declaration (R8)."""
    scorer = Scorer(generated.store, generated.membership, RiskConfig())
    consignee = generated.pharmacy(777_777)

    def lodge(reference: str) -> str:
        product = AMOXICILLIN
        packs = generated.commission(product, 1)
        declared = generated.declaration(
            reference, product=product, packages=loose(packs), quantity=1, consignee=consignee,
            kind="express",
        )  # fmt: skip
        return generated.lodge([declared])[0]

    first = lodge("CACHE-1")
    record = generated.store.declaration("CACHE-1", "border")
    assert record is not None
    assert "R8" not in {f.code for f in scorer.score(record).reasons}
    seize = {"declaration": "CACHE-1", "decision": "seize"}
    generated.nodes["border"].submit(record_step(Kind.DECIDE, seize, first))
    lodge("CACHE-2")
    again = generated.store.declaration("CACHE-2", "border")
    assert again is not None
    reasons = {f.code: f for f in scorer.score(again).reasons}
    assert reasons["R8"].evidence[0]["declaration"] == "CACHE-1"
    assert reasons["R8"].evidence[0]["found"] == "seize"


def test_simulate_keep_refuses_a_directory_with_files(tmp_path: Path) -> None:
    (tmp_path / "generator.db").write_text("not mine")
    result = CliRunner().invoke(cli, ["risk", "simulate", "--keep", str(tmp_path)])
    assert result.exit_code == 1
    assert "--keep: expected a new or empty directory" in result.output
    assert (tmp_path / "generator.db").read_text() == "not mine"
