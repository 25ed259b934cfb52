"""Fixtures for the EPCIS tests: a consortium whose GS1 company prefix no GS1 example uses (so
GS1's example identifiers are foreign here), nodes over it, and the published test data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV
from ledger.epcis import jsontext
from ledger.epcis.normalise import check_digit
from node.app import close_app, create_app
from tests.api.conftest import PASSPHRASE, Node, init_node

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


#: org -> (role, site, company prefixes, GLN)
MEMBERS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "maker": ("manufacturer", "line-1", (PREFIX,), gln(1)),
    "whole": ("distributor", "wh", (), gln(2)),
    "apo": ("pharmacy", "counter", (), gln(3)),
    "border": ("customs", "post", (), gln(4)),
    "agency": ("regulator", "desk", (), gln(5)),
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


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="session")
def epcis_consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("epcis-consortium") / "consortium"
    consortium = Consortium.create(directory, "EPCIS tests", passphrase=PASSPHRASE)
    for org, (role, site, prefixes, member_gln) in MEMBERS.items():
        consortium.add_organisation(
            org,
            name=org.title(),
            role=role,
            gln=member_gln,
            company_prefixes=prefixes,
            feeds=(site,),
            passphrase=PASSPHRASE,
        )
    return directory


@pytest.fixture(scope="session")
def epcis_templates(
    epcis_consortium: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("epcis-templates")
    return {
        org: init_node(epcis_consortium, root / org, f"{org}/{site}")
        for org, (_, site, _, _) in MEMBERS.items()
    }


NodeFactory = Callable[..., Node]


@pytest.fixture
def make_epcis_node(epcis_templates: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    apps: list[Flask] = []

    def make(org: str = "maker", name: str | None = None) -> Node:
        data = tmp_path / (name or org)
        shutil.copytree(epcis_templates[org], data)
        app = create_app(data, passphrase=PASSPHRASE, start_replicator=False)
        apps.append(app)
        return Node(app, data)

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def maker(make_epcis_node: NodeFactory) -> Node:
    return make_epcis_node("maker")


@pytest.fixture(scope="session")
def official_schema() -> Any:
    return json.loads(need(SCHEMA).read_text(encoding="utf-8"))
