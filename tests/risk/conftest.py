"""Fixtures for the learned risk score: small slices of the Korea Customs Service declarations
(shared testdata, kcs-customs-declarations) written to scratch files, and a model trained on one
of them by the real command. The slices keep every test to seconds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from medtrace.cli.main import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "kcs-customs-declarations"
TRAIN_ROWS = 3000
VALID_ROWS = 1000


def kcs_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"KCS declarations not found at {path} (clone shared/ beside main/)")
    return path


def write_slice(source: Path, target: Path, rows: int) -> Path:
    """The header and the first ``rows`` rows of ``source``: a real file, much smaller."""
    with source.open(encoding="utf-8", newline="") as handle:
        head = [line for _, line in zip(range(rows + 1), csv.reader(handle), strict=False)]
    with target.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(head)
    return target


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="session")
def train_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slice(
        kcs_file("train.csv"), tmp_path_factory.mktemp("kcs") / "train.csv", TRAIN_ROWS
    )


@pytest.fixture(scope="session")
def valid_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slice(
        kcs_file("valid.csv"), tmp_path_factory.mktemp("kcs") / "valid.csv", VALID_ROWS
    )


@pytest.fixture(scope="session")
def model_dir(train_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("risk") / "model"
    result = run("risk", "train", "--format", "kcs", "--data", str(train_slice), "--out", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    return out


# -- the learned score of a node's own declarations (--format medtrace) -----------------------
#: Declarations and falsified share of the generated node stores the medtrace tests train on.
NODE_DECLARATIONS = 600
NODE_FALSIFIED = 0.1


def generated_node(root: Path, seed: int, count: int = NODE_DECLARATIONS) -> Path:
    """A customs node's data directory (``border``) holding the generator's labelled set of
    ``seed``, with an inspection outcome recorded on every declaration after all of them."""
    from node.risk.generator import Generator  # noqa: PLC0415

    root.mkdir(parents=True, exist_ok=True)
    made = Generator(root, seed)
    try:
        made.record_outcomes(made.build(count, NODE_FALSIFIED))
        return made.node_json()
    finally:
        made.close()


@pytest.fixture(scope="session")
def node_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_node(tmp_path_factory.mktemp("node-train") / "border", 16)


@pytest.fixture(scope="session")
def node_valid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_node(tmp_path_factory.mktemp("node-valid") / "border", 17)


@pytest.fixture(scope="session")
def node_model(node_train: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained by the real command on ``node_train``."""
    out = tmp_path_factory.mktemp("node-risk") / "model"
    trained = run("risk", "train", "--format", "medtrace", "--data", str(node_train),
                  "--out", str(out))  # fmt: skip
    assert trained.exit_code == 0, trained.output + trained.stderr
    return out
