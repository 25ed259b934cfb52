"""A node that serves forged, altered or cut provenance never gets a RELEASE.

Each test runs a real HTTP server over the story's store that tampers with what it serves (the
adversary), and the scanner verifies what arrives.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import membership as ms
from ledger.entry import Payload, SignedEntry, entry_id, sign
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from scanner.outcome import Outcome
from scanner.sources.online import verify_online
from scanner.verdict import Decision
from scanner.verifying import VerifyError
from tests.node.world import GTIN, key
from tests.scanner.conftest import DISPENSED, OK, UNKNOWN, Story, scanned
from tests.scanner.server import VERIFIER, Node, open_node, serve
from tests.scanner.world import EXPIRY, LOT, scan_world

TODAY = "2027-06-01"
ATTACKER = Ed25519PrivateKey.from_private_bytes(b"\x66" * 32)
Wires = list[dict[str, Any]]


@contextmanager
def adversary(story: Story, **kwargs: Any) -> Iterator[Node]:
    node = open_node(story.world, story.data, **kwargs)
    with serve(node) as running:
        yield running
    node.store.close()


def ask(story: Story, node: Node, serial: str, lot: str = LOT, **options: Any) -> Outcome:
    return verify_online(
        scanned(serial, lot, EXPIRY),
        node.url,
        VERIFIER,
        membership_pin=story.world.pin,
        today=TODAY,
        **options,
    )


def codes(outcome: Outcome) -> list[str]:
    return [r.code for r in outcome.verdict.reasons]


def _entries(wires: Wires) -> list[SignedEntry]:
    return [SignedEntry.from_wire(w) for w in wires]


def _without(test: Callable[[SignedEntry], bool]) -> Callable[[Wires, str], Wires]:
    def tamper(wires: Wires, _uri: str) -> Wires:
        return [w for w, e in zip(wires, _entries(wires), strict=True) if not test(e)]

    return tamper


def _payload(entry: SignedEntry) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(entry.payload_bytes)
    return loaded


def _with(extra: Callable[[list[SignedEntry]], SignedEntry]) -> Callable[[Wires, str], Wires]:
    def tamper(wires: Wires, _uri: str) -> Wires:
        return [*wires, extra(_entries(wires)).to_wire()]

    return tamper


def _added(
    make: Callable[[Story], SignedEntry],
) -> Callable[[Story], Callable[[Wires, str], Wires]]:
    return lambda story: lambda wires, _uri: [*wires, make(story).to_wire()]


def _fixed(
    tamper: Callable[[Wires, str], Wires],
) -> Callable[[Story], Callable[[Wires, str], Wires]]:
    return lambda _story: tamper


def _relot(wires: Wires, *, fix_id: bool) -> Wires:
    """The commissioning says lot L9 (what the falsified pack prints), signature unchanged."""
    out = []
    for wire, entry in zip(wires, _entries(wires), strict=True):
        if entry.payload.kind is not Kind.COMMISSION:
            out.append(wire)
            continue
        changed = entry.payload_bytes.replace(b'"lotNumber":"L1"', b'"lotNumber":"L9"')
        changed = changed.replace(b"/10/L1", b"/10/L9")
        out.append(
            {
                "id": entry_id(changed) if fix_id else entry.id,
                "payload": base64.b64encode(changed).decode(),
                "signature": wire["signature"],
            }
        )
    return out


def _head(story: Story, feed: str) -> SignedEntry:
    head = story.world.writers[feed].head
    assert head is not None
    return head


def _forged_commission(story: Story) -> SignedEntry:
    """A commissioning of the unknown serial, 'by the manufacturer's line', with another key."""
    head = _head(story, "acme/line1")
    payload = Payload(
        feed="acme/line1",
        seq=head.payload.seq + 1,
        prev=head.id,
        ts=head.payload.ts,
        kind=Kind.COMMISSION,
        subjects=(lot_uri(GTIN, LOT),),
        body={
            "gtin": GTIN,
            "ilmd": {"lotNumber": LOT, "itemExpirationDate": EXPIRY},
            "serials": [UNKNOWN],
        },
    )
    return sign(payload, ATTACKER)


