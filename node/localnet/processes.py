"""The demo network as it runs for real: one `medtrace node run` process per organisation.

Each node gets a data directory made by ``node.datadir.init_node`` (what `medtrace node init`
does), bearer tokens for the demo's driver and scanner, and a peer token from every other node.
The pharmacy's second counter is an offline device: a store of its own in this process that
syncs with the pharmacy node over HTTP and hands its entries over as a bundle file.

With TLS (the default, ADR 0011) every node serves HTTPS with a certificate from the
consortium's CA, peers pull from each other with their own certificates, and the demo's
clients trust that CA only (each node's DATA/tls-ca.crt).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from keys.consortium import Consortium
from keys.keystore import atomic_write, ensure_private_dir, read_passphrase_file
from keys.tls import NodeTlsFiles
from keys.tls_contexts import client_context
from ledger.kinds import Role
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.https import ca_session
from node.localnet.actors import InProcessNode
from node.localnet.http_actor import HttpNode
from node.localnet.network import BRANCH_FEED, MEMBERS, NODE_FEEDS, open_store
from node.process import NodeProcess
from node.replication.bundles import export_bundle, import_bundle
from node.replication.http_peer import HttpPeer
from node.replication.signed_requests import RequestSigner
from node.service import NodeService
from node.store import Store
from node.tokens import Tokens

ROLES = {m.org: m.role for m in MEMBERS}
#: holder -> the user name of the peer tokens it gets: its organisation (api/peer_auth.py)
_PEER_USERS = {**{n: f"peer@{n}" for n in NODE_FEEDS}, "pharmacy-branch": "peer@pharmacy.branch"}
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
    tls: bool = True

    def url(self, name: str) -> str:
        return f"{'https' if self.tls else 'http'}://{self.hosts[name]}:{self.ports[name]}"

    def tls_hosts(self, name: str) -> list[str]:
        """What a node's certificate covers: the name peers use, and this machine's loopback."""
        return list(dict.fromkeys([self.hosts[name], "localhost", "127.0.0.1"]))

    @classmethod
    def loopback(cls, *, tls: bool = True) -> Layout:
        return cls(
            {n: "127.0.0.1" for n in NODE_FEEDS}, {n: free_port() for n in NODE_FEEDS}, tls=tls
        )

    @classmethod
    def docker(cls, regulator_database: str, *, tls: bool = True) -> Layout:
        """Service names as hosts, one port inside each container, PostgreSQL for the regulator."""
        ports = dict.fromkeys(NODE_FEEDS, 8100)
        return cls(
            {n: n for n in NODE_FEEDS},
            ports,
            ALL_INTERFACES,
            {"regulator": regulator_database},
            tls=tls,
        )


#: Where the network keeps each node's passphrase: beside the nodes, never inside a node's
#: data directory, one secret per node (a stolen node directory opens no other node's keys).
SECRETS_DIR = "secrets"


def passphrase_file(out: Path, name: str) -> Path:
    """The file holding node ``name``'s passphrase (0600, in a 0700 directory)."""
    return out / SECRETS_DIR / f"{name}.passphrase"


def node_passphrase(out: Path, name: str) -> str:
    return read_passphrase_file(passphrase_file(out, name), private=True).decode()


def init_network(
    out: Path,
    consortium: Consortium,
    passphrase: str,
    layout: Layout,
    *,
    feeds: Mapping[str, str] = NODE_FEEDS,
    peer_users: Mapping[str, str] = _PEER_USERS,
) -> dict[str, dict[str, str]]:
    """Data directories for the nodes (``feeds``: name -> feed; the demo's five by default),
    peered with each other; returns the demo's tokens, also written to ``out/tokens.json``.

    ``passphrase`` opens the consortium's keys; each node's keys are sealed under a passphrase
    of its own, kept in ``out/secrets/<name>.passphrase`` (``passphrase_file``). ``peer_users``
    names who gets a peer token from each node (holder -> user name): every node, and the
    pharmacy's branch counter when it is named.
    """
    secret = passphrase.encode()
    nodes = out / "nodes"
    ensure_private_dir(out / SECRETS_DIR)
    for name, feed in feeds.items():
        config = NodeConfig(
            name=name,
            feed=feed,
            genesis_id=consortium.genesis_id,
            host=layout.listen,
            port=layout.ports[name],
            database=layout.databases.get(name, ""),
            replication_interval_s=1.0,
            tls=layout.tls,
        )
        own = secrets.token_urlsafe(24)
        atomic_write(passphrase_file(out, name), own.encode() + b"\n", mode=0o600, overwrite=True)
        init_node(
            nodes / name,
            consortium,
            config,
            secret,
            tls_hosts=layout.tls_hosts(name),
            node_passphrase=own.encode(),
        )
    tokens: dict[str, dict[str, str]] = {}
    peer_tokens: dict[tuple[str, str], str] = {}  # (issuer, holder) -> token
    for name in feeds:
        data = nodes / name
        with Store(load_config(data).database_url(data)) as store:
            issued = Tokens(store)
            tokens[name] = {
                "url": layout.url(name),
                "operator": issued.create("demo-driver", "operator")[0],
                "verifier": issued.create("demo-scanner", "verifier")[0],
            }
            if layout.tls:
                tokens[name]["ca"] = str(NodeTlsFiles.in_dir(data).ca)
            # The user names the organisation: over TLS a peer token counts only on requests
            # signed with a feed key of that organisation (api/peer_auth.py).
            for other, user in peer_users.items():
                if other != name:
                    peer_tokens[(name, other)] = issued.create(user, "peer")[0]
    for name in feeds:
        data = nodes / name
        peers = tuple(
            PeerConfig(other, layout.url(other), peer_tokens[(other, name)])
            for other in feeds
            if other != name
        )
        save_config(data, replace(load_config(data), peers=peers))
    if ("pharmacy", "pharmacy-branch") in peer_tokens:
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


