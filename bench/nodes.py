"""Real ``medtrace node run`` processes for the HTTP benchmarks: data directories, start, stop.

The consortium is the demo's (``node.localnet.network.create_consortium``: five organisations, keys
encrypted with a fixed passphrase) created in the run's temporary directory. Each node's data
directory is made by ``node.datadir.init_node`` as ``medtrace node init`` does; tokens come from
``node.tokens.Tokens``; peers are written into node.json with ``PeerConfig``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from keys.consortium import Consortium
from keys.tls import NodeTlsFiles
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.localnet.network import NODE_FEEDS, create_consortium
from node.localnet.processes import free_port
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens

PASSPHRASE = "bench-passphrase"  # noqa: S105 - throwaway keys of a temporary run
START_TIMEOUT_S = 120.0
#: Verification queries are rate-limited per token; the benchmark must not meet the limit.
UNLIMITED_RATE = 1_000_000_000


@dataclass
class Node:
    name: str
    feed: str
    data: Path
    port: int
    operator: str = ""
    verifier: str = ""
    tls: bool = False
    runner: NodeProcess = field(init=False)

    def __post_init__(self) -> None:
        self.runner = NodeProcess(self.name, self.data, self.url)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path | None:
        """The consortium CA a client of a TLS node trusts (None for plain HTTP)."""
        return NodeTlsFiles.in_dir(self.data).ca if self.tls else None

    @property
    def database(self) -> str:
        return load_config(self.data).database_url(self.data)

    def start(self) -> None:
        self.runner.start()

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        self.runner.wait_healthy(time.monotonic() + timeout)

    def stop(self) -> None:
        self.runner.stop()

    def serve_tls(self, tls: bool) -> None:
        """HTTPS (``tls``) or plain HTTP from the next start; the node must have been made with
        ``tls=True``, which wrote its certificate."""
        self.runner.stop()
        save_config(self.data, replace(load_config(self.data), tls=tls))
        self.tls = tls
        self.runner = NodeProcess(self.name, self.data, self.url)


@dataclass
class Cluster:
    """Nodes of one consortium; stops every process it started on exit, whatever happened."""

    root: Path
    consortium: Consortium
    nodes: dict[str, Node] = field(default_factory=dict)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def add(
        self,
        label: str,
        org: str,
        *,
        workers: int | None = None,
        threads: int | None = None,
        tls: bool = False,
        database: str = "",
    ) -> Node:
        """A fresh data directory for a node signing ``org``'s feed (not started); ``tls``: it
        serves HTTPS with a certificate from the consortium's CA, as deployed (ADR 0011);
        ``database``: a SQLAlchemy URL (an empty PostgreSQL database) instead of DATA/node.db."""
        feed = NODE_FEEDS[org]
        data = self.root / label
        port = free_port()
        config = NodeConfig(
            name=label,
            feed=feed,
            genesis_id=self.consortium.genesis_id,
            port=port,
            replication_interval_s=1.0,
            verify_rate_per_minute=UNLIMITED_RATE,
            tls=tls,
            database=database,
        )
        if workers is not None:
            config = replace(config, workers=workers)
        if threads is not None:
            config = replace(config, threads=threads)
        init_node(
            data,
            self.consortium,
            config,
            PASSPHRASE.encode(),
            keep_passphrase=True,
            tls_hosts=["127.0.0.1", "localhost"],
        )
        node = Node(label, feed, data, port, tls=tls)
        with Store(node.database) as store:
            issued = Tokens(store)
            node.operator = issued.create("bench-operator", "operator")[0]
            node.verifier = issued.create("bench-scanner", "verifier")[0]
        self.nodes[label] = node
        return node

    def peer_all(self) -> None:
        """Every node a peer of every other, with a peer token issued by the other."""
        tokens: dict[tuple[str, str], str] = {}  # (issuer, holder) -> token
        for issuer, node in self.nodes.items():
            with Store(node.database) as store:
                issued = Tokens(store)
                for holder in self.nodes:
                    if holder != issuer:
                        tokens[(issuer, holder)] = issued.create(f"peer@{holder}", "peer")[0]
        for name, node in self.nodes.items():
            peers = tuple(
                PeerConfig(other, self.nodes[other].url, tokens[(other, name)])
                for other in self.nodes
                if other != name
            )
            save_config(node.data, replace(load_config(node.data), peers=peers))

    def start(self, *labels: str) -> None:
        chosen = [self.nodes[label] for label in labels] if labels else list(self.nodes.values())
        for node in chosen:
            node.start()
        for node in chosen:
            node.wait_healthy()


def consortium(root: Path) -> Consortium:
    return create_consortium(root / "consortium", PASSPHRASE)
