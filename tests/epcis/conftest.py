"""Fixtures for the EPCIS tests: a consortium whose GS1 company prefix no GS1 example uses (so
GS1's example identifiers are foreign here), nodes over it, and the published test data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.epcis import jsontext
from ledger.epcis.normalise import check_digit
from tests.api.conftest import _no_ambient_passphrase  # noqa: F401 (fixture shared with the API tests)
from tests.nodes_setup import (
    PASSPHRASE,
    Member,
    Node,
    init_templates,
    make_consortium,
    node_factory,
)
from tests.nodes_setup import NodeFactory as NodeFactory  # noqa: PLC0414 (re-exported)

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
GS1_EPCIS = TESTDATA / "gs1-epcis"
HASH_GENERATOR = TESTDATA / "epcis-event-hash-generator"
SCHEMA = GS1_EPCIS / "EPCIS-JSON-Schema.json"

#: The manufacturer's GS1 company prefix: used by no GS1 example document.
PREFIX = "7001234"
GTIN = "0" + PREFIX + "00001" + check_digit("0" + PREFIX + "00001")
OTHER_GTIN = "0" + PREFIX + "00002" + check_digit("0" + PREFIX + "00002")


def gln(n: int) -> str:
    body = f"{PREFIX}{n:05d}"
    return body + check_digit(body)


MEMBERS: dict[str, Member] = {
    "maker": Member("manufacturer", ("line-1",), (PREFIX,), gln(1)),
    "whole": Member("distributor", ("wh",), (), gln(2)),
    "apo": Member("pharmacy", ("counter",), (), gln(3)),
    "border": Member("customs", ("post",), (), gln(4)),
    "agency": Member("regulator", ("desk",), (), gln(5)),
}


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"published test data not found at {path} (clone shared/ beside main/)")
    return path


def load(path: Path) -> Any:
    """A document as capture parses it: numbers with a fraction as Decimal."""
    return jsontext.loads(need(path).read_bytes())


def gs1_examples() -> list[Path]:
    """Every JSON-LD example GS1 publishes (empty if the test data is absent)."""
    return sorted((GS1_EPCIS / "JSON").rglob("*.jsonld"))


def need_gs1_examples() -> list[Path]:
    """GS1's examples, or a skip saying where they were looked for."""
    examples = gs1_examples()
    if not examples:
        pytest.skip(f"GS1 examples not found under {GS1_EPCIS} (clone shared/ beside main/)")
    return examples


def example_id(path: Path) -> str:
    return str(path.relative_to(TESTDATA)) if TESTDATA in path.parents else path.name


@pytest.fixture(scope="session")
def epcis_consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("epcis-consortium") / "consortium"
    make_consortium(directory, "EPCIS tests", MEMBERS, PASSPHRASE)
    return directory


@pytest.fixture(scope="session")
def epcis_templates(
    epcis_consortium: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    return init_templates(epcis_consortium, tmp_path_factory.mktemp("epcis-templates"), MEMBERS)


@pytest.fixture
def make_epcis_node(epcis_templates: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    with node_factory(epcis_templates, tmp_path, default_org="maker") as make:
        yield make


@pytest.fixture
def maker(make_epcis_node: NodeFactory) -> Node:
    return make_epcis_node("maker")


@pytest.fixture(scope="session")
def official_schema() -> Any:
    return json.loads(need(SCHEMA).read_text(encoding="utf-8"))
