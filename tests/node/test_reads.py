"""The pack query's one-statement read (node/store/reads.py) answers exactly what the lifecycle's
``DbStateView`` and the store's recall, withdrawal and alert lookups answer, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.entry import SignedEntry
from ledger.identifiers import lot_uri, pack_uri, product_uri, with_check_digit
from ledger.kinds import Kind
from ledger.status import Status
from node.store import PackReading, Store
from tests.node.world import EXPIRY, GTIN, LOT, World, case, make_world, pack

OTHER_LOT = "L2"


#: A second product of the manufacturer: the regulator withdraws it.
WITHDRAWN_GTIN = with_check_digit("0950600013436")

#: serial -> the stored status the history below leaves it in.
STATUS_OF = {
    "ACT1": Status.ACTIVE,
    "BOX1": Status.ACTIVE,  # in a container
    "TRN1": Status.IN_TRANSIT,
    "DSP1": Status.DISPENSED,
    "CLN1": Status.DISPENSED,  # dispensed twice: a suspected clone alert
    "DST1": Status.DESTROYED,
    "STL1": Status.STOLEN,
    "EXP1": Status.EXPORTED,
    "SMP1": Status.SAMPLE,
    "FRE1": Status.FREE_SAMPLE,
    "LCK1": Status.LOCKED,
    "QRT1": Status.QUARANTINED,
}
IN_OTHER_LOT = ["L2A", "L2B"]  # lot L2 is not recalled
OF_WITHDRAWN_PRODUCT = ["WDR1"]


def history(w: World) -> list[SignedEntry]:
    """Every stored status, a container, a recalled lot, a withdrawn product, an alert."""
    uri = {s: pack(s) for s in [*STATUS_OF, *IN_OTHER_LOT]}
    out = [
        w.commission(list(STATUS_OF)),
        w.commission(IN_OTHER_LOT, lot=OTHER_LOT),
        w.write(
            "acme/line1",
            Kind.COMMISSION,
            subjects=[lot_uri(WITHDRAWN_GTIN, "W1")],
            body={
                "gtin": WITHDRAWN_GTIN,
                "ilmd": {"lotNumber": "W1", "itemExpirationDate": EXPIRY},
                "serials": OF_WITHDRAWN_PRODUCT,
            },
        ),
        w.write("acme/line1", Kind.PACK, subjects=[case(1), uri["BOX1"]]),
        w.write("acme/line1", Kind.SHIP, subjects=[uri["TRN1"]], body={"destination": "dist"}),
    ]
    to_ph = w.write(
        "acme/line1",
        Kind.SHIP,
        subjects=[uri["DSP1"], uri["CLN1"], uri["SMP1"], uri["FRE1"]],
        body={"destination": "ph"},
    )
    out += [
        to_ph,
        w.write("ph/a", Kind.RECEIVE, subjects=to_ph.payload.subjects, refs=[to_ph.id]),
        w.write("ph/a", Kind.DISPENSE, subjects=[uri["DSP1"], uri["CLN1"]]),
        w.write("ph/b", Kind.DISPENSE, subjects=[uri["CLN1"]]),
        w.write("ph/a", Kind.SAMPLE, subjects=[uri["SMP1"]]),
        w.write("ph/a", Kind.SAMPLE, subjects=[uri["FRE1"]], body={"free": True}),
        w.write("acme/line1", Kind.DESTROY, subjects=[uri["DST1"]]),
        w.write("acme/line1", Kind.STOLEN, subjects=[uri["STL1"]]),
        w.write("acme/line1", Kind.EXPORT, subjects=[uri["EXP1"]]),
        w.write("reg/main", Kind.LOCK, subjects=[uri["LCK1"]]),
        w.write("border/post", Kind.INSPECT, subjects=[uri["QRT1"]], body={"decision": "hold"}),
        w.write("reg/main", Kind.RECALL, subjects=[lot_uri(GTIN, LOT)]),
        w.write("reg/main", Kind.WITHDRAW, subjects=[product_uri(WITHDRAWN_GTIN)]),
    ]
    return out


def full_path(store: Store, gtin: str, serial: str) -> PackReading | None:
    """What the pack query answered before the fast path: ``DbStateView`` and three lookups."""
    state = store.pack(pack_uri(gtin, serial))
    if state is None:
        return None
    return PackReading(
        uri=state.uri,
        gtin=state.gtin,
        serial=state.serial,
        lot=state.lot,
        expiry=state.expiry,
        status=state.status,
        custodian=state.custodian,
        destination=state.destination,
        container=state.container,
        commissioned=state.commissioned,
        changed_by=state.changed_by,
        changed_at=state.changed_ts,
        recalled_by=store.recall_of(state.gtin, state.lot),
        withdrawn_by=store.withdrawal_of(state.gtin),
        alerts=tuple(store.alerts(subject=state.uri)),
    )


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def store(store_url: str, world: World) -> Iterator[Store]:
    with Store(store_url) as store:
        report = store.ingest(history(world), world.membership)
        assert not report.rejected
        yield store


KEYS = [
    *((GTIN, s) for s in [*STATUS_OF, *IN_OTHER_LOT]),
    *((WITHDRAWN_GTIN, s) for s in OF_WITHDRAWN_PRODUCT),
]


@pytest.mark.parametrize(("gtin", "serial"), KEYS, ids=[s for _, s in KEYS])
def test_the_fast_read_equals_the_state_view(store: Store, gtin: str, serial: str) -> None:
    fast = store.read_pack(gtin, serial)
    assert fast is not None
    assert fast == full_path(store, gtin, serial)


def test_the_history_covers_every_stored_status_and_every_override(store: Store) -> None:
    readings = [store.read_pack(g, s) for g, s in KEYS]
    shown = {r.serial: r for r in readings if r is not None}
    assert {s: shown[s].status for s in STATUS_OF} == STATUS_OF
    assert set(STATUS_OF.values()) == set(Status) - {
        Status.RECALLED,
        Status.WITHDRAWN,
        Status.EXPIRED,
    }
    assert all(shown[s].recalled_by for s in STATUS_OF)
    assert not any(shown[s].recalled_by for s in IN_OTHER_LOT)
    assert shown["WDR1"].withdrawn_by
    assert not shown["ACT1"].withdrawn_by
    assert shown["BOX1"].container == case(1)
    assert shown["TRN1"].destination == "dist"
    assert [a.code.value for a in shown["CLN1"].alerts] == ["suspected_clone"]


def test_several_alerts_come_in_the_order_the_store_lists_them(store: Store, world: World) -> None:
    again = [world.write("ph/b", Kind.DISPENSE, subjects=[pack("CLN1")]) for _ in range(2)]
    store.ingest(again, world.membership)
    fast = store.read_pack(GTIN, "CLN1")
    assert fast is not None
    assert len(fast.alerts) >= 2
    assert fast == full_path(store, GTIN, "CLN1")


UNKNOWN = {
    "unknown serial": (GTIN, "NOPE1"),
    "unknown product": (with_check_digit("0950600099999"), "ACT1"),
    "serial of another product": (WITHDRAWN_GTIN, "ACT1"),
}


@pytest.mark.parametrize(("gtin", "serial"), UNKNOWN.values(), ids=UNKNOWN.keys())
def test_an_unknown_pack_is_none(store: Store, gtin: str, serial: str) -> None:
    assert store.read_pack(gtin, serial) is None
    assert full_path(store, gtin, serial) is None
