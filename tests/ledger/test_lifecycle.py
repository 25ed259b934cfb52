"""The pack lifecycle: every rule in both modes, malformed bodies, and the effects of each kind.

A rule case builds a history with strict (local) submissions, then signs one offending entry.
Strict mode must refuse it with the rule's code and leave the state exactly as it was;
replicated mode must raise the alert with the same code and the entries that prove it, and
apply the effect only when the rule is non-blocking.
"""

from __future__ import annotations

import copy
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest

from ledger import lifecycle
from ledger.alerts import LEVEL, Alert, Code, Level
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError, MalformedEntry, RuleViolation
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from ledger.state import MemoryState
from ledger.status import Status
from tests.ledger.builders import (
    CASE,
    CASE2,
    CUSTOMS,
    DIST,
    GTIN,
    LOT2_URI,
    LOT_URI,
    MFR,
    MFR2,
    PACK,
    PACKS,
    PHARMACY,
    PHARMACY2,
    PRODUCT_URI,
    REGULATOR,
    SERIALS,
    Net,
    commission_body,
    later,
    org_of,
)

CASE3 = container_uri("095060000000000039")
UNKNOWN_PACK = pack_uri(GTIN, "ZZZZZZZZZZZZ")
OFFENDING = "offending"

Setup = Callable[[Net], SignedEntry]


def offend(net: Net, feed: str, kind: Kind, subjects: list[str], **fields: Any) -> SignedEntry:
    return net.sign(OFFENDING, feed, kind, subjects=subjects, **fields)


def dispensed(net: Net) -> None:
    net.at_pharmacy()
    net.do("dispense", PHARMACY, Kind.DISPENSE, subjects=[PACK])


# -- supply: ship, dispense, export, sample ----------------------------------------------------


def dispense_of_recalled_lot(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("recall", REGULATOR, Kind.RECALL, subjects=[LOT_URI])
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def dispense_of_withdrawn_product(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("withdraw", MFR, Kind.WITHDRAW, subjects=[PRODUCT_URI])
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def dispense_by_non_custodian(net: Net) -> SignedEntry:
    net.commission()
    net.deliver("dist", MFR, DIST)
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def second_dispense_at_another_pharmacy(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, PHARMACY2, Kind.DISPENSE, [PACK])


def second_dispense_at_the_same_pharmacy(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def dispense_of_stolen_pack(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("stolen", MFR, Kind.STOLEN, subjects=[PACK])
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def dispense_after_expiry(net: Net) -> SignedEntry:
    net.commission(expiry="2026-03-02")
    net.deliver("pharmacy", MFR, PHARMACY)
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK], ts="2026-03-03T00:00:00.000Z")


def dispense_while_in_transit(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], PHARMACY)
    return offend(net, PHARMACY, Kind.DISPENSE, [PACK])


def export_of_recalled_lot(net: Net) -> SignedEntry:
    net.commission()
    net.do("recall", MFR, Kind.RECALL, subjects=[LOT_URI])
    return offend(net, MFR, Kind.EXPORT, [PACK])


def ship_by_non_custodian(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, DIST, Kind.SHIP, [PACK], body={"destination": "city-pharmacy"})


def ship_of_unknown_pack(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.SHIP, [UNKNOWN_PACK], body={"destination": "nordic-dist"})


def ship_of_unknown_container(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.SHIP, [CASE2], body={"destination": "nordic-dist"})


def ship_of_locked_pack(net: Net) -> SignedEntry:
    net.commission()
    net.do("lock", MFR, Kind.LOCK, subjects=[PACK])
    return offend(net, MFR, Kind.SHIP, [PACK], body={"destination": "nordic-dist"})


def ship_of_container_held_elsewhere(net: Net) -> SignedEntry:
    net.commission()
    net.do("pack", MFR, Kind.PACK, subjects=[CASE, *PACKS])
    net.deliver("dist", MFR, DIST, [CASE])
    return offend(net, MFR, Kind.SHIP, [CASE], body={"destination": "city-pharmacy"})


# -- receive -----------------------------------------------------------------------------------


def receive_without_ship_to_receiver(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["commission"])


def receive_of_pack_shipped_elsewhere(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    return offend(net, PHARMACY, Kind.RECEIVE, [PACK], refs=["ship"])


def receive_of_dispensed_pack(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["dispense"])


def receive_of_stolen_pack(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    net.do("stolen", MFR, Kind.STOLEN, subjects=[PACK])
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["ship"])


def receive_of_pack_held_by_customs(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    net.do("hold", CUSTOMS, Kind.INSPECT, subjects=[PACK], body={"decision": "hold"})
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["ship"])


def receive_of_exported_pack(net: Net) -> SignedEntry:
    net.commission()
    net.do("export", MFR, Kind.EXPORT, subjects=[PACK])
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["export"])


def receive_of_sampled_pack(net: Net) -> SignedEntry:
    net.commission()
    net.do("sample", MFR, Kind.SAMPLE, subjects=[PACK], body={"free": True})
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["sample"])


