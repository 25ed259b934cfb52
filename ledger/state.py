"""Pack and container state, and the view the lifecycle reads and writes it through.

The lifecycle is pure; where the state lives is the caller's choice. ``MemoryState`` keeps it in
dictionaries (tests, the scanner's own re-verification); the node backs the same protocol with
its database, loading only the rows an entry touches.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.alerts import Alert
from ledger.identifiers import pack_uris
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

    def made(self, uri: str, serial: str) -> PackState:
        """A pack like this one but for its URI and serial: the packs one commissioning makes
        differ in nothing else."""
        return PackState(
            uri,
            self.gtin,
            serial,
            self.lot,
            self.expiry,
            self.commissioned,
            self.custodian,
            self.status,
            self.destination,
            self.container,
            self.prior,
            self.changed_by,
            self.changed_feed,
            self.changed_ts,
            self.last,
        )


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
    def existing_packs(
        self, gtin: str, serials: Sequence[str], *, strict: bool
    ) -> dict[str, PackState]:
        """``get_packs`` of the packs a commissioning is about to create (``pack_uris``): those
        already there.

        When ``strict`` (one found refuses the whole write), a view may answer from the packs it
        holds in memory and leave the others to its storage's uniqueness check when the rows
        are written, provided a conflict there refuses the whole write as well and the write
        is then made again asking in full, so that its refusal names the serial
        (``node.store``: UNIQUE(gtin, serial), ``PacksTaken``)."""
        ...

    def put_packs(self, states: Iterable[PackState]) -> None: ...
    def put_made_packs(self, template: PackState, serials: Sequence[str]) -> None:
        """The new packs of one commissioning: ``template.made(uri, serial)`` of each serial of
        ``template.gtin`` (a view may keep them as the template and the serials until it writes
        them)."""
        ...

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

    def existing_packs(
        self, gtin: str, serials: Sequence[str], *, strict: bool
    ) -> dict[str, PackState]:
        return self.get_packs(pack_uris(gtin, serials))

    def put_packs(self, states: Iterable[PackState]) -> None:
        for state in states:
            self.packs[state.uri] = state

    def put_made_packs(self, template: PackState, serials: Sequence[str]) -> None:
        for uri, serial in zip(pack_uris(template.gtin, serials), serials, strict=True):
            self.packs[uri] = template.made(uri, serial)

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