def _member_out_of_role(story: Story) -> SignedEntry:
    """The distributor signs a commissioning with its own, valid key: not a kind it may write."""
    forged = _forged_commission(story)
    head = _head(story, "dist/wh")
    payload = Payload(
        feed="dist/wh",
        seq=head.payload.seq + 1,
        prev=head.id,
        ts=head.payload.ts,
        kind=Kind.COMMISSION,
        subjects=forged.payload.subjects,
        body=forged.payload.body,
    )
    return sign(payload, key(12))


def _fork(entries: list[SignedEntry]) -> SignedEntry:
    """The pharmacy's key signs a second, different entry at the position of its receive."""
    receive = next(
        e for e in entries if e.payload.kind is Kind.RECEIVE and e.payload.feed == "ph/a"
    )
    p = receive.payload
    twin = Payload(p.feed, p.seq, p.prev, p.ts, p.kind, p.subjects, p.refs, {"note": "other"})
    return sign(twin, key(14))


def _broken_link(entries: list[SignedEntry]) -> SignedEntry:
    """The next entry of the pharmacy's feed, validly signed, continuing some other history."""
    receive = next(
        e for e in entries if e.payload.kind is Kind.RECEIVE and e.payload.feed == "ph/a"
    )
    p = receive.payload
    after = Payload(p.feed, p.seq + 1, "0" * 64, p.ts, Kind.LOCK, p.subjects, (), {})
    return sign(after, key(14))


TAMPERED: list[tuple[str, str, str, Any, Decision, str]] = [
    # (case, serial, printed lot, tamper, verdict, reason)
    (
        "forged_commissioning_of_an_unknown_serial",
        UNKNOWN,
        LOT,
        _added(_forged_commission),
        Decision.REJECT,
        "forged",
    ),
    (
        "member_signing_a_kind_it_may_not",
        UNKNOWN,
        LOT,
        _added(_member_out_of_role),
        Decision.REJECT,
        "forged",
    ),
    (
        "altered_lot_same_id",
        OK,
        "L9",
        _fixed(lambda w, u: _relot(w, fix_id=False)),
        Decision.REJECT,
        "altered",
    ),
    (
        "altered_lot_new_id",
        OK,
        "L9",
        _fixed(lambda w, u: _relot(w, fix_id=True)),
        Decision.REJECT,
        "forged",
    ),
    (
        "signature_bytes_changed",
        OK,
        LOT,
        _fixed(
            lambda w, u: [{**x, "signature": base64.b64encode(b"\x00" * 64).decode()} for x in w]
        ),
        Decision.REJECT,
        "forged",
    ),
    (
        "not_an_entry",
        OK,
        LOT,
        _fixed(lambda w, u: [*w, {"payload": "!!", "signature": ""}]),
        Decision.REJECT,
        "altered",
    ),
    (
        "commissioning_cut",
        OK,
        LOT,
        _fixed(_without(lambda e: e.payload.kind is Kind.COMMISSION)),
        Decision.HOLD,
        "unknown_pack",
    ),
    (
        "shipment_to_pharmacy_cut",
        OK,
        LOT,
        _fixed(_without(lambda e: e.payload.kind is Kind.SHIP and e.payload.feed == "dist/wh")),
        Decision.HOLD,
        "incomplete_provenance",
    ),
    ("second_history_signed_at_one_position", OK, LOT, _fixed(_with(_fork)), Decision.HOLD, "fork"),
    (
        "entry_continuing_another_history",
        OK,
        LOT,
        _fixed(_with(_broken_link)),
        Decision.HOLD,
        "broken_chain",
    ),
]


@pytest.mark.parametrize(
    ("case", "serial", "lot", "tamper", "decision", "reason"),
    TAMPERED,
    ids=[t[0] for t in TAMPERED],
)
def test_tampered_provenance_is_never_released(
    story: Story, case: str, serial: str, lot: str, tamper: Any, decision: Decision, reason: str
) -> None:
    with adversary(story, tamper=tamper(story)) as node:
        outcome = ask(story, node, serial, lot)
    assert outcome.decision is decision, outcome.verdict.reasons
    assert reason in codes(outcome)


