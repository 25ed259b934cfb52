"""A network that can be split: real node processes whose every peer link is a ``FaultyLink``.

Two organisations have a site on each side of the split, so that both sides can sign
conflicting facts about the same pack, each valid where it is written:

* ``acme`` (manufacturer): ``acme/line-1`` on node ``a1``, ``acme/line-2`` on node ``a2``;
  custody belongs to the organisation, so either line may ship what acme holds;
* ``pharm`` (pharmacy): ``pharm/counter-a`` on ``p1``, ``pharm/counter-b`` on ``p2``;
* ``customs``: ``customs/post-7`` on ``border``, a post with no link at all that syncs only
  by bundle file (``medtrace sync``);
* ``dist`` (distributor): a destination only, with no node.

The nodes are ``tests.replication.test_network.Node`` processes (one worker each, to
spare the machine); what is written is recorded so a test can check that every acknowledged
entry is present everywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from ledger.identifiers import pack_uri
from ledger.kinds import Role
from medtrace.cli.main import cli
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.localnet.network import gln
from node.store import Store
from node.tokens import Tokens
from tests.nodes_setup import Member, make_consortium
from tests.reliability.faulty_link import CUT, UP, FaultyLink, Mode
from tests.replication.test_network import GTIN, PASSPHRASE, Network, Node, free_port

ORGS: dict[str, tuple[Role, tuple[str, ...], tuple[str, ...]]] = {
    "acme": (Role.MANUFACTURER, ("line-1", "line-2"), ("9506000",)),
    "pharm": (Role.PHARMACY, ("counter-a", "counter-b"), ()),
    "dist": (Role.DISTRIBUTOR, ("wh",), ()),
    "customs": (Role.CUSTOMS, ("post-7",), ()),
}
NODES = {
    "a1": "acme/line-1",
    "p1": "pharm/counter-a",
    "a2": "acme/line-2",
    "p2": "pharm/counter-b",
    "border": "customs/post-7",
}
LINKED = ("a1", "p1", "a2", "p2")
INTERVAL_S = 0.5
#: Convergence over lossy links takes a few rounds more than over clean ones.
DEADLINE_S = 60.0


def uri(serial: str) -> str:
    return pack_uri(GTIN, serial)


@dataclass
class Template:
    root: Path
    operators: dict[str, str]
    peer_tokens: dict[tuple[str, str], str]  # (issuer, holder) -> token


def make_template(root: Path) -> Template:
    """The consortium and one data directory per node, with tokens; copied by each test."""
    members = {
        org: Member(role, sites, prefixes, gln(index))
        for index, (org, (role, sites, prefixes)) in enumerate(ORGS.items(), 1)
    }
    consortium = make_consortium(root / "consortium", "partition-test", members, PASSPHRASE)
    secret = PASSPHRASE.encode()
    operators: dict[str, str] = {}
    peer_tokens: dict[tuple[str, str], str] = {}
    for name, feed in NODES.items():
        config = NodeConfig(
            name=name,
            feed=feed,
            genesis_id=consortium.genesis_id,
            replication_interval_s=INTERVAL_S,
            workers=1,
        )
        init_node(root / name, consortium, config, secret, keep_passphrase=True)
        with Store(config.database_url(root / name)) as store:
            tokens = Tokens(store)
            operators[name] = tokens.create("ops", "operator")[0]
            if name in LINKED:
                for holder in LINKED:
                    if holder != name:
                        peer_tokens[(name, holder)] = tokens.create(f"peer-{holder}", "peer")[0]
    return Template(root, operators, peer_tokens)


@dataclass
class Written:
    """An entry a node acknowledged (2xx): it must be present at every node in the end."""

    node: str
    feed: str
    entry_id: str


@dataclass
class SplitNetwork:
    net: Network
    links: dict[tuple[str, str], FaultyLink]  # (holder, peer): the holder pulls through it
    written: list[Written] = field(default_factory=list)
    refused: int = 0  # writes a node refused under its local rules (4xx)
    healed: int = 0

    def __getitem__(self, name: str) -> Node:
        return self.net[name]

    # -- the split -------------------------------------------------------------------------
    def split(self, *groups: Sequence[str], inside: Mode = UP) -> None:
        """Cut every link between ``groups``; links inside a group run in ``inside`` mode."""
        side = {name: i for i, group in enumerate(groups) for name in group}
        for (holder, peer), link in self.links.items():
            link.set(inside if side[holder] == side[peer] else CUT)

    def heal(self, mode: Mode = UP) -> None:
        for link in self.links.values():
            link.set(mode)
        self.healed += 1

    def converged(self, names: Sequence[str], deadline: float = DEADLINE_S) -> str:
        return self.net.converged(list(names), deadline=deadline)

    # -- writes ----------------------------------------------------------------------------
    def _post(self, name: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer of a write, or ``None`` if the node refused it under its rules."""
        node = self.net[name]
        response = node.session.post(
            node.url + path,
            json=body,
            headers={"Authorization": f"Bearer {node.operator}"},
            timeout=30,
        )
        if response.status_code in (403, 409, 422):
            assert response.headers["Content-Type"].startswith("application/problem+json")
            self.refused += 1
            return None
        assert response.status_code in (200, 201), (name, path, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def commission(self, name: str, lot: str, count: int) -> list[str]:
        answer = self._post(
            name,
            "/api/v1/commission",
            {"gtin": GTIN, "lot": lot, "expiry": "2031-12-31", "count": count},
        )
        assert answer is not None
        for entry_id in answer["entries"]:
            self.written.append(Written(name, NODES[name], entry_id))
        serials: list[str] = answer["serials"]
        return serials

    def act(
        self, name: str, kind: str, serials: Iterable[str], **extra: Any
    ) -> dict[str, Any] | None:
        answer = self._post(
            name,
            f"/api/v1/actions/{kind}",
            {"subjects": [uri(s) for s in serials], **extra},
        )
        if answer is None:
            return None
        entry: dict[str, Any] = answer["entry"]
        self.written.append(Written(name, NODES[name], entry["id"]))
        return entry

    # -- what every node holds --------------------------------------------------------------
    def entry_ids(self, name: str, only: str | None = None) -> set[str]:
        """The ids of every entry node ``name`` holds (of feed ``only``)."""
        node = self.net[name]
        ids: set[str] = set()
        for feed, head in node.heads().items():
            if only is not None and feed != only:
                continue
            for start in range(0, head["size"], 1000):
                page = node.call("GET", f"/api/v1/feeds/{feed}/entries?from={start}&limit=1000")
                ids |= {e["id"] for e in page["entries"]}
        return ids

    def alerts(self, name: str, **query: str) -> list[dict[str, Any]]:
        params = urlencode({"limit": 5000, **query})
        answer = self.net[name].call("GET", f"/api/v1/alerts?{params}")
        alerts: list[dict[str, Any]] = answer["alerts"]
        return alerts

    def close(self) -> None:
        for node in self.net.nodes.values():
            node.kill_all()
        for link in self.links.values():
            link.close()


def build(template: Template, tmp_path: Path, *, seed: int = 0) -> SplitNetwork:
    """Copies of the template's data directories on fresh ports, every peer link a proxy."""
    ports = {name: free_port() for name in NODES}
    counter = itertools.count(seed)
    links = {
        (holder, peer): FaultyLink(ports[peer], seed=next(counter))
        for holder in LINKED
        for peer in LINKED
        if holder != peer
    }
    nodes: dict[str, Node] = {}
    for name in NODES:
        data = tmp_path / name
        shutil.copytree(template.root / name, data)
        peers = tuple(
            PeerConfig(
                peer,
                f"http://127.0.0.1:{links[(name, peer)].port}",
                template.peer_tokens[(peer, name)],
            )
            for peer in LINKED
            if name in LINKED and peer != name
        )
        save_config(data, dataclasses.replace(load_config(data), port=ports[name], peers=peers))
        nodes[name] = Node(
            name, data, ports[name], template.operators[name], tmp_path / f"{name}.log"
        )
    return SplitNetwork(Network(nodes), links)


def start(network: SplitNetwork) -> None:
    for node in network.net.nodes.values():
        node.start()
    for node in network.net.nodes.values():
        node.wait_ready(timeout=60)


# -- bundles: the border post's only way in and out ---------------------------------------------


def sync(*args: str) -> dict[str, Any]:
    """``medtrace sync … --json``, run in this process as the CLI would (a process start per
    command would cost more than the sync)."""
    result = CliRunner().invoke(
        cli, ["sync", *args, "--json"], env={"MEDTRACE_PASSPHRASE": PASSPHRASE}
    )
    assert result.exit_code == 0, (args, result.output)
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def exchange_bundles(network: SplitNetwork, post: str, hub: str, work: Path) -> None:
    """One round trip by file: the post's heads go to the hub, the hub's bundle of what the
    post lacks comes back and is imported; then the post's own entries go the other way."""
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.monotonic_ns()
    post_data, hub_data = network[post].data, network[hub].data
    post_heads, hub_heads = work / f"{post}-heads-{stamp}.json", work / f"{hub}-heads-{stamp}.json"
    sync("heads", "--data", str(post_data), "--out", str(post_heads))
    inbound = work / f"to-{post}-{stamp}.mtb"
    sync("export", "--data", str(hub_data), "--out", str(inbound), "--since", str(post_heads))
    assert sync("import", "--data", str(post_data), str(inbound))["ok"] is True
    sync("heads", "--data", str(hub_data), "--out", str(hub_heads))
    outbound = work / f"from-{post}-{stamp}.mtb"
    sync("export", "--data", str(post_data), "--out", str(outbound), "--since", str(hub_heads))
    assert sync("import", "--data", str(hub_data), str(outbound))["ok"] is True


def wait_for(network: SplitNetwork, name: str, feed: str, entry_id: str) -> None:
    """Until node ``name`` holds entry ``entry_id`` of ``feed`` (replication brought it)."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if entry_id in network.entry_ids(name, feed):
            return
        time.sleep(0.1)
    pytest.fail(f"entry {entry_id[:16]}… of {feed} never reached {name}")
