"""Signature checks on a thread pool report what checking one entry at a time would."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ledger.entry import SignedEntry
from ledger.errors import KindNotAllowed, LedgerError, SignatureInvalid
from ledger.feed import verify_entry
from ledger.kinds import Kind
from node.signatures import AHEAD_MIN, CheckedAhead, OrderedChecks, checked_ahead, pool
from node.store import Store
from tests.node.world import make_world, pack


def forged(entry: SignedEntry) -> SignedEntry:
    """The same entry with one signature bit flipped."""
    signature = bytes([entry.signature[0] ^ 0x01]) + entry.signature[1:]
    return dataclasses.replace(entry, signature=signature)


def feed_of(count: int) -> list[SignedEntry]:
    world = make_world()
    out = [world.commission([f"S{n}" for n in range(count)])]
    for n in range(count - 1):
        out.append(world.write("acme/line1", Kind.DESTROY, subjects=[pack(f"S{n}")]))
    return out


ENTRIES = feed_of(40)
assert len(ENTRIES) > AHEAD_MIN
MEMBERSHIP = make_world().membership

FORGED_AT: dict[str, tuple[int, ...]] = {
    "none": (),
    "first": (0,),
    "last": (39,),
    "two-in-one-batch": (12, 13),
    "two-in-far-apart-batches": (7, 31),
}


@pytest.mark.parametrize("batch", [1, 3, 256], ids=lambda b: f"batch-{b}")
@pytest.mark.parametrize("where", FORGED_AT, ids=list(FORGED_AT))
def test_ordered_checks_report_the_earliest_forged_signature(batch: int, where: str) -> None:
    entries = [forged(e) if i in FORGED_AT[where] else e for i, e in enumerate(ENTRIES)]
    with pool() as executor:
        checks: OrderedChecks[int] = OrderedChecks(executor, batch=batch)
        for index, entry in enumerate(entries):
            checks.add(index, entry, MEMBERSHIP.authorise(entry.payload))
        found = checks.first_invalid()
    if not FORGED_AT[where]:
        assert found is None
    else:
        assert found is not None
        assert found[0] == min(FORGED_AT[where])
        assert isinstance(found[1], SignatureInvalid)


def test_ordered_checks_can_be_asked_again_after_more_are_added() -> None:
    with pool() as executor:
        checks: OrderedChecks[int] = OrderedChecks(executor, batch=4)
        for index, entry in enumerate(ENTRIES[:10]):
            checks.add(index, entry, MEMBERSHIP.authorise(entry.payload))
        assert checks.first_invalid() is None
        checks.add(10, forged(ENTRIES[10]), MEMBERSHIP.authorise(ENTRIES[10].payload))
        found = checks.first_invalid()
        assert found is not None
        assert found[0] == 10


def outcome(check: object, entry: SignedEntry) -> tuple[type[LedgerError] | None, str]:
    try:
        check(entry)  # type: ignore[operator]
    except LedgerError as exc:
        return type(exc), str(exc)
    return None, ""


def test_checked_ahead_raises_exactly_what_verify_entry_raises_even_for_a_forged_copy() -> None:
    """A forged copy has the real entry's id (the id covers the payload only): its verdict must
    not be the real one's, whichever of the two comes first in the page."""
    world = make_world()
    ships = world.write("acme/line1", Kind.SHIP, subjects=[pack("X")], body={"destination": "ph"})
    not_allowed = world.write("reg/main", Kind.DISPENSE, subjects=[pack("X")])
    page = [forged(ENTRIES[2]), *ENTRIES, forged(ENTRIES[5]), ships, not_allowed]
    with checked_ahead(page, MEMBERSHIP) as ahead:
        for entry in page:
            expected = outcome(lambda e: verify_entry(e, MEMBERSHIP), entry)
            assert outcome(ahead.check, entry) == expected
    assert outcome(ahead.check, forged(ENTRIES[5]))[0] is SignatureInvalid
    assert outcome(ahead.check, not_allowed)[0] is KindNotAllowed


def test_an_entry_not_checked_ahead_is_checked_in_place() -> None:
    with pool() as executor:
        ahead = CheckedAhead(executor, ENTRIES[:3], MEMBERSHIP)
        assert outcome(ahead.check, ENTRIES[3]) == (None, "")
        assert outcome(ahead.check, forged(ENTRIES[4]))[0] is SignatureInvalid


def test_ingest_refuses_a_forged_copy_sent_in_the_same_page_as_the_real_entry(
    tmp_path: Path,
) -> None:
    page = [forged(ENTRIES[0]), *ENTRIES]  # long enough to be checked ahead on the pool
    with Store(tmp_path / "node.db") as store:
        report = store.ingest(page, MEMBERSHIP)
        assert report.added == 0
        assert "signature" in report.rejected[0][1]
        assert store.count("entries") == 0
        assert store.ingest(ENTRIES, MEMBERSHIP).added == len(ENTRIES)
