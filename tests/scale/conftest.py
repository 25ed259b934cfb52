"""Two servers of one node on one real PostgreSQL database (issue 19, ADR 0021): two data
directories, the second a copy of the first (sealed feed key, certificates and node.json) with
its own port, both naming the same database; each run as ``medtrace node run`` (granian, two
workers), so four processes serve the node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from keys.consortium import Consortium
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.localnet.network import NODE_FEEDS, create_consortium
from node.localnet.processes import free_port
from node.process import LOG_FILE, NodeProcess
from node.store import Store
from tests.node.postgres import postgres_server, unavailable_reason

PASSPHRASE = "scale-test passphrase"
START_TIMEOUT_S = 90.0


@dataclass
class Server:
    """One ``medtrace node run`` of the node."""

    process: NodeProcess

    @property
    def url(self) -> str:
        return self.process.url

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of ``event`` ``name`` this server wrote so far."""
        found = []
        for line in (self.process.data / LOG_FILE).read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("event") == name:
                found.append(record)
        return found

    def kill(self) -> None:
        """SIGKILL to the server's process group: master and workers at once."""
        popen, self.process.process = self.process.process, None
        assert popen is not None
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


@dataclass
class TwoServers:
    database: str
    data: Path
    servers: tuple[Server, Server]

    def store(self) -> Store:
        return Store(self.database)

    def get(self, server: Server, path: str, token: str) -> requests.Response:
        return requests.get(
            server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


TwoServersFactory = Callable[..., TwoServers]


@pytest.fixture(scope="session")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    return create_consortium(tmp_path_factory.mktemp("scale-consortium") / "c", PASSPHRASE)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture
def new_database(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """Fresh databases on the test server, dropped at teardown."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        name = f"scale_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return postgres_server_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def two_servers(
    consortium: Consortium, database: str, tmp_path: Path
) -> Iterator[TwoServersFactory]:
    """Make and start two servers of one node (settings: node.json fields); both are killed
    at teardown."""
    started: list[Server] = []

    def make(of: Consortium | None = None, **settings: Any) -> TwoServers:
        """``of``: the consortium (default: the session's, which no test may change)."""
        members = of or consortium
        first = tmp_path / "server-1"
        config = NodeConfig(
            name="manufacturer",
            feed=NODE_FEEDS["manufacturer"],
            genesis_id=members.genesis_id,
            port=free_port(),
            database=database,
            replication_interval_s=0.5,
        )
        init_node(first, members, config, PASSPHRASE.encode(), keep_passphrase=True)
        # A peer nobody answers at: the node then has a replicator, which must run once.
        nobody = PeerConfig("distributor", f"http://127.0.0.1:{free_port()}", "mt_" + "x" * 43)
        save_config(first, replace(load_config(first), peers=(nobody,), **settings))
        second = tmp_path / "server-2"
        shutil.copytree(first, second)
        save_config(second, replace(load_config(second), port=free_port()))
        servers = []
        for data in (first, second):
            port = load_config(data).port
            server = Server(NodeProcess(data.name, data, f"http://127.0.0.1:{port}"))
            server.process.start()
            started.append(server)
            servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT_S
        for server in servers:
            server.process.wait_healthy(deadline)
        return TwoServers(database, first, (servers[0], servers[1]))

    yield make
    for server in started:
        if server.process.process is not None and server.process.process.poll() is None:
            server.kill()
