"""Signature checks in helper processes report what checking one entry at a time would, and a
helper that fails leaves the checks to the caller, with the same verdicts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ledger.entry import ENTRY_DOMAIN
from ledger.errors import KindNotAllowed, SignatureInvalid
from ledger.feed import verify_entry
from ledger.kinds import Kind
from node import signature_workers, signatures
from node.signature_workers import Helpers, frame, serve
from node.signatures import CheckedAhead, checked_ahead
from node.store import Store
from tests.node.test_signatures import ENTRIES, MEMBERSHIP, forged, outcome
from tests.node.world import make_world, pack


def checks_of(entries: list) -> list[tuple[bytes, bytes, bytes]]:  # type: ignore[type-arg]
    return [
        (
            MEMBERSHIP.authorise(e.payload).public_bytes_raw(),
            e.signature,
            ENTRY_DOMAIN + e.payload_bytes,
        )
        for e in entries
    ]


def test_a_helper_answers_one_verdict_per_check_in_order() -> None:
    entries = [ENTRIES[0], forged(ENTRIES[1]), ENTRIES[2], forged(ENTRIES[3])]
    source = io.BytesIO(frame(checks_of(entries)) + frame(checks_of(ENTRIES[:2])))
    sink = io.BytesIO()
    serve(source, sink)
    assert sink.getvalue() == bytes([1, 0, 1, 0, 1, 1])


def test_a_helper_stops_at_a_cut_frame() -> None:
    sink = io.BytesIO()
    serve(io.BytesIO(frame(checks_of(ENTRIES[:3]))[:-5]), sink)
    assert sink.getvalue() == b""


def page_with_every_verdict() -> list:  # type: ignore[type-arg]
    world = make_world()
    ships = world.write("acme/line1", Kind.SHIP, subjects=[pack("X")], body={"destination": "ph"})
    not_allowed = world.write("reg/main", Kind.DISPENSE, subjects=[pack("X")])
    return [forged(ENTRIES[2]), *ENTRIES, forged(ENTRIES[5]), ships, not_allowed]


@pytest.mark.parametrize("batch", [1, 7, 128])
def test_helpers_raise_exactly_what_verify_entry_raises(batch: int) -> None:
    helpers = Helpers(2)
    try:
        page = page_with_every_verdict()
        ahead = CheckedAhead(None, page, MEMBERSHIP, helpers=helpers, helper_batch=batch)
        for entry in page:
            expected = outcome(lambda e: verify_entry(e, MEMBERSHIP), entry)
            assert outcome(ahead.check, entry) == expected
        assert outcome(ahead.check, forged(ENTRIES[5]))[0] is SignatureInvalid
        assert outcome(ahead.check, page[-1])[0] is KindNotAllowed
        assert outcome(ahead.check, ENTRIES[5]) == (None, "")
        assert not helpers.failed
    finally:
        helpers.close()


def test_checks_run_in_place_with_the_same_verdicts_when_a_helper_dies() -> None:
    helpers = Helpers(1)
    helpers.start()
    for helper in helpers._helpers:
        helper._process.kill()
        helper._process.wait()
    try:
        page = page_with_every_verdict()
        ahead = CheckedAhead(None, page, MEMBERSHIP, helpers=helpers, helper_batch=8)
        for entry in page:
            expected = outcome(lambda e: verify_entry(e, MEMBERSHIP), entry)
            assert outcome(ahead.check, entry) == expected
        assert helpers.failed
    finally:
        helpers.close()


def test_a_large_page_is_checked_by_the_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signatures, "HELPERS_MIN", len(ENTRIES))
    with checked_ahead(ENTRIES, MEMBERSHIP) as ahead:
        assert ahead._helpers is signature_workers.shared()
        assert all(outcome(ahead.check, e) == (None, "") for e in ENTRIES)


def test_ingest_refuses_a_forged_copy_checked_by_the_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signatures, "HELPERS_MIN", len(ENTRIES))
    page = [forged(ENTRIES[0]), *ENTRIES]
    with Store(tmp_path / "node.db") as store:
        report = store.ingest(page, MEMBERSHIP)
        assert report.added == 0
        assert "signature" in report.rejected[0][1]
        assert store.count("entries") == 0
        forged_late = [*ENTRIES[:20], forged(ENTRIES[20]), *ENTRIES[21:]]
        report = store.ingest(forged_late, MEMBERSHIP)
        assert report.added == 20
        assert "signature" in report.rejected[0][1]
        assert store.ingest(ENTRIES, MEMBERSHIP).added == len(ENTRIES) - 20
