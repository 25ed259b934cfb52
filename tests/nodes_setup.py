"""Set-up shared by the API, EPCIS and mTLS tests: a consortium of named members, data directories
made by `medtrace node init` (once a session, then copied by each test), and Flask apps over them.

The fixtures that use these stay in each folder's conftest, where pytest finds them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from api.context import NodeContext
from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV
from ledger.identifiers import with_check_digit
from medtrace.app import app_context, close_app, create_app
from medtrace.cli.node import node_group
from node.config import load_config, save_config
from node.replication.host import ReplicatorFactory
from node.tokens import TokenRole

#: What the API and EPCIS tests' consortium keys and node data directories are sealed with.
PASSPHRASE = "correct horse battery staple (api tests)"


class Member(NamedTuple):
    role: str
    feeds: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    #: None: 400000000000N + check digit, N the member's place (from 1) in the consortium
    gln: str | None = None


def make_consortium(
    directory: Path, name: str, members: Mapping[str, Member], passphrase: str
) -> Consortium:
    """A consortium at ``directory`` with one organisation per member, named after its key."""
    consortium = Consortium.create(directory, name, passphrase=passphrase)
    for index, (org, member) in enumerate(members.items(), 1):
        consortium.add_organisation(
            org,
            name=org.title(),
            role=member.role,
            gln=member.gln or with_check_digit(f"{400000000000 + index}"),
            company_prefixes=member.prefixes,
            feeds=member.feeds,
            passphrase=passphrase,
        )
    return consortium


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


def init_templates(
    consortium_dir: Path, root: Path, members: Mapping[str, Member]
) -> dict[str, Path]:
    """One initialised data directory per member, on its first feed, for tests to copy."""
    return {
        org: init_node(consortium_dir, root / org, f"{org}/{member.feeds[0]}")
        for org, member in members.items()
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


@contextmanager
def node_factory(
    templates: Mapping[str, Path], tmp_path: Path, default_org: str
) -> Iterator[NodeFactory]:
    """Makes nodes from copies of ``templates`` under ``tmp_path``; closes their apps on exit."""
    apps: list[Flask] = []

    def make(
        org: str = default_org,
        *,
        replicator_factory: ReplicatorFactory | None = None,
        start_replicator: bool = False,
        name: str | None = None,
        **config: Any,
    ) -> Node:
        data = tmp_path / (name or org)
        shutil.copytree(templates[org], data)
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

    try:
        yield make
    finally:
        for app in apps:
            close_app(app)
