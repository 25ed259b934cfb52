"""What the demo scenario needs from a node, whatever runs it (in this process or over HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ledger.action import Action
from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.kinds import Role
from ledger.membership import Membership
from node.replication.pull import Peer, pull_many
from node.service import Commissioned, NodeService


class Actor(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def feed(self) -> str: ...

    def submit(self, action: Action) -> SignedEntry: ...
    def commission(self, gtin: str, lot: str, expiry: str, count: int) -> Commissioned: ...
    def provenance(self, uri: str) -> list[SignedEntry]: ...
    def alerts(self) -> list[Alert]: ...
    def digest(self) -> str: ...
    def sync(self) -> int: ...


@dataclass
class InProcessNode:
    """A node as an object: its service, its store, and the stores it pulls from."""

    name: str
    role: Role
    service: NodeService
    peers: list[Peer] = field(default_factory=list)

    @property
    def feed(self) -> str:
        return self.service.feed

    @property
    def membership(self) -> Membership:
        return self.service.membership

    def submit(self, action: Action) -> SignedEntry:
        return self.service.submit(action)

    def commission(self, gtin: str, lot: str, expiry: str, count: int) -> Commissioned:
        return self.service.commission(gtin, lot, expiry, count=count)

    def provenance(self, uri: str) -> list[SignedEntry]:
        return self.service.store.provenance(uri)

    def alerts(self) -> list[Alert]:
        return self.service.store.alerts()

    def digest(self) -> str:
        return self.service.store.digest()

    def sync(self) -> int:
        return pull_many(self.peers, self.service.store, self.membership).added
