"""Feeds: chain links, forks and frozen feeds, and the writer's sequence and ts rules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import lifecycle
from ledger.action import Action
from ledger.entry import Payload, SignedEntry, sign
from ledger.errors import (
    ChainError,
    FeedFrozen,
    PrevMismatch,
    SequenceGap,
    SignatureInvalid,
    TimeRegression,
    WrongFeed,
)
from ledger.feed import Feed, FeedWriter, ForkDetected, check_fork, verify_chain, verify_link
from ledger.kinds import Kind
from ledger.state import MemoryState
from ledger.status import Status
from tests.ledger.builders import (
    DIST,
    MFR,
    PACK,
    PHARMACY,
    PHARMACY2,
    Net,
    keys,
    later,
    membership,
)

T0 = "2026-03-02T08:00:00.000Z"


def entry(
    seq: int,
    prev: SignedEntry | str | None,
    *,
    ts: str = T0,
    feed: str = PHARMACY,
    reason: str = "audit",
    key: Ed25519PrivateKey | None = None,
) -> SignedEntry:
    prev_id = prev.id if isinstance(prev, SignedEntry) else prev
    payload = Payload(
        feed=feed,
        seq=seq,
        prev=prev_id,
        ts=ts,
        kind=Kind.LOCK,
        subjects=(PACK,),
        body={"reason": reason},
    )
    return sign(payload, key or keys()[feed])


def honest_feed(size: int, feed: str = PHARMACY) -> list[SignedEntry]:
    entries: list[SignedEntry] = []
    for seq in range(size):
        entries.append(
            entry(seq, entries[-1] if entries else None, ts=later(T0, minutes=seq), feed=feed)
        )
    return entries


def test_honest_feed_verifies_and_returns_its_head() -> None:
    entries = honest_feed(4)
    assert verify_chain(entries, membership(), feed=PHARMACY) is entries[-1]


def test_slice_verifies_after_the_held_head() -> None:
    entries = honest_feed(4)
    assert verify_chain(entries[2:], membership(), after=entries[1]) is entries[-1]


def test_empty_slice_keeps_the_head() -> None:
    head = honest_feed(1)[0]
    assert verify_chain([], membership(), after=head) is head


def test_equal_timestamps_within_a_feed_are_allowed() -> None:
    first = entry(0, None)
    verify_chain([first, entry(1, first, ts=T0)], membership(), feed=PHARMACY)


def chain_gap() -> list[SignedEntry]:
    first = entry(0, None)
    return [first, entry(2, first)]


def chain_opens_at_1() -> list[SignedEntry]:
    return [entry(1, "00" * 32)]


def chain_repeats_seq() -> list[SignedEntry]:
    first = entry(0, None)
    return [first, entry(0, None, reason="again")]


def chain_wrong_prev() -> list[SignedEntry]:
    first = entry(0, None)
    return [first, entry(1, hashlib.sha256(b"not the entry before").hexdigest())]


def chain_prev_of_two_back() -> list[SignedEntry]:
    a = entry(0, None)
    b = entry(1, a)
    return [a, b, entry(2, a)]


def chain_ts_backwards() -> list[SignedEntry]:
    first = entry(0, None, ts=later(T0, minutes=5))
    return [first, entry(1, first, ts=later(T0, minutes=4, seconds=59, milliseconds=999))]


def chain_other_feed() -> list[SignedEntry]:
    first = entry(0, None)
    return [first, entry(1, first, feed=PHARMACY2)]


def chain_opens_with_other_feed() -> list[SignedEntry]:
    return [entry(0, None, feed=PHARMACY2)]


CHAIN_CASES: list[tuple[str, Callable[[], list[SignedEntry]], type[ChainError]]] = [
    ("gap_in_seq", chain_gap, SequenceGap),
    ("feed_not_opened_at_seq_0", chain_opens_at_1, SequenceGap),
    ("seq_repeated", chain_repeats_seq, SequenceGap),
    ("wrong_prev", chain_wrong_prev, PrevMismatch),
    ("prev_of_the_entry_two_back", chain_prev_of_two_back, PrevMismatch),
    ("ts_going_backwards_by_1ms", chain_ts_backwards, TimeRegression),
    ("entry_of_another_feed_mid_chain", chain_other_feed, WrongFeed),
    ("entry_of_another_feed_opening", chain_opens_with_other_feed, WrongFeed),
]
#: A held feed sees a repeated position as what it is: two signed entries at one seq.
APPEND_ERROR: dict[str, type[ChainError]] = {"seq_repeated": ForkDetected}


@pytest.mark.parametrize(
    ("build", "error"), [(b, e) for _, b, e in CHAIN_CASES], ids=[i for i, _, _ in CHAIN_CASES]
)
def test_broken_chain_is_refused(
    build: Callable[[], list[SignedEntry]], error: type[ChainError]
) -> None:
    with pytest.raises(error):
        verify_chain(build(), membership(), feed=PHARMACY)


@pytest.mark.parametrize(
    ("build", "error"),
    [(b, APPEND_ERROR.get(i, e)) for i, b, e in CHAIN_CASES],
    ids=[i for i, _, _ in CHAIN_CASES],
)
def test_broken_chain_is_refused_by_feed_append(
    build: Callable[[], list[SignedEntry]], error: type[ChainError]
) -> None:
    feed = Feed(PHARMACY)
    entries = build()
    for item in entries[:-1]:
        feed.append(item, membership())
    with pytest.raises(error):
        feed.append(entries[-1], membership())
    assert feed.entries == entries[:-1]


def test_verify_link_names_both_positions() -> None:
    first, bad = chain_gap()
    with pytest.raises(SequenceGap, match="expected seq 1, found seq 2"):
        verify_link(first, bad)


# -- forks -------------------------------------------------------------------------------------


def fork_pair() -> tuple[SignedEntry, SignedEntry, SignedEntry]:
    """An honest entry 0, and two different validly signed entries at seq 1."""
    first = entry(0, None)
    return first, entry(1, first, reason="one"), entry(1, first, reason="two")


def test_check_fork_on_two_signed_entries_at_one_position_is_fork_detected() -> None:
    _, a, b = fork_pair()
    with pytest.raises(ForkDetected) as caught:
        check_fork(a, b, membership())
    assert (caught.value.first, caught.value.second) == (a, b)


@pytest.mark.parametrize(
    "pair",
    ["same_entry_twice", "different_positions", "different_feeds"],
)
def test_check_fork_without_a_fork_is_silent(pair: str) -> None:
    first, a, b = fork_pair()
    other = honest_feed(2, feed=PHARMACY2)[1]
    left, right = {
        "same_entry_twice": (a, a),
        "different_positions": (first, b),
        "different_feeds": (a, other),
    }[pair]
    check_fork(left, right, membership())


def test_fork_at_one_position_freezes_the_feed() -> None:
    first, a, b = fork_pair()
    feed = Feed(PHARMACY)
    assert feed.append(first, membership())
    assert feed.append(a, membership())
    with pytest.raises(ForkDetected) as caught:
        feed.append(b, membership())
    assert feed.fork is caught.value
    assert feed.entries == [first, a]
    with pytest.raises(FeedFrozen):
        feed.append(entry(2, a), membership())
    assert feed.append(a, membership()) is False  # a held entry is still just held


def test_forged_second_entry_at_a_position_is_signature_invalid_not_a_fork() -> None:
    first, a, _ = fork_pair()
    forged = entry(1, first, reason="forged", key=keys()[DIST])
    with pytest.raises(SignatureInvalid):
        check_fork(a, forged, membership())
    feed = Feed(PHARMACY)
    feed.append(first, membership())
    feed.append(a, membership())
    with pytest.raises(SignatureInvalid):
        feed.append(forged, membership())
    assert feed.fork is None
    assert feed.append(entry(2, a), membership())


def test_forged_first_entry_of_a_fork_is_signature_invalid_too() -> None:
    first, a, _ = fork_pair()
    forged = entry(1, first, reason="forged", key=keys()[DIST])
    with pytest.raises(SignatureInvalid):
        check_fork(forged, a, membership())


def test_appending_the_held_entry_again_is_idempotent() -> None:
    entries = honest_feed(3)
    feed = Feed(PHARMACY)
    for item in entries:
        assert feed.append(item, membership())
    assert [feed.append(item, membership()) for item in entries] == [False] * 3
    assert feed.entries == entries


# -- the writer --------------------------------------------------------------------------------


def test_writer_signs_only_at_head_plus_one() -> None:
    writer = FeedWriter(PHARMACY, keys()[PHARMACY])
    payload = writer.next_payload(Action(Kind.LOCK), ts=T0)
    writer.sign(payload)
    with pytest.raises(SequenceGap):
        writer.sign(payload)  # seq 0 again: a fork the writer refuses to sign


def test_writer_refuses_to_sign_for_another_feed() -> None:
    writer = FeedWriter(PHARMACY, keys()[PHARMACY])
    other = FeedWriter(PHARMACY2, keys()[PHARMACY]).next_payload(Action(Kind.LOCK), ts=T0)
    with pytest.raises(SequenceGap):
        writer.sign(other)


def test_writer_never_stamps_behind_its_head() -> None:
    writer = FeedWriter(PHARMACY, keys()[PHARMACY])
    head = writer.append(Kind.LOCK, ts=later(T0, hours=1))
    assert writer.next_payload(Action(Kind.LOCK), ts=T0).ts == head.payload.ts


def test_writer_stamps_strictly_after_every_ref() -> None:
    """A ref's ts is a floor one millisecond up: (ts, feed, seq) then puts the ref first."""
    writer = FeedWriter(PHARMACY, keys()[PHARMACY])
    ref_ts = later(T0, minutes=3)
    assert writer.next_payload(Action(Kind.RECEIVE), ts=T0, not_before=[ref_ts]).ts == later(
        ref_ts, milliseconds=1
    )
    assert writer.next_payload(Action(Kind.RECEIVE), ts=ref_ts, not_before=[ref_ts]).ts > ref_ts
    assert writer.next_payload(
        Action(Kind.RECEIVE), ts=later(T0, hours=1), not_before=[ref_ts]
    ).ts == later(T0, hours=1)


def test_receive_written_in_the_same_millisecond_as_its_ship_folds_after_it() -> None:
    """city-pharmacy sorts before nordic-dist: a tie on ts would fold the receive first."""
    net = Net()
    net.commission()
    net.deliver("dist", MFR, DIST)
    ship = net.sign("ship", DIST, Kind.SHIP, subjects=[PACK], body={"destination": "city-pharmacy"})
    receive = net.sign(
        "receive", PHARMACY, Kind.RECEIVE, subjects=[PACK], refs=["ship"], ts=ship.payload.ts
    )
    assert receive.payload.order_key > ship.payload.order_key
    state = MemoryState()
    alerts = lifecycle.fold(net.entries.values(), net.membership, state)
    assert alerts == []
    assert (state.packs[PACK].status, state.packs[PACK].custodian) == (Status.ACTIVE, PHARMACY)
