"""Fixtures for the customs tests: the five-organisation consortium of the API tests, nodes
made by ``medtrace node init`` (real SQLite files) and Flask apps over them, and the requests
the tests send (docs/spec/customs.md's examples)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from keys.keystore import PASSPHRASE_ENV
from node.store import models
from tests.nodes_setup import (
    PASSPHRASE,
    Member,
    Node,
    NodeFactory,
    init_templates,
    make_consortium,
    node_factory,
)

PREFIX = "4012345"
GTIN = "04012345000016"
SSCC = "040123450000000016"
MEMBERS: dict[str, Member] = {
    "acme": Member("manufacturer", ("line-1",), (PREFIX,)),
    "dist": Member("distributor", ("wh",)),
    "border": Member("customs", ("post",)),
    "apo": Member("pharmacy", ("counter",)),
    "reg": Member("regulator", ("office",)),
}
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "spec" / "customs.md"


def doc_example(name: str) -> Any:
    """The JSON block of docs/spec/customs.md that follows the marker ``<!-- example: NAME -->``."""
    text = EXAMPLES.read_text(encoding="utf-8")
    marker = f"<!-- example: {name} -->"
    start = text.index("```json", text.index(marker)) + len("```json")
    return json.loads(text[start : text.index("```", start)])


@pytest.fixture
def product_request() -> dict[str, Any]:
    return copy.deepcopy(doc_example("product-request"))


@pytest.fixture
def declaration_request() -> dict[str, Any]:
    return copy.deepcopy(doc_example("declaration-request"))


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="session")
def consortium_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("customs-consortium") / "consortium"
    make_consortium(directory, "Customs tests", MEMBERS, PASSPHRASE)
    return directory


@pytest.fixture(scope="session")
def template_nodes(
    consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    return init_templates(consortium_dir, tmp_path_factory.mktemp("customs-templates"), MEMBERS)


@pytest.fixture
def make_node(template_nodes: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    with node_factory(template_nodes, tmp_path, default_org="acme") as make:
        yield make


def openings_held(node: Node) -> int:
    """How many openings of sealed fields the node keeps (``sealed_openings``)."""
    with node.ctx.store.reader.connect() as conn:
        count = conn.execute(select(func.count()).select_from(models.SEALED_OPENINGS)).scalar()
    return int(count or 0)


def replicate(source: Node, target: Node) -> None:
    """Every entry ``source`` holds, ingested by ``target`` as a peer's (verified, sidecars
    checked): what a replication round carries."""
    store = source.ctx.store
    entries = [e for feed in store.heads() for e in store.entries(feed, 0, 100_000)]
    report = target.ctx.store.ingest(entries, target.ctx.membership)
    assert not report.rejected, report.rejected
