"""The demo consortium: five organisations, their keys, and their nodes in this process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keys.consortium import Consortium
from ledger.kinds import Role
from ledger.membership import Membership
from node.demo.actors import InProcessNode
from node.demo.scenario import COMPANY_PREFIX
from node.replication import LocalPeer
from node.service import NodeService
from node.store import Store


def gln(location: int, prefix: str = COMPANY_PREFIX) -> str:
    body = prefix + f"{location:0{12 - len(prefix)}d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Member:
    org: str
    name: str
    role: Role
    sites: tuple[str, ...]
    prefixes: tuple[str, ...] = ()


MEMBERS = (
    Member(
        "manufacturer",
        "Acme Pharma Manufacturing",
        Role.MANUFACTURER,
        ("line-1",),
        (COMPANY_PREFIX,),
    ),
    Member("distributor", "Northwind Wholesale", Role.DISTRIBUTOR, ("warehouse",)),
    Member("customs", "Border Post 7", Role.CUSTOMS, ("post-7",)),
    Member("pharmacy", "Market Square Pharmacy", Role.PHARMACY, ("counter", "branch")),
    Member("regulator", "National Medicines Agency", Role.REGULATOR, ("office",)),
)
#: node name -> the feed it signs with; the pharmacy's branch counter is a device, not a node.
NODE_FEEDS = {m.org: f"{m.org}/{m.sites[0]}" for m in MEMBERS}
BRANCH_FEED = "pharmacy/branch"


def create_consortium(directory: Path, passphrase: str) -> Consortium:
    consortium = Consortium.create(directory, "medtrace-demo", passphrase=passphrase)
    for index, member in enumerate(MEMBERS, 1):
        consortium.add_organisation(
            member.org,
            name=member.name,
            role=member.role,
            gln=gln(index),
            company_prefixes=member.prefixes,
            feeds=member.sites,
            passphrase=passphrase,
        )
    return consortium


def open_store(path: Path, consortium: Consortium) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    for version in consortium.versions():
        store.save_membership(version)
    store.set_meta("genesis_id", consortium.genesis_id)
    return store


@dataclass
class InProcessNetwork:
    nodes: dict[str, InProcessNode]
    membership: Membership

    def converge(self, rounds: int = 6) -> int:
        """Pull between every pair until a round adds nothing; the entries added in all."""
        total = 0
        for _ in range(rounds):
            added = sum(
                node.sync() for name, node in self.nodes.items() if name != "pharmacy-branch"
            )
            total += added
            if added == 0:
                break
        return total

    def close(self) -> None:
        for node in self.nodes.values():
            node.service.store.close()


def build_in_process(out: Path, consortium: Consortium, passphrase: str) -> InProcessNetwork:
    membership = consortium.membership
    roles = {m.org: m.role for m in MEMBERS}
    nodes: dict[str, InProcessNode] = {}
    for name, feed in {**NODE_FEEDS, "pharmacy-branch": BRANCH_FEED}.items():
        folder = "devices" if name == "pharmacy-branch" else "nodes"
        store = open_store(out / folder / name / "node.db", consortium)
        service = NodeService(store, membership, feed, consortium.feed_key(feed, passphrase))
        nodes[name] = InProcessNode(name, roles[feed.split("/")[0]], service)
    for name, node in nodes.items():
        if name == "pharmacy-branch":
            node.peers = [LocalPeer("pharmacy", nodes["pharmacy"].service.store)]
        else:
            node.peers = [
                LocalPeer(other, n.service.store) for other, n in nodes.items() if other != name
            ]
    return InProcessNetwork(nodes, membership)