def http_nodes(
    tokens: Mapping[str, Mapping[str, str]], feeds: Mapping[str, str], roles: Mapping[str, Role]
) -> dict[str, HttpNode]:
    """The demo's client of each node ``init_network`` made (its ``tokens`` entry)."""
    return {
        name: HttpNode(
            name,
            roles[name],
            feed,
            tokens[name]["url"],
            tokens[name]["operator"],
            tokens[name]["verifier"],
            # over TLS the demo's client trusts the consortium CA and nothing else
            session=ca_session(Path(tokens[name]["ca"]) if "ca" in tokens[name] else None),
        )
        for name, feed in feeds.items()
    }


def launch_nodes(out: Path, nodes: Mapping[str, HttpNode]) -> dict[str, NodeProcess]:
    """Start a node process for each of ``nodes`` from ``OUT/nodes/<name>``, with its own
    passphrase file (``wait_healthy`` until they answer)."""
    processes = {}
    for name, node in nodes.items():
        processes[name] = NodeProcess(
            name, out / "nodes" / name, node.url, passphrase_file=passphrase_file(out, name)
        )
        processes[name].start()
    return processes


def wait_healthy(processes: Mapping[str, NodeProcess]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for process in processes.values():
        process.wait_healthy(deadline)


def failed_nodes(processes: Mapping[str, NodeProcess]) -> list[str]:
    return [name for name, process in processes.items() if process.exited]


def converge_nodes(nodes: Mapping[str, HttpNode], rounds: int = 8) -> int:
    """Ask each of ``nodes`` to pull now until a round adds nothing; the entries added."""
    total = 0
    for _ in range(rounds):
        added = sum(node.sync() for node in nodes.values())
        total += added
        if added == 0:
            break
    return total


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
        self.processes.update(launch_nodes(self.out, self.nodes))
        wait_healthy(self.processes)

    def failed(self) -> list[str]:
        return failed_nodes(self.processes)

    def converge(self, rounds: int = 8) -> int:
        """Ask every node to pull now until a round adds nothing."""
        return converge_nodes(self.nodes, rounds)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.branch.service.store.close()


def build_process_network(
    out: Path,
    consortium: Consortium,
    passphrase: str,
    *,
    tls: bool = True,
    layout: Layout | None = None,
) -> ProcessNetwork:
    """The demo's five nodes (on ``layout``, default: free loopback ports) and the branch."""
    tokens = init_network(out, consortium, passphrase, layout or Layout.loopback(tls=tls))
    nodes = http_nodes(tokens, NODE_FEEDS, ROLES)
    pharmacy = NodeTlsFiles.in_dir(out / "nodes" / "pharmacy")
    # The branch counter is the pharmacy's device: it signs with its own feed's key (a feed
    # of the pharmacy) and shows the pharmacy's certificate.
    branch_tls = (
        client_context(pharmacy.ca, identity=pharmacy, passphrase=node_passphrase(out, "pharmacy"))
        if tls
        else None
    )
    store = open_store(out / "devices" / "pharmacy-branch" / "node.db", consortium)
    branch_key = consortium.feed_key(BRANCH_FEED, passphrase)
    service = NodeService(store, consortium.membership, BRANCH_FEED, branch_key)
    branch = BranchDevice(
        "pharmacy-branch",
        Role.PHARMACY,
        service,
        [
            HttpPeer(
                "pharmacy",
                tokens["pharmacy"]["url"],
                tokens["pharmacy-branch"]["peer"],
                tls=branch_tls,
                signer=RequestSigner(BRANCH_FEED, branch_key),
            )
        ],
        pharmacy_data=out / "nodes" / "pharmacy",
        bundles=out / "devices" / "pharmacy-branch" / "bundles",
    )
    return ProcessNetwork(out, nodes, branch)
