"""Pack and container state, and the view the lifecycle reads and writes it through.

The lifecycle is pure; where the state lives is the caller's choice. ``MemoryState`` keeps it in
dictionaries (tests, the scanner's own re-verification); the node backs the same protocol with
its database, loading only the rows an entry touches.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.alerts import Alert
from ledger.status import Status

OrderKey = tuple[str, str, int]


@dataclass(slots=True)
class PackState:
    uri: str
    gtin: str
    serial: str
    lot: str
    expiry: str  # ISO date, the last day the pack may be supplied
    commissioned: str  # entry id
    custodian: str  # feed id holding the pack
    status: Status = Status.ACTIVE
    destination: str | None = None  # organisation id while in transit
    container: str | None = None
    prior: Status | None = None  # what an undo, unlock or customs release returns to
    changed_by: str | None = None  # entry that set the current status
    changed_feed: str | None = None
    changed_ts: str | None = None
    last: OrderKey | None = None  # order key of the last entry applied


@dataclass(slots=True)
class ContainerState:
    uri: str
    custodian: str
    status: Status = Status.ACTIVE
    destination: str | None = None
    parent: str | None = None
    children: set[str] = field(default_factory=set)
    prior: Status | None = None
    last: OrderKey | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """A signed record that is no pack's step (ADR 0020): a product's master data (``kind``
    ``product``, ``key`` its GTIN-14) or a declaration (``declare``, ``key`` ``org/reference``).
    A record with a later order key of the same kind and key supersedes it."""

    kind: str
    key: str
    entry_id: str
    feed: str
    order: OrderKey
    data: Mapping[str, Any]
    about: tuple[str, ...] = ()


class StateView(Protocol):
    def get_packs(self, uris: Collection[str]) -> dict[str, PackState]: ...
    def put_packs(self, states: Iterable[PackState]) -> None: ...
    def get_container(self, uri: str) -> ContainerState | None: ...
    def put_container(self, state: ContainerState) -> None: ...
    def recall_of(self, gtin: str, lot: str) -> str | None: ...
    def put_recall(self, gtin: str, lot: str, entry_id: str) -> None: ...
    def withdrawal_of(self, gtin: str) -> str | None: ...
    def put_withdrawal(self, gtin: str, entry_id: str) -> None: ...
    def put_record(self, record: Record) -> None: ...
    def record_of(self, kind: str, key: str, before: OrderKey) -> Record | None:
        """The newest version of record ``key`` ordered before ``before`` (ADR 0022)."""
        ...


@dataclass
class MemoryState:
    packs: dict[str, PackState] = field(default_factory=dict)
    containers: dict[str, ContainerState] = field(default_factory=dict)
    recalls: dict[tuple[str, str], str] = field(default_factory=dict)
    withdrawals: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    records: dict[tuple[str, str], Record] = field(default_factory=dict)

    def get_packs(self, uris: Collection[str]) -> dict[str, PackState]:
        return {uri: self.packs[uri] for uri in uris if uri in self.packs}

    def put_packs(self, states: Iterable[PackState]) -> None:
        for state in states:
            self.packs[state.uri] = state

    def get_container(self, uri: str) -> ContainerState | None:
        return self.containers.get(uri)

    def put_container(self, state: ContainerState) -> None:
        self.containers[state.uri] = state

    def recall_of(self, gtin: str, lot: str) -> str | None:
        return self.recalls.get((gtin, lot))

    def put_recall(self, gtin: str, lot: str, entry_id: str) -> None:
        self.recalls.setdefault((gtin, lot), entry_id)

    def withdrawal_of(self, gtin: str) -> str | None:
        return self.withdrawals.get(gtin)

    def put_withdrawal(self, gtin: str, entry_id: str) -> None:
        self.withdrawals.setdefault(gtin, entry_id)

    def put_record(self, record: Record) -> None:
        held = self.records.get((record.kind, record.key))
        if held is None or record.order > held.order:
            self.records[(record.kind, record.key)] = record

    def record_of(self, kind: str, key: str, before: OrderKey) -> Record | None:
        held = self.records.get((kind, key))
        return held if held is not None and held.order < before else None
