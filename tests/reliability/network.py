"""Real node processes for the crash tests: data directories made by ``node.datadir.init_node``,
peered with each other, each run as ``medtrace node run`` (granian, its default two workers)
and killed with SIGKILL to its whole process group, master and workers at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests

from keys.consortium import Consortium
from ledger.membership import Membership
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.localnet.network import NODE_FEEDS
from node.localnet.processes import free_port
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens

PASSPHRASE = "crash-harness passphrase"
START_TIMEOUT_S = 90.0
#: How often a node pulls from its peers: short, so kills land while it ingests.
REPLICATION_INTERVAL_S = 0.5


@dataclass
class CrashNode:
    name: str
    data: Path
    url: str
    operator: str
    process: NodeProcess
    #: Set while the node answers; clients wait on it instead of hammering a dead port.
    up: threading.Event = field(default_factory=threading.Event)
    #: Incremented just before each kill: a request begun in an older epoch that then failed
    #: to get an answer was cut by the kill.
    epoch: int = 0
    _sessions: threading.local = field(default_factory=threading.local)

    def start(self) -> float:
        """Start on the same data directory; seconds until ``/healthz`` answered."""
        started = time.monotonic()
        self.process.start()
        self.process.wait_healthy(started + START_TIMEOUT_S)
        self.up.set()
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the process group, then wait until no process of the group runs."""
        self.up.clear()
        self.epoch += 1
        popen, self.process.process = self.process.process, None
        assert popen is not None, f"node {self.name} is not running"
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        _wait_group_gone(popen.pid)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as an operator stops a node."""
        self.up.clear()
        self.process.stop()

    def store(self) -> Store:
        return Store(load_config(self.data).database_url(self.data))

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        """One request with the operator token; raises on a non-2xx answer."""
        response = self.request(method, path, body, timeout)
        assert response.ok, (self.name, path, response.status_code, response.text[:500])
        return response.json()

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 60.0
    ) -> requests.Response:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.operator}"},
            timeout=timeout,
        )

    def heads(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/api/v1/feeds", timeout=30)
        return result


def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Until no live (non-zombie) process is left in group ``pgid``: a worker that outlived
    its master could still be writing while the data directory is checked."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid, state in _group_members(pgid) if state != "Z"]
        if not alive:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {alive} of group {pgid} survived SIGKILL")
        time.sleep(0.02)


def _group_members(pgid: int) -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            yield int(entry.name), fields[0]


@dataclass
class Network:
    consortium: Consortium
    nodes: dict[str, CrashNode]

    @property
    def membership(self) -> Membership:
        return self.consortium.membership

    def start(self) -> None:
        for node in self.nodes.values():
            node.process.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        for node in self.nodes.values():
            node.process.wait_healthy(deadline)
            node.up.set()

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.process is not None:
                node.stop()

    def converge(self, timeout: float = 90.0) -> str:
        """Ask every node to pull until all answer the same digest twice in a row."""
        deadline = time.monotonic() + timeout
        agreed: str | None = None
        while True:
            for node in self.nodes.values():
                node.call("POST", "/api/v1/replication/sync")
            digests = {name: str(node.heads()["digest"]) for name, node in self.nodes.items()}
            values = set(digests.values())
            if len(values) == 1:
                (digest,) = values
                if digest == agreed:
                    return digest
                agreed = digest
            else:
                agreed = None
            if time.monotonic() > deadline:
                raise AssertionError(f"expected the nodes to converge, found digests {digests}")
            time.sleep(0.2)


NetworkFactory = Callable[..., Network]


def build_network(
    root: Path,
    consortium: Consortium,
    names: tuple[str, ...],
    databases: dict[str, str] | None = None,
) -> Network:
    """Data directories for ``names`` (demo organisations), every node a peer of every other."""
    secret = PASSPHRASE.encode()
    ports = {name: free_port() for name in names}
    url = {name: f"http://127.0.0.1:{ports[name]}" for name in names}
    operators: dict[str, str] = {}
    peer_tokens: dict[tuple[str, str], str] = {}  # (issuer, holder) -> token
    for name in names:
        data = root / name
        config = NodeConfig(
            name=name,
            feed=NODE_FEEDS[name],
            genesis_id=consortium.genesis_id,
            port=ports[name],
            database=(databases or {}).get(name, ""),
            replication_interval_s=REPLICATION_INTERVAL_S,
        )
        init_node(data, consortium, config, secret, keep_passphrase=True)
        with _store(data) as store:
            tokens = Tokens(store)
            operators[name] = tokens.create("crash-driver", "operator")[0]
            for other in names:
                if other != name:
                    peer_tokens[(name, other)] = tokens.create(f"peer@{other}", "peer")[0]
    for name in names:
        data = root / name
        peers = tuple(
            PeerConfig(other, url[other], peer_tokens[(other, name)])
            for other in names
            if other != name
        )
        save_config(data, replace(load_config(data), peers=peers))
    return Network(
        consortium,
        {
            name: CrashNode(name, root / name, url[name], operators[name], _process(name, root))
            for name in names
        },
    )


def _process(name: str, root: Path) -> NodeProcess:
    config = load_config(root / name)
    return NodeProcess(name, root / name, f"http://127.0.0.1:{config.port}")


@contextmanager
def _store(data: Path) -> Iterator[Store]:
    with Store(load_config(data).database_url(data)) as store:
        yield store
