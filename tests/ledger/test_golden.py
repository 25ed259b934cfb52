"""Golden vectors: the committed bytes are what the code signs, and they stay verifiable."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from typing import Any

import pytest

from ledger import lifecycle
from ledger.entry import ENTRY_DOMAIN, SignedEntry
from ledger.errors import SignatureInvalid
from ledger.feed import verify_chain
from ledger.membership import MembershipChain, SignedMembership
from ledger.state import MemoryState
from ledger.status import Status
from tests.vectors import golden
from tests.vectors.regenerate import main as regenerate_main


def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(golden.GOLDEN_PATH.read_text(encoding="utf-8"))
    return data


def committed_entries() -> list[tuple[str, SignedEntry]]:
    return [
        (
            row["step"],
            SignedEntry.from_bytes(
                row["payload"].encode("utf-8"), base64.b64decode(row["signature"])
            ),
        )
        for row in committed()["entries"]
    ]


def committed_genesis() -> SignedMembership:
    wire = committed()["membership"]["wire"]
    return SignedMembership.from_wire(wire)


def test_regenerating_the_vectors_gives_the_committed_file_byte_for_byte() -> None:
    text = golden.render(golden.build_vectors())
    assert text.encode("utf-8") == golden.GOLDEN_PATH.read_bytes(), (
        "golden.json differs from what the code produces now; if the format change is intended, "
        "run python -m tests.vectors.regenerate and review the diff"
    )


def test_regenerate_check_mode_reports_up_to_date() -> None:
    assert regenerate_main(["--check"]) == 0


def test_committed_genesis_is_pinned_by_its_id_and_meets_its_threshold() -> None:
    data = committed()["membership"]
    signed = committed_genesis()
    assert signed.doc_bytes == data["document"].encode("utf-8")
    assert signed.id == data["id"]
    chain = MembershipChain(signed, data["id"])
    assert chain.current.version == 1
    assert chain.current.threshold == golden.THRESHOLD
    assert sorted(signed.signatures) == sorted(golden.GENESIS_SIGNERS)


def test_committed_keys_are_the_ones_the_membership_lists() -> None:
    data = committed()
    membership = committed_genesis().membership
    for feed, row in data["keys"]["feeds"].items():
        assert base64.b64encode(membership.feed(feed).keys[0].public).decode() == row["public"]
    for name, row in data["keys"]["governance"].items():
        assert base64.b64encode(membership.governance[name]).decode() == row["public"]


def test_committed_entries_verify_feed_by_feed_against_the_committed_membership() -> None:
    membership = committed_genesis().membership
    by_feed: dict[str, list[SignedEntry]] = defaultdict(list)
    for _, entry in committed_entries():
        by_feed[entry.payload.feed].append(entry)
    assert set(by_feed) == {m.feed for m in golden.MEMBERS} - {golden.REGULATOR}
    for feed, entries in by_feed.items():
        head = verify_chain(entries, membership, feed=feed)
        assert head is entries[-1]


def test_committed_ids_are_the_sha256_of_the_committed_payloads() -> None:
    rows = committed()["entries"]
    for row, (_, entry) in zip(rows, committed_entries(), strict=True):
        assert entry.id == row["id"]
        assert entry.to_wire()["id"] == row["id"]


def test_committed_signatures_cover_the_entry_domain_prefix() -> None:
    membership = committed_genesis().membership
    _, entry = committed_entries()[0]
    key = membership.authorise(entry.payload)
    key.verify(entry.signature, ENTRY_DOMAIN + entry.payload_bytes)
    bare = SignedEntry.from_bytes(
        entry.payload_bytes, golden.seed_key(0x11).sign(entry.payload_bytes)
    )
    with pytest.raises(SignatureInvalid):
        bare.verify_signature(key)


def test_committed_scenario_folds_to_one_dispensed_pack_and_two_at_the_pharmacy() -> None:
    membership = committed_genesis().membership
    state = MemoryState()
    alerts = lifecycle.fold([e for _, e in reversed(committed_entries())], membership, state)
    assert alerts == []
    dispensed, *others = (state.packs[uri] for uri in golden.PACKS)
    assert (dispensed.status, dispensed.custodian) == (Status.DISPENSED, golden.PHARMACY)
    for pack in others:
        assert (pack.status, pack.custodian, pack.container) == (
            Status.ACTIVE,
            golden.PHARMACY,
            golden.CASE,
        )
    case = state.containers[golden.CASE]
    assert (case.custodian, case.status, case.children) == (
        golden.PHARMACY,
        Status.ACTIVE,
        set(golden.PACKS),
    )


def test_committed_steps_are_the_documented_scenario_in_order() -> None:
    assert [step for step, _ in committed_entries()] == [
        "commission",
        "pack",
        "ship-to-distributor",
        "receive-at-distributor",
        "inspect-release",
        "ship-to-pharmacy",
        "receive-at-pharmacy",
        "dispense",
    ]
