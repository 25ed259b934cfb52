"""Delivery order never matters: any shuffle of one causal history folds to the same state.

A random history is written by a small model of the supply chain (several feeds: commission,
pack, ship, receive, dispense, clone dispense, recall, lock, unlock, unpack). The model only
takes steps the rules allow, except for deliberate clone dispenses at the other pharmacy. So
besides order independence the fold must agree with the model: each pack's status, custodian
and container, the recalls, and exactly one ``suspected_clone`` per clone and no other alert.
Receives are often signed in the same millisecond as their ship: the writer's ts rule must
still fold them after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import lifecycle
from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.identifiers import container_uri, lot_uri, pack_uri
from ledger.kinds import Kind
from ledger.state import MemoryState
from ledger.status import Status
from tests.ledger.builders import (
    DIST,
    GTIN,
    MFR,
    PHARMACY,
    PHARMACY2,
    REGULATOR,
    START,
    Net,
    commission_body,
    later,
    org_of,
    sscc,
)

LOTS = ("LA", "LB")
PHARMACIES = (PHARMACY, PHARMACY2)


@dataclass
class Unit:
    """What the model expects of a pack or a case."""

    lot: str | None  # None for a case
    custodian: str
    status: Status = Status.ACTIVE
    destination: str | None = None
    ship: str | None = None  # name of the ship entry while in transit
    container: str | None = None
    contents: list[str] = field(default_factory=list)


@dataclass
class History:
    net: Net = field(default_factory=Net)
    packs: dict[str, Unit] = field(default_factory=dict)
    cases: dict[str, Unit] = field(default_factory=dict)
    recalled: set[str] = field(default_factory=set)
    clones: int = 0
    serials: int = 0

    def write(self, feed: str, kind: Kind, gap_ms: int, **fields: Any) -> str:
        """Sign the next entry ``gap_ms`` after the latest one; only a ref may tie (gap 0)."""
        last = max((e.payload.ts for e in self.net.entries.values()), default=START)
        gap = gap_ms if fields.get("refs") else max(gap_ms, 1)
        name = f"{kind.value}-{len(self.net.entries)}"
        self.net.sign(name, feed, kind, ts=later(last, milliseconds=gap), **fields)
        return name

    def ready(self, uri: str, *, inside: str | None = None) -> bool:
        pack = self.packs[uri]
        return (
            pack.status is Status.ACTIVE
            and pack.lot not in self.recalled
            and pack.container == inside
        )

    def loose(self, where: Callable[[str, Unit], bool]) -> list[str]:
        return [uri for uri, unit in sorted(self.packs.items()) if where(uri, unit)]

    # -- steps ---------------------------------------------------------------------------------
    def commission(self, index: int, gap: int) -> None:
        lot = LOTS[index % 2]
        serials = [f"S{self.serials + i}" for i in range(1 + index % 3)]
        self.serials += len(serials)
        body = commission_body(serials, lot=lot)
        self.write(MFR, Kind.COMMISSION, gap, subjects=[lot_uri(GTIN, lot)], body=body)
        for serial in serials:
            self.packs[pack_uri(GTIN, serial)] = Unit(lot, MFR)

    def ship(self, index: int, gap: int, *, deliver: bool = False) -> None:
        singles = self.loose(lambda u, p: self.ready(u) and p.custodian in (MFR, DIST))
        cases = [
            uri
            for uri, case in sorted(self.cases.items())
            if case.status is Status.ACTIVE
            and case.custodian in (MFR, DIST)
            and all(self.ready(p, inside=uri) for p in case.contents)
        ]
        targets = singles + cases
        if not targets:
            return
        target = targets[index % len(targets)]
        unit = self.cases.get(target) or self.packs[target]
        dest = DIST if unit.custodian == MFR and index % 2 == 0 else PHARMACIES[index % 2]
        name = self.write(
            unit.custodian, Kind.SHIP, gap, subjects=[target], body={"destination": org_of(dest)}
        )
        for moving in [unit, *(self.packs[p] for p in unit.contents)]:
            moving.status, moving.destination, moving.ship = Status.IN_TRANSIT, dest, name
        if deliver:
            self.receive(target, 0)

    def deliver(self, index: int, gap: int) -> None:
        self.ship(index, gap, deliver=True)

    def receive_any(self, index: int, gap: int) -> None:
        targets = [u for u, c in sorted(self.cases.items()) if c.status is Status.IN_TRANSIT]
        targets += self.loose(lambda u, p: p.status is Status.IN_TRANSIT and p.container is None)
        if targets:
            self.receive(targets[index % len(targets)], gap)

    def receive(self, target: str, gap: int) -> None:
        unit = self.cases.get(target) or self.packs[target]
        assert unit.destination is not None
        assert unit.ship is not None
        dest = unit.destination
        self.write(dest, Kind.RECEIVE, gap, subjects=[target], refs=[unit.ship])
        for moved in [unit, *(self.packs[p] for p in unit.contents)]:
            moved.status, moved.custodian, moved.destination, moved.ship = (
                Status.ACTIVE,
                dest,
                None,
                None,
            )

    def dispense(self, index: int, gap: int) -> None:
        targets = self.loose(lambda u, p: self.ready(u) and p.custodian in PHARMACIES)
        if targets:
            target = targets[index % len(targets)]
            self.write(self.packs[target].custodian, Kind.DISPENSE, gap, subjects=[target])
            self.packs[target].status = Status.DISPENSED

    def clone(self, index: int, gap: int) -> None:
        """The same serial dispensed at the other pharmacy: a copy of a genuine pack."""
        targets = self.loose(
            lambda u, p: p.status is Status.DISPENSED and p.lot not in self.recalled
        )
        if targets:
            target = targets[index % len(targets)]
            pharmacy = self.packs[target].custodian
            other = PHARMACIES[1] if pharmacy == PHARMACIES[0] else PHARMACIES[0]
            self.write(other, Kind.DISPENSE, gap, subjects=[target])
            self.clones += 1

    def recall(self, index: int, gap: int) -> None:
        lot = LOTS[index % 2]
        if lot not in self.recalled:
            self.write(REGULATOR, Kind.RECALL, gap, subjects=[lot_uri(GTIN, lot)])
            self.recalled.add(lot)

    def lock(self, index: int, gap: int) -> None:
        self._toggle(index, gap, Kind.LOCK, Status.ACTIVE, Status.LOCKED)

    def unlock(self, index: int, gap: int) -> None:
        self._toggle(index, gap, Kind.UNLOCK, Status.LOCKED, Status.ACTIVE)

    def _toggle(self, index: int, gap: int, kind: Kind, before: Status, after: Status) -> None:
        targets = self.loose(lambda u, p: p.status is before)
        if targets:
            target = targets[index % len(targets)]
            self.write(self.packs[target].custodian, kind, gap, subjects=[target])
            self.packs[target].status = after

    def pack(self, index: int, gap: int) -> None:
        holder = (MFR, DIST)[index % 2]
        inside = self.loose(lambda u, p: self.ready(u) and p.custodian == holder)[:3]
        if inside:
            case = container_uri(sscc(len(self.cases) + 1))
            self.write(holder, Kind.PACK, gap, subjects=[case, *inside])
            self.cases[case] = Unit(None, holder, contents=list(inside))
            for uri in inside:
                self.packs[uri].container = case

    def unpack(self, index: int, gap: int) -> None:
        targets = [
            u for u, c in sorted(self.cases.items()) if c.status is Status.ACTIVE and c.contents
        ]
        if targets:
            case = self.cases[targets[index % len(targets)]]
            self.write(case.custodian, Kind.UNPACK, gap, subjects=[targets[index % len(targets)]])
            for uri in case.contents:
                self.packs[uri].container = None
            case.contents = []


STEPS: dict[str, Callable[[History, int, int], None]] = {
    "commission": History.commission,
    "pack": History.pack,
    "unpack": History.unpack,
    "ship": History.ship,
    "deliver": History.deliver,
    "receive": History.receive_any,
    "dispense": History.dispense,
    "clone": History.clone,
    "recall": History.recall,
    "lock": History.lock,
    "unlock": History.unlock,
}

#: Weighted towards moving goods; a lock or a recall stops a pack for the rest of a history.
WEIGHTS = {"deliver": 5, "dispense": 4, "clone": 2, "ship": 2, "receive": 2, "commission": 2}
OPS = [step for step in sorted(STEPS) for _ in range(WEIGHTS.get(step, 1))]

programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.sampled_from([0, 1, 60_000])),
    min_size=1,
    max_size=30,
)


def fold(entries: list[SignedEntry], history: History) -> tuple[MemoryState, list[Alert]]:
    state = MemoryState()
    return state, lifecycle.fold(entries, history.net.membership, state)


@settings(max_examples=80, deadline=None)
@given(programs, st.data())
def test_any_delivery_order_of_one_history_folds_to_the_same_state(
    program: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    history = History()
    history.commission(2, 1)
    for step, index, gap in program:
        STEPS[step](history, index, gap)
    written = list(history.net.entries.values())
    shuffled = data.draw(st.permutations(written), label="delivery order")

    state, alerts = fold(written, history)
    again, alerts_again = fold(list(shuffled), history)

    assert again.packs == state.packs
    assert again.containers == state.containers
    assert again.recalls == state.recalls
    assert {a.id for a in alerts_again} == {a.id for a in alerts}

    # ... and it is the state the model wrote the history for
    assert [a.code for a in alerts] == [Code.SUSPECTED_CLONE] * history.clones
    for uri, unit in history.packs.items():
        pack = state.packs[uri]
        assert (pack.status, pack.custodian, pack.container) == (
            unit.status,
            unit.custodian,
            unit.container,
        ), uri
    for uri, unit in history.cases.items():
        case = state.containers[uri]
        assert (case.custodian, case.children) == (unit.custodian, set(unit.contents)), uri
    assert set(state.recalls) == {(GTIN, lot) for lot in history.recalled}