def receive_of_locked_pack(net: Net) -> SignedEntry:
    net.commission()
    net.do("lock", REGULATOR, Kind.LOCK, subjects=[PACK])
    return offend(net, DIST, Kind.RECEIVE, [PACK], refs=["lock"])


# -- commission --------------------------------------------------------------------------------


def duplicate_commission(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.COMMISSION, [LOT_URI], body=commission_body([SERIALS[0]]))


def commission_dated_after_its_expiry(net: Net) -> SignedEntry:
    body = commission_body(expiry="2027-01-31")
    return offend(net, MFR, Kind.COMMISSION, [LOT_URI], body=body, ts="2099-12-31T00:00:00.000Z")


# -- undo --------------------------------------------------------------------------------------


def undo(
    net: Net, feed: str = PHARMACY, target: str = "dispense", ts: str | None = None
) -> SignedEntry:
    return offend(net, feed, Kind.UNDO, [PACK], refs=[target], ts=ts)


def undo_after_10_days(net: Net) -> SignedEntry:
    dispensed(net)
    ts = later(net.entries["dispense"].payload.ts, days=10, milliseconds=1)
    return undo(net, ts=ts)


def undo_from_another_feed(net: Net) -> SignedEntry:
    dispensed(net)
    return undo(net, feed=PHARMACY2)


def undo_of_not_the_last_decommissioning(net: Net) -> SignedEntry:
    dispensed(net)
    net.do("undo", PHARMACY, Kind.UNDO, subjects=[PACK], refs=["dispense"])
    net.do("dispense-again", PHARMACY, Kind.DISPENSE, subjects=[PACK])
    return undo(net, target="dispense")


