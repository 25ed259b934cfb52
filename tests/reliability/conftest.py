"""Fixtures for the crash tests: the demo consortium, and networks of node processes on fresh
data directories (SQLite files, or databases on the test PostgreSQL server)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from keys.consortium import Consortium
from node.localnet.network import create_consortium
from tests.node.postgres import postgres_server, unavailable_reason
from tests.reliability.network import PASSPHRASE, Network, NetworkFactory, build_network

#: Set to replay a failed run: the failure message names the seed.
SEED_ENV = "MEDTRACE_CRASH_SEED"


@pytest.fixture(scope="session")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    return create_consortium(tmp_path_factory.mktemp("crash-consortium") / "c", PASSPHRASE)


@pytest.fixture
def seed() -> int:
    given = os.environ.get(SEED_ENV)
    value = int(given) if given else random.SystemRandom().randrange(2**31)
    print(f"crash seed {value} (replay: {SEED_ENV}={value})")
    return value


@pytest.fixture
def make_network(consortium: Consortium, tmp_path: Path) -> Iterator[NetworkFactory]:
    """Build (not start) a network of ``names``; every started node is killed at teardown."""
    built: list[Network] = []

    def make(*names: str, databases: dict[str, str] | None = None) -> Network:
        network = build_network(tmp_path / f"net{len(built)}", consortium, names, databases)
        built.append(network)
        return network

    yield make
    for network in built:
        for node in network.nodes.values():
            if node.process.process is not None and node.process.process.poll() is None:
                node.kill()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_databases(postgres_server_url: str) -> Iterator[Callable[[str], str]]:
    """A fresh database on the test server per call, dropped at teardown."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def database(_label: str) -> str:
        name = f"crash_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return postgres_server_url.rsplit("/", 1)[0] + f"/{name}"

    yield database
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
