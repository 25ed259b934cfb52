"""What the demo scenario needs from a node, whatever runs it (in this process or over HTTP)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.kinds import Kind, Role
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

    def submit(
        self,
        kind: Kind,
        *,
        subjects: Sequence[str] = (),
        refs: Sequence[str] = (),
        body: Mapping[str, Any] | None = None,
    ) -> SignedEntry: ...
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

    def submit(
        self,
        kind: Kind,
        *,
        subjects: Sequence[str] = (),
        refs: Sequence[str] = (),
        body: Mapping[str, Any] | None = None,
    ) -> SignedEntry:
        return self.service.submit(kind, subjects=subjects, refs=refs, body=body)

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