def undo_of_a_ship(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    return undo(net, feed=MFR, target="ship")


def undo_of_a_lock(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("lock", PHARMACY, Kind.LOCK, subjects=[PACK])
    return undo(net, target="lock")


def undo_after_recall(net: Net) -> SignedEntry:
    dispensed(net)
    net.do("recall", REGULATOR, Kind.RECALL, subjects=[LOT_URI])
    return undo(net)


def undo_after_withdrawal(net: Net) -> SignedEntry:
    dispensed(net)
    net.do("withdraw", REGULATOR, Kind.WITHDRAW, subjects=[PRODUCT_URI])
    return undo(net)


def undo_of_destroyed_pack(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("destroy", PHARMACY, Kind.DESTROY, subjects=[PACK])
    return undo(net, target="destroy")


def undo_of_stolen_pack(net: Net) -> SignedEntry:
    net.at_pharmacy()
    net.do("stolen", PHARMACY, Kind.STOLEN, subjects=[PACK])
    return undo(net, target="stolen")


# -- lock, unlock, destroy, stolen -------------------------------------------------------------


def lock_by_non_custodian(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, DIST, Kind.LOCK, [PACK])


def lock_of_dispensed_pack(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, PHARMACY, Kind.LOCK, [PACK])


def unlock_of_unlocked_pack(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.UNLOCK, [PACK])


def unlock_by_non_custodian(net: Net) -> SignedEntry:
    net.commission()
    net.do("lock", MFR, Kind.LOCK, subjects=[PACK])
    return offend(net, DIST, Kind.UNLOCK, [PACK])


def destroy_of_dispensed_pack(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, PHARMACY, Kind.DESTROY, [PACK])


def destroy_by_non_custodian(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, DIST, Kind.DESTROY, [PACK])


def destroy_by_customs_without_seizure(net: Net) -> SignedEntry:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    return offend(net, CUSTOMS, Kind.DESTROY, [PACK])


def stolen_reported_by_a_stranger(net: Net) -> SignedEntry:
    net.commission()
    net.deliver("dist", MFR, DIST)
    return offend(net, PHARMACY, Kind.STOLEN, [PACK])


def stolen_report_of_destroyed_pack(net: Net) -> SignedEntry:
    net.commission()
    net.do("destroy", MFR, Kind.DESTROY, subjects=[PACK])
    return offend(net, MFR, Kind.STOLEN, [PACK])


# -- recall, withdraw, inspect -----------------------------------------------------------------


def recall_by_another_manufacturer(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR2, Kind.RECALL, [LOT_URI])


def withdraw_by_another_manufacturer(net: Net) -> SignedEntry:
    return offend(net, MFR, Kind.WITHDRAW, [LOT2_URI.rsplit("/10/", 1)[0]])


def held_at_border(net: Net) -> None:
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    net.do("hold", CUSTOMS, Kind.INSPECT, subjects=[PACK], body={"decision": "hold"})


def release_of_recalled_pack(net: Net) -> SignedEntry:
    held_at_border(net)
    net.do("recall", REGULATOR, Kind.RECALL, subjects=[LOT_URI])
    return offend(net, CUSTOMS, Kind.INSPECT, [PACK], body={"decision": "release"})


def release_of_withdrawn_pack(net: Net) -> SignedEntry:
    held_at_border(net)
    net.do("withdraw", REGULATOR, Kind.WITHDRAW, subjects=[PRODUCT_URI])
    return offend(net, CUSTOMS, Kind.INSPECT, [PACK], body={"decision": "release"})


def release_of_dispensed_pack(net: Net) -> SignedEntry:
    dispensed(net)
    return offend(net, CUSTOMS, Kind.INSPECT, [PACK], body={"decision": "release"})


# -- aggregation -------------------------------------------------------------------------------


def pack_of_unknown_pack(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.PACK, [CASE, UNKNOWN_PACK])


def pack_of_pack_held_elsewhere(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, DIST, Kind.PACK, [CASE2, PACK])


def pack_into_container_held_elsewhere(net: Net) -> SignedEntry:
    net.commission()
    net.do("pack", MFR, Kind.PACK, subjects=[CASE, PACKS[1]])
    net.deliver("dist", MFR, DIST, [CASE])
    return offend(net, MFR, Kind.PACK, [CASE, PACK])


def pack_of_unknown_child_container(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.PACK, [CASE, CASE2])


def unpack_of_unknown_container(net: Net) -> SignedEntry:
    net.commission()
    return offend(net, MFR, Kind.UNPACK, [CASE2])


@dataclass(frozen=True)
class RuleCase:
    setup: Setup
    code: Code
    evidence: tuple[str, ...]  # names of the proving entries, before the offending one
    subject: str
    applied: bool | None  # replicated mode: effect applied (non-blocking); None: nothing to apply


RULES: dict[str, RuleCase] = {
    "dispense_of_recalled_lot": RuleCase(
        dispense_of_recalled_lot, Code.RECALLED, ("recall",), PACK, False
    ),
    "dispense_of_withdrawn_product": RuleCase(
        dispense_of_withdrawn_product, Code.WITHDRAWN, ("withdraw",), PACK, False
    ),
    "dispense_by_non_custodian": RuleCase(
        dispense_by_non_custodian, Code.CUSTODY_VIOLATION, ("receive-dist",), PACK, True
    ),
    "second_dispense_at_another_pharmacy": RuleCase(
        second_dispense_at_another_pharmacy, Code.SUSPECTED_CLONE, ("dispense",), PACK, False
    ),
    "second_dispense_at_the_same_pharmacy": RuleCase(
        second_dispense_at_the_same_pharmacy, Code.ALREADY_INACTIVE, ("dispense",), PACK, False
    ),
    "dispense_of_stolen_pack": RuleCase(
        dispense_of_stolen_pack, Code.STOLEN, ("stolen",), PACK, False
    ),
    "dispense_after_expiry": RuleCase(
        dispense_after_expiry, Code.EXPIRED, ("commission",), PACK, False
    ),
    "dispense_while_in_transit": RuleCase(
        dispense_while_in_transit, Code.ALREADY_INACTIVE, ("ship",), PACK, False
    ),
    "export_of_recalled_lot": RuleCase(
        export_of_recalled_lot, Code.RECALLED, ("recall",), PACK, False
    ),
    "ship_by_non_custodian": RuleCase(
        ship_by_non_custodian, Code.CUSTODY_VIOLATION, ("commission",), PACK, True
    ),
    "ship_of_unknown_pack": RuleCase(
        ship_of_unknown_pack, Code.UNKNOWN_PACK, (), UNKNOWN_PACK, None
    ),
    "ship_of_unknown_container": RuleCase(
        ship_of_unknown_container, Code.UNKNOWN_CONTAINER, (), CASE2, None
    ),
    "ship_of_locked_pack": RuleCase(
        ship_of_locked_pack, Code.ALREADY_INACTIVE, ("lock",), PACK, False
    ),
    "ship_of_container_held_elsewhere": RuleCase(
        ship_of_container_held_elsewhere, Code.CUSTODY_VIOLATION, (), CASE, True
    ),
    "receive_without_ship_to_receiver": RuleCase(
        receive_without_ship_to_receiver, Code.CUSTODY_VIOLATION, ("commission",), PACK, True
    ),
    "receive_of_pack_shipped_elsewhere": RuleCase(
        receive_of_pack_shipped_elsewhere, Code.CUSTODY_VIOLATION, ("ship",), PACK, True
    ),
    "receive_of_dispensed_pack": RuleCase(
        receive_of_dispensed_pack, Code.ALREADY_INACTIVE, ("dispense",), PACK, False
    ),
    "receive_of_stolen_pack": RuleCase(
        receive_of_stolen_pack, Code.STOLEN, ("stolen",), PACK, False
    ),
    "receive_of_pack_held_by_customs": RuleCase(
        receive_of_pack_held_by_customs, Code.CUSTODY_VIOLATION, ("hold",), PACK, False
    ),
    "receive_of_exported_pack": RuleCase(
        receive_of_exported_pack, Code.ALREADY_INACTIVE, ("export",), PACK, False
    ),
    "receive_of_sampled_pack": RuleCase(
        receive_of_sampled_pack, Code.ALREADY_INACTIVE, ("sample",), PACK, False
    ),
    "receive_of_locked_pack": RuleCase(
        receive_of_locked_pack, Code.ALREADY_INACTIVE, ("lock",), PACK, False
    ),
    "duplicate_commission": RuleCase(
        duplicate_commission, Code.DUPLICATE_COMMISSION, ("commission",), PACK, False
    ),
    "commission_dated_after_its_expiry": RuleCase(
        commission_dated_after_its_expiry, Code.DATED_AFTER_EXPIRY, (), LOT_URI, None
    ),
    "undo_after_10_days": RuleCase(
        undo_after_10_days, Code.UNDO_NOT_ALLOWED, ("dispense",), PACK, False
    ),
    "undo_from_another_feed": RuleCase(
        undo_from_another_feed, Code.UNDO_NOT_ALLOWED, ("dispense",), PACK, False
    ),
    "undo_of_not_the_last_decommissioning": RuleCase(
        undo_of_not_the_last_decommissioning,
        Code.UNDO_NOT_ALLOWED,
        ("dispense-again",),
        PACK,
        False,
    ),
    "undo_of_a_ship": RuleCase(undo_of_a_ship, Code.UNDO_NOT_ALLOWED, ("ship",), PACK, False),
    "undo_of_a_lock": RuleCase(undo_of_a_lock, Code.UNDO_NOT_ALLOWED, ("lock",), PACK, False),
    "undo_after_recall": RuleCase(
        undo_after_recall, Code.UNDO_NOT_ALLOWED, ("recall",), PACK, False
    ),
    "undo_after_withdrawal": RuleCase(
        undo_after_withdrawal, Code.UNDO_NOT_ALLOWED, ("withdraw",), PACK, False
    ),
    "undo_of_destroyed_pack": RuleCase(
        undo_of_destroyed_pack, Code.UNDO_NOT_ALLOWED, ("destroy",), PACK, False
    ),
    "undo_of_stolen_pack": RuleCase(
        undo_of_stolen_pack, Code.UNDO_NOT_ALLOWED, ("stolen",), PACK, False
    ),
    "lock_by_non_custodian": RuleCase(
        lock_by_non_custodian, Code.CUSTODY_VIOLATION, ("commission",), PACK, True
    ),
    "lock_of_dispensed_pack": RuleCase(
        lock_of_dispensed_pack, Code.ALREADY_INACTIVE, ("dispense",), PACK, False
    ),
    "unlock_of_unlocked_pack": RuleCase(
        unlock_of_unlocked_pack, Code.ALREADY_INACTIVE, ("commission",), PACK, False
    ),
    "unlock_by_non_custodian": RuleCase(
        unlock_by_non_custodian, Code.CUSTODY_VIOLATION, ("lock",), PACK, True
    ),
    "destroy_of_dispensed_pack": RuleCase(
        destroy_of_dispensed_pack, Code.ALREADY_INACTIVE, ("dispense",), PACK, False
    ),
    "destroy_by_non_custodian": RuleCase(
        destroy_by_non_custodian, Code.CUSTODY_VIOLATION, ("commission",), PACK, True
    ),
    "destroy_by_customs_without_seizure": RuleCase(
        destroy_by_customs_without_seizure, Code.CUSTODY_VIOLATION, ("ship",), PACK, True
    ),
    "stolen_reported_by_a_stranger": RuleCase(
        stolen_reported_by_a_stranger, Code.CUSTODY_VIOLATION, ("receive-dist",), PACK, True
    ),
    "stolen_report_of_destroyed_pack": RuleCase(
        stolen_report_of_destroyed_pack, Code.ALREADY_INACTIVE, ("destroy",), PACK, False
    ),
    "recall_by_another_manufacturer": RuleCase(
        recall_by_another_manufacturer, Code.FOREIGN_GTIN, (), LOT_URI, None
    ),
    "withdraw_by_another_manufacturer": RuleCase(
        withdraw_by_another_manufacturer, Code.FOREIGN_GTIN, (), LOT2_URI.rsplit("/10/", 1)[0], None
    ),
    "release_of_recalled_pack": RuleCase(
        release_of_recalled_pack, Code.RECALLED, ("recall",), PACK, False
    ),
    "release_of_withdrawn_pack": RuleCase(
        release_of_withdrawn_pack, Code.WITHDRAWN, ("withdraw",), PACK, False
    ),
    "release_of_dispensed_pack": RuleCase(
        release_of_dispensed_pack, Code.ALREADY_INACTIVE, ("dispense",), PACK, False
    ),
    "pack_of_unknown_pack": RuleCase(
        pack_of_unknown_pack, Code.UNKNOWN_PACK, (), UNKNOWN_PACK, None
    ),
    "pack_of_pack_held_elsewhere": RuleCase(
        pack_of_pack_held_elsewhere, Code.CUSTODY_VIOLATION, ("commission",), PACK, True
    ),
    "pack_into_container_held_elsewhere": RuleCase(
        pack_into_container_held_elsewhere, Code.CUSTODY_VIOLATION, (), CASE, True
    ),
    "pack_of_unknown_child_container": RuleCase(
        pack_of_unknown_child_container, Code.UNKNOWN_CONTAINER, (), CASE2, None
    ),
    "unpack_of_unknown_container": RuleCase(
        unpack_of_unknown_container, Code.UNKNOWN_CONTAINER, (), CASE2, None
    ),
}


def touched(state: MemoryState, uri: str, entry: SignedEntry) -> bool:
    """Whether ``entry`` changed the pack or container ``uri`` (its last applied entry)."""
    target = state.packs.get(uri) or state.containers.get(uri)
    return target is not None and target.last == entry.payload.order_key


@pytest.mark.parametrize("case", RULES.values(), ids=RULES.keys())
def test_strict_refuses_with_the_rule_code_and_changes_nothing(case: RuleCase) -> None:
    net = Net()
    entry = case.setup(net)
    before = copy.deepcopy(net.state)
    with pytest.raises(RuleViolation) as caught:
        net.apply(entry, strict=True)
    assert caught.value.code == case.code.value
    assert caught.value.evidence == net.ids(*case.evidence, OFFENDING)
    assert net.state == before


@pytest.mark.parametrize("case", RULES.values(), ids=RULES.keys())
def test_replicated_raises_the_alert_with_its_evidence(case: RuleCase) -> None:
    net = Net()
    entry = case.setup(net)
    alerts = net.apply(entry, strict=False)
    matching = [a for a in alerts if a.code is case.code and a.subject == case.subject]
    assert len(matching) == 1, alerts
    assert matching[0].evidence == net.ids(*case.evidence, OFFENDING)
    if case.applied is not None:
        assert touched(net.state, case.subject, entry) is case.applied


@pytest.mark.parametrize("case", RULES.values(), ids=RULES.keys())
def test_replicated_alert_ids_are_the_same_on_a_rebuild(case: RuleCase) -> None:
    net = Net()
    entry = case.setup(net)
    first = {a.id for a in net.apply(entry, strict=False)}
    rebuilt = MemoryState()
    again = lifecycle.fold(net.entries.values(), net.membership, rebuilt)
    assert first <= {a.id for a in again}


def test_a_commission_dated_after_its_expiry_creates_no_pack() -> None:
    net = Net()
    net.apply(commission_dated_after_its_expiry(net), strict=False)
    assert net.state.packs == {}


def test_a_commission_dated_on_its_expiry_day_is_taken() -> None:
    net = Net()
    net.commission(expiry="2027-01-31", ts="2027-01-31T23:59:59.999Z")
    assert PACK in net.state.packs


def test_every_alert_code_has_a_level() -> None:
    assert set(LEVEL) == set(Code)
    assert LEVEL[Code.SUSPECTED_CLONE] is Level.CRITICAL


def test_alert_id_covers_code_subject_and_evidence_but_not_the_message() -> None:
    alert = Alert(Code.RECALLED, PACK, "one wording", ("a", "b"))
    assert alert.id == Alert(Code.RECALLED, PACK, "another wording", ("a", "b")).id
    assert alert.id != Alert(Code.RECALLED, PACK, "one wording", ("b", "a")).id
    assert alert.id != Alert(Code.EXPIRED, PACK, "one wording", ("a", "b")).id


def test_recall_by_another_manufacturer_is_not_recorded() -> None:
    net = Net()
    entry = recall_by_another_manufacturer(net)
    net.apply(entry, strict=False)
    assert net.state.recalls == {}


def test_suspected_clone_names_both_pharmacies_in_its_message() -> None:
    net = Net()
    entry = second_dispense_at_another_pharmacy(net)
    (alert,) = net.apply(entry, strict=False)
    assert PHARMACY in alert.message
    assert PHARMACY2 in alert.message
    assert alert.level is Level.CRITICAL


# -- malformed bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """An entry whose body or subjects break the kind's form, written after a commission."""

    feed: str
    kind: Kind
    subjects: tuple[str, ...]
    body: dict[str, object]
    commissioned: bool = True  # the golden 3 packs exist before the entry
    packed: bool = False  # and PACKS[1] is in CASE


SHIP_TO_DIST: dict[str, object] = {"destination": "nordic-dist"}
MALFORMED: dict[str, Malformed] = {
    "ship_without_destination": Malformed(MFR, Kind.SHIP, (PACK,), {}),
    "ship_to_a_non_member": Malformed(MFR, Kind.SHIP, (PACK,), {"destination": "nobody"}),
    "ship_of_a_lot_subject": Malformed(MFR, Kind.SHIP, (LOT_URI,), SHIP_TO_DIST),
    "ship_of_a_non_canonical_subject": Malformed(
        MFR, Kind.SHIP, (PACK.replace("/01/0", "/01/"),), SHIP_TO_DIST
    ),
    "commission_naming_packs_not_the_lot": Malformed(
        MFR, Kind.COMMISSION, (PACK,), commission_body(), commissioned=False
    ),
    "commission_without_serials": Malformed(
        MFR, Kind.COMMISSION, (LOT_URI,), commission_body([]), commissioned=False
    ),
    "commission_with_a_serial_twice": Malformed(
        MFR, Kind.COMMISSION, (LOT_URI,), commission_body(["A1", "A1"]), commissioned=False
    ),
    "commission_with_a_serial_outside_cset82": Malformed(
        MFR, Kind.COMMISSION, (LOT_URI,), commission_body(["A 1"]), commissioned=False
    ),
    "commission_with_an_impossible_expiry": Malformed(
        MFR,
        Kind.COMMISSION,
        (LOT_URI,),
        commission_body(expiry="2028-02-30"),
        commissioned=False,
    ),
    "commission_without_ilmd": Malformed(
        MFR, Kind.COMMISSION, (LOT_URI,), {"gtin": GTIN, "serials": ["A1"]}, commissioned=False
    ),
    "inspect_with_unknown_decision": Malformed(
        CUSTOMS, Kind.INSPECT, (PACK,), {"decision": "maybe"}
    ),
    "undo_naming_no_entry": Malformed(MFR, Kind.UNDO, (PACK,), {}),
    "recall_of_a_pack": Malformed(REGULATOR, Kind.RECALL, (PACK,), {}),
    "recall_of_two_lots": Malformed(REGULATOR, Kind.RECALL, (LOT_URI, LOT2_URI), {}),
    "withdraw_of_a_lot": Malformed(REGULATOR, Kind.WITHDRAW, (LOT_URI,), {}),
    "pack_without_a_container_first": Malformed(MFR, Kind.PACK, (PACK, CASE), {}),
    "pack_of_a_container_into_itself": Malformed(MFR, Kind.PACK, (CASE, CASE), {}, packed=True),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "replicated"])
def test_malformed_body_is_refused_or_raises_one_malformed_alert(
    case: Malformed, strict: bool
) -> None:
    net = Net()
    if case.commissioned:
        net.commission()
    if case.packed:
        net.do("case", MFR, Kind.PACK, subjects=[CASE, PACKS[1]])
    entry = net.sign(OFFENDING, case.feed, case.kind, subjects=case.subjects, body=case.body)
    before = copy.deepcopy(net.state)
    if strict:
        with pytest.raises((MalformedEntry, IdentifierError)):
            net.apply(entry, strict=True)
    else:
        alerts = net.apply(entry, strict=False)
        assert [(a.code, a.subject, a.evidence) for a in alerts] == [
            (Code.MALFORMED, case.feed, (entry.id,))
        ]
    assert net.state == before


def test_receive_without_refs_is_malformed_locally_but_a_fact_from_a_peer() -> None:
    net = Net()
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    entry = net.sign(OFFENDING, DIST, Kind.RECEIVE, subjects=[PACK])
    with pytest.raises(MalformedEntry):
        net.apply(entry, strict=True)
    assert net.apply(entry, strict=False) == []
    assert net.state.packs[PACK].custodian == DIST


# -- container cycles must not hang a node ------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_packing_a_container_into_its_own_content_is_malformed() -> None:
    net = Net()
    net.commission()
    net.do("inner", MFR, Kind.PACK, subjects=[CASE2, PACK])
    net.do("outer", MFR, Kind.PACK, subjects=[CASE, CASE2])
    cycle = net.sign(OFFENDING, MFR, Kind.PACK, subjects=[CASE2, CASE])
    with pytest.raises(MalformedEntry):
        net.apply(cycle, strict=True)
    net.sign("ship", MFR, Kind.SHIP, subjects=[CASE], body={"destination": "nordic-dist"})
    state = MemoryState()
    with deadline(5):
        alerts = lifecycle.fold(net.entries.values(), net.membership, state)
    assert [a.code for a in alerts] == [Code.MALFORMED]
    assert state.containers[CASE2].parent == CASE
    assert state.packs[PACK].status is Status.IN_TRANSIT


def test_packing_a_container_into_itself_does_not_hang_a_later_ship() -> None:
    net = Net()
    net.commission()
    net.do("pack", MFR, Kind.PACK, subjects=[CASE, PACK])
    net.sign("self", MFR, Kind.PACK, subjects=[CASE, CASE])
    net.sign("ship", MFR, Kind.SHIP, subjects=[CASE], body={"destination": "nordic-dist"})
    state = MemoryState()
    with deadline(5):
        alerts = lifecycle.fold(net.entries.values(), net.membership, state)
    assert [a.code for a in alerts] == [Code.MALFORMED]
    assert state.containers[CASE].children == {PACK}
    assert state.packs[PACK].status is Status.IN_TRANSIT


def test_repacking_a_container_leaves_its_old_parent() -> None:
    net = Net()
    net.commission()
    net.do("inner", MFR, Kind.PACK, subjects=[CASE2, PACK])
    net.do("outer", MFR, Kind.PACK, subjects=[CASE, CASE2])
    net.do("repack", MFR, Kind.PACK, subjects=[CASE3, CASE2])
    assert net.state.containers[CASE].children == set()
    assert net.state.containers[CASE3].children == {CASE2}
    net.do("ship", MFR, Kind.SHIP, subjects=[CASE], body={"destination": "nordic-dist"})
    assert net.state.packs[PACK].status is Status.ACTIVE


# -- effects: what each kind does when no rule is broken ----------------------------------------


def status_of(net: Net, uri: str = PACK) -> tuple[Status, str]:
    pack = net.state.packs[uri]
    return pack.status, pack.custodian


def test_undo_on_the_tenth_day_restores_the_pack() -> None:
    net = Net()
    dispensed(net)
    ts = later(net.entries["dispense"].payload.ts, days=10)
    net.do("undo", PHARMACY, Kind.UNDO, subjects=[PACK], refs=["dispense"], ts=ts)
    assert status_of(net) == (Status.ACTIVE, PHARMACY)
    net.do("dispense-again", PHARMACY, Kind.DISPENSE, subjects=[PACK])
    assert status_of(net) == (Status.DISPENSED, PHARMACY)


@pytest.mark.parametrize(
    ("kind", "body", "status"),
    [
        (Kind.DISPENSE, {}, Status.DISPENSED),
        (Kind.EXPORT, {}, Status.EXPORTED),
        (Kind.SAMPLE, {}, Status.SAMPLE),
        (Kind.SAMPLE, {"free": True}, Status.FREE_SAMPLE),
    ],
    ids=["dispense", "export", "sample", "free_sample"],
)
def test_decommission_and_its_undo(kind: Kind, body: dict[str, object], status: Status) -> None:
    net = Net()
    net.commission()
    feed = PHARMACY if kind is Kind.DISPENSE else MFR
    if feed == PHARMACY:
        net.deliver("pharmacy", MFR, PHARMACY)
    net.do("decommission", feed, kind, subjects=[PACK], body=body)
    assert net.state.packs[PACK].status is status
    net.do("undo", feed, Kind.UNDO, subjects=[PACK], refs=["decommission"])
    assert status_of(net) == (Status.ACTIVE, feed)


def test_customs_hold_and_release_in_transit_then_delivery() -> None:
    net = Net()
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    net.do("hold", CUSTOMS, Kind.INSPECT, subjects=[PACK], body={"decision": "detain"})
    assert net.state.packs[PACK].status is Status.QUARANTINED
    net.do("release", CUSTOMS, Kind.INSPECT, subjects=[PACK], body={"decision": "release"})
    assert status_of(net) == (Status.IN_TRANSIT, MFR)
    net.receive("receive", DIST, [PACK], "ship")
    assert status_of(net) == (Status.ACTIVE, DIST)


def test_customs_destroys_a_seized_pack_it_does_not_hold() -> None:
    net = Net()
    net.commission()
    net.ship("ship", MFR, [PACK], DIST)
    net.do("hold", CUSTOMS, Kind.INSPECT, subjects=[PACK], body={"decision": "detain"})
    net.do("destroy", CUSTOMS, Kind.DESTROY, subjects=[PACK])
    assert net.state.packs[PACK].status is Status.DESTROYED


def test_container_hold_and_release_restores_its_status() -> None:
    net = Net()
    net.commission()
    net.do("pack", MFR, Kind.PACK, subjects=[CASE, *PACKS])
    net.do("hold", CUSTOMS, Kind.INSPECT, subjects=[CASE], body={"decision": "hold"})
    assert net.state.containers[CASE].status is Status.QUARANTINED
    assert {net.state.packs[p].status for p in PACKS} == {Status.QUARANTINED}
    net.do("release", CUSTOMS, Kind.INSPECT, subjects=[CASE], body={"decision": "release"})
    assert net.state.containers[CASE].status is Status.ACTIVE
    assert {net.state.packs[p].status for p in PACKS} == {Status.ACTIVE}


def test_regulator_locks_and_unlocks_without_custody() -> None:
    net = Net()
    net.at_pharmacy()
    net.do("lock", REGULATOR, Kind.LOCK, subjects=[PACK])
    assert status_of(net) == (Status.LOCKED, PHARMACY)
    net.do("unlock", REGULATOR, Kind.UNLOCK, subjects=[PACK])
    assert status_of(net) == (Status.ACTIVE, PHARMACY)


def test_manufacturer_reports_stolen_a_pack_held_downstream() -> None:
    net = Net()
    net.commission()
    net.deliver("dist", MFR, DIST)
    net.do("stolen", MFR, Kind.STOLEN, subjects=[PACK])
    assert status_of(net) == (Status.STOLEN, DIST)


def test_container_moves_everything_inside_it_and_unpacks_to_nothing() -> None:
    net = Net()
    net.commission()
    net.do("inner", MFR, Kind.PACK, subjects=[CASE2, PACKS[0]])
    net.do("outer", MFR, Kind.PACK, subjects=[CASE, CASE2, PACKS[1]])
    net.deliver("dist", MFR, DIST, [CASE])
    assert {status_of(net, p) for p in PACKS[:2]} == {(Status.ACTIVE, DIST)}
    assert status_of(net, PACKS[2]) == (Status.ACTIVE, MFR)
    assert net.state.containers[CASE].custodian == DIST
    net.do("unpack", DIST, Kind.UNPACK, subjects=[CASE])
    assert net.state.containers[CASE].children == set()
    assert net.state.packs[PACKS[1]].container is None
    assert net.state.containers[CASE2].parent is None


def test_repacking_a_pack_moves_it_out_of_its_old_container() -> None:
    net = Net()
    net.commission()
    net.do("first", MFR, Kind.PACK, subjects=[CASE, PACK])
    net.do("second", MFR, Kind.PACK, subjects=[CASE2, PACK])
    assert net.state.containers[CASE].children == set()
    assert net.state.packs[PACK].container == CASE2


def test_recall_is_kept_once_and_never_lifted() -> None:
    net = Net()
    net.commission()
    net.do("recall", MFR, Kind.RECALL, subjects=[LOT_URI])
    net.do("recall-again", REGULATOR, Kind.RECALL, subjects=[LOT_URI])
    assert net.state.recalls == {(GTIN, "L2026-03A"): net.entries["recall"].id}


def test_commission_makes_active_packs_held_by_the_line() -> None:
    net = Net()
    entry = net.commission()
    for uri in PACKS:
        pack = net.state.packs[uri]
        assert (pack.status, pack.custodian, pack.commissioned, pack.lot, pack.expiry) == (
            Status.ACTIVE,
            MFR,
            entry.id,
            "L2026-03A",
            "2028-06-30",
        )


@pytest.mark.parametrize(
    "serials",
    [
        ["ABC123", "a-b.c_d"],
        ["A/2", "B%3", "C&4?", "PLAIN"],
        ["PLAIN", "A/2"],
    ],
    ids=["all-unreserved", "all-percent-encoded", "mixed-batch"],
)
def test_commissioned_packs_are_named_by_their_canonical_uri(serials: list[str]) -> None:
    """Serials of RFC 3986 unreserved characters skip percent-encoding; the rest need it, and a
    batch mixing both names every pack exactly as ``pack_uri`` does."""
    net = Net()
    net.commission(serials=serials)
    assert sorted(net.state.packs) == sorted(pack_uri(GTIN, s) for s in serials)
    for serial in serials:
        assert net.state.packs[pack_uri(GTIN, serial)].serial == serial


def test_recalled_stock_is_returned_to_its_manufacturer() -> None:
    """The recall flow: a pharmacy returns packs of a recalled lot; nothing refuses it."""
    net = Net()
    net.at_pharmacy()
    net.do("recall", MFR, Kind.RECALL, subjects=[LOT_URI])
    with pytest.raises(RuleViolation, match="recalled"):
        net.do(
            "ship-recalled", PHARMACY, Kind.SHIP, subjects=[PACK], body={"destination": org_of(MFR)}
        )
    net.do("return", PHARMACY, Kind.RETURN, subjects=[PACK], body={"destination": org_of(MFR)})
    net.do("receive-return", MFR, Kind.RECEIVE, subjects=[PACK], refs=["return"])
    assert status_of(net) == (Status.ACTIVE, MFR)
