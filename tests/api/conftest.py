"""Fixtures for API tests: a five-organisation consortium, nodes made by `medtrace node init`,
Flask apps over them, and tokens of every role."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from api.context import NodeContext
from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV
from ledger.identifiers import container_uri, pack_uri, with_check_digit
from node.app import ReplicatorFactory, app_context, close_app, create_app
from node.config import load_config, save_config
from node.node_cli import node_group
from node.tokens import TokenRole

PASSPHRASE = "correct horse battery staple (api tests)"
PREFIX = "4012345"
GTIN = "04012345000016"
FOREIGN_GTIN = "09506000134352"

#: org -> (role, sites, company prefixes)
MEMBERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "acme": ("manufacturer", ("line-1",), (PREFIX,)),
    "dist": ("distributor", ("wh",), ()),
    "border": ("customs", ("post",), ()),
    "apo": ("pharmacy", ("counter",), ()),
    "reg": ("regulator", ("office",), ()),
}


def sscc(n: int, prefix: str = PREFIX) -> str:
    body = "0" + prefix + f"{n:0{16 - len(prefix)}d}"
    return with_check_digit(body)


def case(n: int) -> str:
    return container_uri(sscc(n))


def pack(serial: str, gtin: str = GTIN) -> str:
    return pack_uri(gtin, serial)


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture(scope="session")
def consortium_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("api-consortium") / "consortium"
    consortium = Consortium.create(directory, "API tests", passphrase=PASSPHRASE)
    for index, (org, (role, sites, prefixes)) in enumerate(MEMBERS.items(), 1):
        consortium.add_organisation(
            org,
            name=org.title(),
            role=role,
            gln=f"{4000000000000 + index}",
            company_prefixes=prefixes,
            feeds=sites,
            passphrase=PASSPHRASE,
        )
    return directory


def init_node(consortium_dir: Path, data: Path, feed: str, *extra: str, **config: Any) -> Path:
    """`medtrace node init` for ``feed`` into ``data``; ``config`` overrides node.json fields."""
    result = CliRunner().invoke(
        node_group,
        ["init", "--data", str(data), "--consortium", str(consortium_dir), "--feed", feed, *extra],
        env={PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    if config:
        save_config(data, replace(load_config(data), **config))
    return data


@pytest.fixture(scope="session")
def template_nodes(
    consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One initialised data directory per organisation, copied by each test that needs a node."""
    root = tmp_path_factory.mktemp("api-templates")
    return {
        org: init_node(consortium_dir, root / org, f"{org}/{sites[0]}")
        for org, (_, sites, _) in MEMBERS.items()
    }


@dataclass
class Node:
    app: Flask
    data: Path

    @property
    def ctx(self) -> NodeContext:
        return app_context(self.app)

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: TokenRole | str = TokenRole.OPERATOR, user: str = "") -> str:
        role = TokenRole(role)
        if role.value not in self.tokens:
            self.tokens[role.value] = self.ctx.tokens.create(user or f"{role.value}-1", role)[0]
        return self.tokens[role.value]

    def auth(self, role: TokenRole | str = TokenRole.OPERATOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def post(self, path: str, body: Any, role: TokenRole | str = TokenRole.OPERATOR) -> Any:
        return self.client.post(path, json=body, headers=self.auth(role))

    def get(self, path: str, role: TokenRole | str = TokenRole.OPERATOR) -> Any:
        return self.client.get(path, headers=self.auth(role))


NodeFactory = Callable[..., Node]


@pytest.fixture
def make_node(template_nodes: dict[str, Path], tmp_path: Path) -> Iterator[NodeFactory]:
    apps: list[Flask] = []

    def make(
        org: str = "acme",
        *,
        replicator_factory: ReplicatorFactory | None = None,
        start_replicator: bool = False,
        name: str | None = None,
        **config: Any,
    ) -> Node:
        data = tmp_path / (name or org)
        shutil.copytree(template_nodes[org], data)
        if config:
            save_config(data, replace(load_config(data), **config))
        app = create_app(
            data,
            passphrase=PASSPHRASE,
            start_replicator=start_replicator,
            replicator_factory=replicator_factory,
        )
        apps.append(app)
        return Node(app, data)

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def acme(make_node: NodeFactory) -> Node:
    return make_node("acme")
