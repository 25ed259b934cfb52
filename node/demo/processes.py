"""The demo network as it runs for real: one `medtrace node run` process per organisation.

Each node gets a data directory made by ``node.init.init_node`` (what `medtrace node init`
does), bearer tokens for the demo's driver and scanner, and a peer token from every other node.
The pharmacy's second counter is an offline device: a store of its own in this process that
syncs with the pharmacy node over HTTP and hands its entries over as a bundle file.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from keys.consortium import Consortium
from ledger.kinds import Role
from node.bundle import export_bundle, import_bundle
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.demo.actors import InProcessNode
from node.demo.http_actor import HttpNode
from node.demo.network import BRANCH_FEED, MEMBERS, NODE_FEEDS, open_store
from node.http_peer import HttpPeer
from node.init import init_node
from node.process import NodeProcess
from node.service import NodeService
from node.store import Store
from node.tokens import Tokens

ROLES = {m.org: m.role for m in MEMBERS}
START_TIMEOUT_S = 90.0
#: Inside a container a node listens everywhere; compose decides what is published.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Layout:
    """Where each node listens and keeps its ledger."""

    hosts: dict[str, str]  # node name -> host other nodes reach it at
    ports: dict[str, int]
    listen: str = "127.0.0.1"
    databases: dict[str, str] = field(default_factory=dict)  # node name -> database URL

    def url(self, name: str) -> str:
        return f"http://{self.hosts[name]}:{self.ports[name]}"

    @classmethod
    def loopback(cls) -> Layout:
        return cls({n: "127.0.0.1" for n in NODE_FEEDS}, {n: free_port() for n in NODE_FEEDS})

    @classmethod
    def docker(cls, regulator_database: str) -> Layout:
        """Service names as hosts, one port inside each container, PostgreSQL for the regulator."""
        ports = dict.fromkeys(NODE_FEEDS, 8100)
        return cls(
            {n: n for n in NODE_FEEDS}, ports, ALL_INTERFACES, {"regulator": regulator_database}
        )


def init_network(
    out: Path, consortium: Consortium, passphrase: str, layout: Layout
) -> dict[str, dict[str, str]]:
    """Data directories for the five nodes, peered with each other; returns the demo's tokens."""
    secret = passphrase.encode()
    nodes = out / "nodes"
    for name, feed in NODE_FEEDS.items():
        config = NodeConfig(
            name=name,
            feed=feed,
            genesis_id=consortium.genesis_id,
            host=layout.listen,
            port=layout.ports[name],
            database=layout.databases.get(name, ""),
            replication_interval_s=1.0,
        )
        init_node(nodes / name, consortium, config, secret, keep_passphrase=True)
    tokens: dict[str, dict[str, str]] = {}
    peer_tokens: dict[tuple[str, str], str] = {}  # (issuer, holder) -> token
    for name in NODE_FEEDS:
        data = nodes / name
        with Store(load_config(data).database_url(data)) as store:
            issued = Tokens(store)
            tokens[name] = {
                "url": layout.url(name),
                "operator": issued.create("demo-driver", "operator")[0],
                "verifier": issued.create("demo-scanner", "verifier")[0],
            }
            for other in [*NODE_FEEDS, "pharmacy-branch"]:
                if other != name:
                    peer_tokens[(name, other)] = issued.create(f"peer@{other}", "peer")[0]
    for name in NODE_FEEDS:
        data = nodes / name
        peers = tuple(
            PeerConfig(other, layout.url(other), peer_tokens[(other, name)])
            for other in NODE_FEEDS
            if other != name
        )
        save_config(data, replace(load_config(data), peers=peers))
    tokens["pharmacy-branch"] = {"peer": peer_tokens[("pharmacy", "pharmacy-branch")]}
    path = out / "tokens.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle, indent=2)
    return tokens


@dataclass
class BranchDevice(InProcessNode):
    """The pharmacy's second counter: offline most of the time, synced by hand."""

    pharmacy_data: Path = Path()
    bundles: Path = Path()

    def sync(self) -> int:
        added = super().sync()  # pull from the pharmacy node over HTTP
        self.bundles.mkdir(parents=True, exist_ok=True)
        bundle = self.bundles / f"branch-{time.time_ns()}.json.gz"
        export_bundle(self.service.store, bundle)
        with Store(load_config(self.pharmacy_data).database_url(self.pharmacy_data)) as pharmacy:
            import_bundle(pharmacy, bundle)
        return added


@dataclass
class ProcessNetwork:
    out: Path
    nodes: dict[str, HttpNode]
    branch: BranchDevice
    processes: dict[str, NodeProcess] = field(default_factory=dict)

    @property
    def actors(self) -> dict[str, HttpNode | BranchDevice]:
        return {**self.nodes, "pharmacy-branch": self.branch}

    def start(self) -> None:
        for name, node in self.nodes.items():
            self.processes[name] = NodeProcess(name, self.out / "nodes" / name, node.url)
            self.processes[name].start()
        deadline = time.monotonic() + START_TIMEOUT_S
        for process in self.processes.values():
            process.wait_healthy(deadline)

    def failed(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.exited]

    def converge(self, rounds: int = 8) -> int:
        """Ask every node to pull now until a round adds nothing."""
        total = 0
        for _ in range(rounds):
            added = sum(node.sync() for node in self.nodes.values())
            total += added
            if added == 0:
                break
        return total

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.branch.service.store.close()


def build_process_network(out: Path, consortium: Consortium, passphrase: str) -> ProcessNetwork:
    tokens = init_network(out, consortium, passphrase, Layout.loopback())
    nodes = {
        name: HttpNode(
            name,
            ROLES[name],
            feed,
            tokens[name]["url"],
            tokens[name]["operator"],
            tokens[name]["verifier"],
        )
        for name, feed in NODE_FEEDS.items()
    }
    store = open_store(out / "devices" / "pharmacy-branch" / "node.db", consortium)
    service = NodeService(
        store, consortium.membership, BRANCH_FEED, consortium.feed_key(BRANCH_FEED, passphrase)
    )
    branch = BranchDevice(
        "pharmacy-branch",
        Role.PHARMACY,
        service,
        [HttpPeer("pharmacy", tokens["pharmacy"]["url"], tokens["pharmacy-branch"]["peer"])],
        pharmacy_data=out / "nodes" / "pharmacy",
        bundles=out / "devices" / "pharmacy-branch" / "bundles",
    )
    return ProcessNetwork(out, nodes, branch)
