"""Verdicts for every alert case of docs/architecture.md §4, from a node's real store (offline) and over
HTTP from an honest node (online): both must agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.alerts import Code
from node.replication.bundles import export_bundle
from node.store import Store
from scanner.sources.offline import verify_offline
from scanner.sources.online import verify_online
from scanner.verdict import Decision, Reason, Scanned, decide
from scanner.verifying import VerifyError
from tests.scanner.conftest import (
    CLONED,
    CUSTODY,
    DETAINED,
    DISPENSED,
    IN_TRANSIT,
    LOCKED,
    OK,
    RECALLED,
    RECALLED_LOT,
    STOLEN,
    UNKNOWN,
    Story,
    scanned,
)
from tests.scanner.server import VERIFIER, Node
from tests.scanner.world import EXPIRY, LOT

TODAY = "2027-06-01"

CASES: list[tuple[str, str, str | None, str | None, dict[str, object], Decision, str]] = [
    # (case, serial, printed lot, printed expiry, options, verdict, reason)
    ("authentic", OK, LOT, EXPIRY, {}, Decision.RELEASE, "authentic"),
    ("unknown_pack", UNKNOWN, LOT, EXPIRY, {}, Decision.HOLD, "unknown_pack"),
    ("lot_mismatch", OK, "L9", EXPIRY, {}, Decision.REJECT, "lot_mismatch"),
    ("expiry_mismatch", OK, LOT, "2030-11-30", {}, Decision.REJECT, "expiry_mismatch"),
    ("already_dispensed", DISPENSED, LOT, EXPIRY, {}, Decision.REJECT, "already_dispensed"),
    ("suspected_clone", CLONED, LOT, EXPIRY, {}, Decision.REJECT, "suspected_clone"),
    ("custody_violation", CUSTODY, LOT, EXPIRY, {}, Decision.HOLD, "custody_violation"),
    ("recalled", RECALLED, RECALLED_LOT, EXPIRY, {}, Decision.REJECT, "recalled"),
    ("stolen", STOLEN, LOT, EXPIRY, {}, Decision.REJECT, "stolen"),
    ("expired", OK, LOT, EXPIRY, {"today": "2031-01-01"}, Decision.REJECT, "expired"),
    ("locked", LOCKED, LOT, EXPIRY, {}, Decision.HOLD, "locked"),
    ("quarantined", DETAINED, LOT, EXPIRY, {}, Decision.HOLD, "quarantined"),
    ("in_transit", IN_TRANSIT, LOT, EXPIRY, {}, Decision.HOLD, "in_transit"),
    (
        "in_transit_at_customs",
        IN_TRANSIT,
        LOT,
        EXPIRY,
        {"in_transit_ok": True},
        Decision.RELEASE,
        "authentic",
    ),
    (
        "not_in_your_custody",
        OK,
        LOT,
        EXPIRY,
        {"custodian": "dist"},
        Decision.HOLD,
        "not_in_custody",
    ),
    ("in_your_custody", OK, LOT, EXPIRY, {"custodian": "ph"}, Decision.RELEASE, "authentic"),
    ("no_lot_printed_is_not_checked", OK, None, None, {}, Decision.RELEASE, "authentic"),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(
    ("case", "serial", "lot", "expiry", "options", "decision", "reason"), CASES, ids=IDS
)
def test_offline_verdicts(
    story: Story,
    case: str,
    serial: str,
    lot: str | None,
    expiry: str | None,
    options: dict[str, object],
    decision: Decision,
    reason: str,
) -> None:
    kwargs = {"today": TODAY, **options}
    outcome = verify_offline(scanned(serial, lot, expiry), story.data, **kwargs)  # type: ignore[arg-type]
    assert outcome.decision is decision, outcome.verdict.reasons
    assert reason in [r.code for r in outcome.verdict.reasons]
    assert outcome.source == "offline"
    assert not outcome.freshness.stale


@pytest.mark.parametrize(
    ("case", "serial", "lot", "expiry", "options", "decision", "reason"), CASES, ids=IDS
)
def test_online_verdicts_agree(
    story: Story,
    node: Node,
    case: str,
    serial: str,
    lot: str | None,
    expiry: str | None,
    options: dict[str, object],
    decision: Decision,
    reason: str,
) -> None:
    kwargs = {"today": TODAY, **options}
    outcome = verify_online(
        scanned(serial, lot, expiry),
        node.url,
        VERIFIER,
        membership_pin=story.world.pin,
        **kwargs,  # type: ignore[arg-type]
    )
    assert outcome.decision is decision, outcome.verdict.reasons
    assert reason in [r.code for r in outcome.verdict.reasons]
    assert outcome.source == "online"


def test_withdrawn_product_is_rejected(withdrawn_story: Story) -> None:
    outcome = verify_offline(scanned(OK), withdrawn_story.data, today=TODAY)
    assert outcome.decision is Decision.REJECT
    assert "withdrawn" in [r.code for r in outcome.verdict.reasons]


def test_the_clone_alert_carries_both_dispenses_as_evidence(story: Story) -> None:
    outcome = verify_offline(scanned(CLONED), story.data, today=TODAY)
    (clone,) = [a for a in outcome.verdict.alerts if a.code is Code.SUSPECTED_CLONE]
    dispenses = [e.id for e in outcome.verdict.timeline if e.payload.kind.value == "dispense"]
    assert set(clone.evidence) == set(dispenses)


def test_the_verdict_json_has_the_documented_shape(story: Story) -> None:
    value = verify_offline(scanned(OK), story.data, today=TODAY).to_json()
    assert {
        "verdict",
        "pack",
        "gtin",
        "serial",
        "lot",
        "expiry",
        "reasons",
        "timeline",
        "alerts",
        "freshness",
        "source",
    } <= set(value)
    assert value["verdict"] == "RELEASE"
    assert [t["kind"] for t in value["timeline"]][:2] == ["commission", "pack"]
    assert set(value["timeline"][0]) >= {"ts", "feed", "kind", "entry"}
    assert value["freshness"]["source"] == "store"


# -- offline freshness --------------------------------------------------------------------------


def test_offline_data_older_than_the_limit_holds(story: Story) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    outcome = verify_offline(scanned(OK), story.data, today=TODAY, now=later)
    assert outcome.decision is Decision.HOLD
    assert next(r.code for r in outcome.verdict.reasons) == "stale_data"
    assert outcome.freshness.stale
    assert outcome.freshness.age_s is not None
    assert outcome.freshness.age_s > 86400


def test_the_limit_is_configurable(story: Story) -> None:
    outcome = verify_offline(scanned(OK), story.data, today=TODAY, max_age=timedelta(seconds=1))
    assert outcome.decision is Decision.HOLD
    relaxed = verify_offline(scanned(OK), story.data, today=TODAY, max_age=timedelta(days=7))
    assert relaxed.decision is Decision.RELEASE


def test_stale_data_does_not_soften_a_reject(story: Story) -> None:
    outcome = verify_offline(
        scanned(DISPENSED), story.data, today=TODAY, max_age=timedelta(seconds=1)
    )
    assert outcome.decision is Decision.REJECT
    assert {"already_dispensed", "stale_data"} <= {r.code for r in outcome.verdict.reasons}


def test_a_bundle_verifies_like_the_store_and_states_its_age(story: Story, tmp_path: Path) -> None:
    bundle = tmp_path / "post.mtb"
    with Store(story.data / "node.db") as store:
        export_bundle(store, bundle)
    outcome = verify_offline(scanned(OK), bundle, membership_pin=story.world.pin, today=TODAY)
    assert outcome.decision is Decision.RELEASE
    assert outcome.freshness.source == "bundle"
    assert [
        verify_offline(scanned(s), bundle, membership_pin=story.world.pin, today=TODAY).decision
        for s in (DISPENSED, CUSTODY, UNKNOWN)
    ] == [Decision.REJECT, Decision.HOLD, Decision.HOLD]


def test_a_bundle_needs_a_pinned_genesis(story: Story, tmp_path: Path) -> None:
    bundle = tmp_path / "post.mtb"
    with Store(story.data / "node.db") as store:
        export_bundle(store, bundle)
    with pytest.raises(VerifyError, match="--genesis"):
        verify_offline(scanned(OK), bundle)


def test_a_cut_bundle_never_releases(story: Story, tmp_path: Path) -> None:
    bundle = tmp_path / "post.mtb"
    with Store(story.data / "node.db") as store:
        export_bundle(store, bundle)
    cut = tmp_path / "cut.mtb"
    cut.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    outcome = verify_offline(scanned(OK), cut, membership_pin=story.world.pin, today=TODAY)
    assert outcome.decision is not Decision.RELEASE
    assert "incomplete_bundle" in [r.code for r in outcome.verdict.reasons]


def test_offline_data_that_is_not_there_is_a_usage_problem(tmp_path: Path) -> None:
    with pytest.raises(VerifyError, match="no such data directory"):
        verify_offline(scanned(OK), tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VerifyError, match=r"node\.json"):
        verify_offline(scanned(OK), tmp_path / "empty")


# -- decide() stays what the demo calls ---------------------------------------------------------


def test_decide_keeps_its_signature(story: Story) -> None:
    with Store(story.data / "node.db") as store:
        provenance = store.provenance(
            scanned(OK).gtin and f"https://id.gs1.org/01/{scanned(OK).gtin}/21/{OK}"
        )
    verdict = decide(
        Scanned(scanned(OK).gtin, OK, LOT, EXPIRY), provenance, story.world.membership, today=TODAY
    )
    assert verdict.decision is Decision.RELEASE
    assert verdict.reasons[-1] == Reason("authentic", verdict.reasons[-1].message)