def test_a_history_cut_after_commissioning_holds_for_the_pack_holder(story: Story) -> None:
    only_commissioning = _without(lambda e: e.payload.kind is not Kind.COMMISSION)
    with adversary(story, tamper=only_commissioning) as node:
        outcome = ask(story, node, OK, custodian="ph")
        blind = ask(story, node, OK)
    assert outcome.decision is Decision.HOLD
    assert "not_in_custody" in codes(outcome)
    # Without knowing who scans, a pack still at its manufacturer looks fine: name who you are.
    assert blind.decision is Decision.RELEASE


def test_a_hidden_last_step_is_not_visible_in_one_answer(story: Story) -> None:
    """The limit of asking one node (docs/spec/scanner.md): entries left out at the end of a
    history leave no trace in what is sent. Offline data or a second node shows them."""
    hide = _without(lambda e: e.payload.kind is Kind.DISPENSE)
    with adversary(story, tamper=hide) as node:
        outcome = ask(story, node, DISPENSED, custodian="ph")
    assert outcome.decision is Decision.RELEASE


# -- the membership -----------------------------------------------------------------------------


def test_a_membership_version_not_signed_by_the_governance_is_rejected(story: Story) -> None:
    world = story.world
    attacker_gov = Ed25519PrivateKey.from_private_bytes(b"\x77" * 32)
    evil = world.membership.with_feed("acme", "acme/evil", ms.raw_public(ATTACKER))
    forged = ms.sign_membership(evil, {"gov-1": attacker_gov})

    def versions() -> list[dict[str, Any]]:
        return [world.signed.to_wire(), forged.to_wire()]

    with adversary(story, memberships=versions) as node:
        outcome = ask(story, node, OK)
    assert outcome.decision is Decision.REJECT
    assert codes(outcome) == ["forged_membership"]


def test_another_consortium_is_not_the_pinned_one(story: Story) -> None:
    other = scan_world()
    other_genesis = ms.sign_membership(
        ms.genesis(
            "other", {"gov-1": ms.raw_public(key(2))}, 1, other.membership.organisations.values()
        ),
        {"gov-1": key(2)},
    )
    with adversary(story, memberships=lambda: [other_genesis.to_wire()]) as node:
        outcome = ask(story, node, OK)
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["wrong_consortium"]


def test_a_malformed_membership_is_rejected(story: Story) -> None:
    with adversary(story, memberships=lambda: [{"membership": "!!", "signatures": {}}]) as node:
        outcome = ask(story, node, OK)
    assert outcome.decision is Decision.REJECT


# -- a node that does not answer properly -------------------------------------------------------


@pytest.mark.parametrize(("status", "words"), [(500, "answered 500"), (429, "rate-limiting")])
def test_a_failing_node_means_hold(story: Story, status: int, words: str) -> None:
    with adversary(story, status=status) as node:
        outcome = ask(story, node, OK)
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["ledger_unreachable"]
    assert words in outcome.verdict.reasons[0].message


def test_an_unreachable_node_means_hold(story: Story) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = verify_online(
        scanned(OK), f"http://127.0.0.1:{port}", VERIFIER, membership_pin=story.world.pin, timeout=2
    )
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["ledger_unreachable"]


def test_a_refused_token_is_a_usage_problem(story: Story) -> None:
    with adversary(story) as node, pytest.raises(VerifyError, match="refused the token"):
        verify_online(scanned(OK), node.url, "wrong", membership_pin=story.world.pin)


def test_an_answer_without_entries_holds(story: Story) -> None:
    with adversary(story) as node:
        node.provenance = lambda gtin, serial: {"memberships": [story.world.signed.to_wire()]}  # type: ignore[method-assign]
        outcome = ask(story, node, OK)
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["bad_answer"]
