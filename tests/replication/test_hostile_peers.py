"""Real node processes against a hostile peer: one that answers a byte a second, and a feed owner
that signed two histories. Each node is ``medtrace node run`` on a data directory made by
``node.datadir.init_node`` (one worker each, to spare the machine), peered as each test says."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from keys.consortium import Consortium
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind, Role
from node.config import NodeConfig, PeerConfig, load_config, save_config
from node.datadir import init_node
from node.localnet.network import gln
from node.store import Store
from node.tokens import Tokens
from tests.nodes_setup import Member, make_consortium
from tests.replication.support import Trickler
from tests.replication.test_network import GTIN, PASSPHRASE, Node, free_port

#: org -> (role, sites, company prefixes); acme/line-2 has no node: it is the feed that forks.
ORGS: dict[str, tuple[Role, tuple[str, ...], tuple[str, ...]]] = {
    "acme": (Role.MANUFACTURER, ("line-1", "line-2"), ("9506000",)),
    "dist": (Role.DISTRIBUTOR, ("wh",), ()),
    "pharm": (Role.PHARMACY, ("counter",), ()),
}
NODES = {"acme": "acme/line-1", "dist": "dist/wh", "pharm": "pharm/counter"}
FORKED_FEED = "acme/line-2"


@dataclass
class Template:
    root: Path
    consortium: Consortium
    operators: dict[str, str]
    peer_tokens: dict[tuple[str, str], str]  # (issuer, holder) -> a peer token


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("hostile-template")
    members = {
        org: Member(role, sites, prefixes, gln(index))
        for index, (org, (role, sites, prefixes)) in enumerate(ORGS.items(), 1)
    }
    consortium = make_consortium(root / "consortium", "hostile-test", members, PASSPHRASE)
    operators: dict[str, str] = {}
    peer_tokens: dict[tuple[str, str], str] = {}
    for name, feed in NODES.items():
        config = NodeConfig(name=name, feed=feed, genesis_id=consortium.genesis_id, workers=1)
        init_node(root / name, consortium, config, PASSPHRASE.encode(), keep_passphrase=True)
        with Store(config.database_url(root / name)) as store:
            tokens = Tokens(store)
            operators[name] = tokens.create("ops", "operator")[0]
            for holder in NODES:
                if holder != name:
                    peer_tokens[(name, holder)] = tokens.create(holder, "peer")[0]
    return Template(root, consortium, operators, peer_tokens)


@dataclass
class Line:
    """Node processes on fresh ports, each pulling from the peers it was made with."""

    template: Template
    tmp_path: Path
    nodes: dict[str, Node]

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]


@pytest.fixture
def nodes(template: Template, tmp_path: Path) -> Iterator[Any]:
    made: list[Node] = []

    def make(pulls: dict[str, list[tuple[str, str | None]]], interval_s: float = 1.0) -> Line:
        """``pulls``: node -> its peers in order, each (name, URL), the URL ``None`` for one of
        these nodes (its own port)."""
        ports = {name: free_port() for name in pulls}
        line = Line(template, tmp_path, {})
        for name, peers in pulls.items():
            data = tmp_path / name
            shutil.copytree(template.root / name, data)
            configs = tuple(
                PeerConfig(
                    peer,
                    url or f"http://127.0.0.1:{ports[peer]}",
                    template.peer_tokens.get((peer, name), "mt_not-a-token-of-anyone"),
                )
                for peer, url in peers
            )
            save_config(
                data,
                replace(
                    load_config(data),
                    port=ports[name],
                    peers=configs,
                    replication_interval_s=interval_s,
                ),
            )
            node = Node(name, data, ports[name], template.operators[name], tmp_path / f"{name}.log")
            line.nodes[name] = node
            made.append(node)
        return line

    yield make
    for node in made:
        node.kill_all()


def start(line: Line) -> None:
    for node in line.nodes.values():
        node.start()
    for node in line.nodes.values():
        node.wait_ready(timeout=60)


def wait_until(what: str, check: Any, deadline_s: float) -> float:
    """Poll ``check()`` until true; the seconds it took (fails after ``deadline_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {deadline_s} s")


# -- a peer that trickles ------------------------------------------------------------------------


def test_trickling_peer_blocks_replication(nodes: Any) -> None:
    """The distributor's node pulls from a peer that answers one byte a second (listed first)
    and from the manufacturer's honest node. A commission at the manufacturer reaches the
    distributor within 2 s: the trickling peer delays only the pulls from itself."""
    with Trickler(every_s=1.0) as trickler:
        line = nodes(
            {
                "dist": [("trickler", trickler.url), ("acme", None)],
                "acme": [("dist", None)],  # so the manufacturer hints the distributor
            }
        )
        start(line)
        wait_until("the distributor asks the trickling peer", lambda: trickler.connections, 10)
        time.sleep(0.5)  # its pull from the trickling peer is under way
        answer = line["acme"].call(
            "POST",
            "/api/v1/commission",
            {"gtin": GTIN, "lot": "TRICKLE", "expiry": "2031-12-31", "count": 3},
        )
        head = answer["entries"][-1]

        def arrived() -> bool:
            held = line["dist"].heads().get(NODES["acme"], {})
            return bool(held.get("head") == head)

        took = wait_until("the commission reaches the distributor", arrived, 2.0)
        assert took < 2.0
        assert line["dist"].health()["digest"] == line["acme"].health()["digest"]


# -- fork evidence -------------------------------------------------------------------------------


def _equivocate(consortium: Consortium) -> tuple[SignedEntry, SignedEntry, SignedEntry]:
    """acme/line-2 commissions lot F0, then signs two different commissions at #1."""
    key = consortium.feed_key(FORKED_FEED, PASSPHRASE.encode())

    def commission(writer: FeedWriter, lot: str) -> SignedEntry:
        body = {
            "gtin": GTIN,
            "ilmd": {"lotNumber": lot, "itemExpirationDate": "2031-12-31"},
            "serials": [f"{lot}S1", f"{lot}S2"],
        }
        return writer.append(Kind.COMMISSION, subjects=[lot_uri(GTIN, lot)], body=body)

    writer = FeedWriter(FORKED_FEED, key)
    first = commission(writer, "F0")
    base = writer.head
    one = commission(writer, "F1")
    writer.head = base
    two = commission(writer, "F2")
    return first, one, two


def test_fork_alert_reaches_every_node(nodes: Any, template: Template) -> None:
    """Three nodes in a line: the distributor pulls from the manufacturer only, the pharmacy
    from the distributor only. The manufacturer's node saw acme/line-2 sign two entries at #1;
    the pharmacy's node, which never talks to it, ends up with the same fork alert and the feed
    frozen there, and all three report one digest."""
    line = nodes({"acme": [], "dist": [("acme", None)], "pharm": [("dist", None)]}, 0.5)
    first, one, two = _equivocate(template.consortium)
    data = line["acme"].data
    config = load_config(data)
    with Store(config.database_url(data)) as store:
        membership = store.membership_chain(config.genesis_id).current
        assert not store.ingest([first, one], membership).rejected
        assert len(store.ingest([two], membership).forks) == 1
    start(line)

    def alerts(name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = line[name].call("GET", "/api/v1/alerts?code=fork")["alerts"]
        return found

    def frozen(name: str) -> bool:
        return bool(line[name].heads().get(FORKED_FEED, {}).get("frozen_at") == 1)

    wait_until("the pharmacy's node learns the fork", lambda: frozen("pharm"), 20)
    wait_until("the fork alert reaches the pharmacy's node", lambda: alerts("pharm"), 5)
    expected = {(a["id"], tuple(sorted(a["evidence"]))) for a in alerts("acme")}
    assert expected == {(alerts("pharm")[0]["id"], tuple(sorted((one.id, two.id))))}
    for name in ("dist", "pharm"):
        assert frozen(name)
        assert {(a["id"], tuple(sorted(a["evidence"]))) for a in alerts(name)} == expected
    digests = {name: line[name].health()["digest"] for name in NODES}
    assert len(set(digests.values())) == 1, digests
