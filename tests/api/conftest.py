"""Fixtures for API tests: a five-organisation consortium, nodes made by `medtrace node init`,
Flask apps over them, and tokens of every role. The helpers behind them are in tests/nodes_setup.py;
the ones other tests import from here are re-exported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.keystore import PASSPHRASE_ENV
from ledger.identifiers import container_uri, pack_uri, with_check_digit
from tests.nodes_setup import PASSPHRASE as PASSPHRASE  # noqa: PLC0414 (re-exported)
from tests.nodes_setup import Member, init_templates, make_consortium, node_factory
from tests.nodes_setup import Node as Node  # noqa: PLC0414 (re-exported)
from tests.nodes_setup import NodeFactory as NodeFactory  # noqa: PLC0414 (re-exported)
from tests.nodes_setup import init_node as init_node  # noqa: PLC0414 (re-exported)
from tests.products import AMOXIL

PREFIX = "4012345"
GTIN = "04012345000016"
FOREIGN_GTIN = "09506000134352"

MEMBERS: dict[str, Member] = {
    "acme": Member("manufacturer", ("line-1",), (PREFIX,)),
    "dist": Member("distributor", ("wh",)),
    "border": Member("customs", ("post",)),
    "apo": Member("pharmacy", ("counter",)),
    "reg": Member("regulator", ("office",)),
}


def sscc(n: int, prefix: str = PREFIX) -> str:
    body = "0" + prefix + f"{n:0{16 - len(prefix)}d}"
    return with_check_digit(body)


def case(n: int) -> str:
    return container_uri(sscc(n))


def pack(serial: str, gtin: str = GTIN) -> str:
    return pack_uri(gtin, serial)


#: Master data of GTIN (docs/spec/customs.md, "Products"): without it a scan at the border is
#: HOLD ``unregistered_product``.
PRODUCT = AMOXIL


def register_product(node: Node, gtin: str = GTIN) -> None:
    """The manufacturer's node ``node`` registers ``gtin``'s product (``POST /api/v1/products``)."""
    request = {"gtin": gtin, **PRODUCT, "referencePrice": {"amount": "12.50", "currency": "EUR"}}
    answer = node.post("/api/v1/products", request)
    assert answer.status_code == 201, answer.get_json()


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="session")
def consortium_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("api-consortium") / "consortium"
    make_consortium(directory, "API tests", MEMBERS, PASSPHRASE)
    return directory


@pytest.fixture(scope="session")
def template_nodes(
    consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One initialised data directory per organisation, copied by each test that needs a node."""
    return init_templates(consortium_dir, tmp_path_factory.mktemp("api-templates"), MEMBERS)


@pytest.fixture
def make_node(template_nodes: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    with node_factory(template_nodes, tmp_path, default_org="acme") as make:
        yield make


@pytest.fixture
def acme(make_node: NodeFactory) -> Node:
    return make_node("acme")
