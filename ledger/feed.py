"""Feeds: append-only hash chains of signed entries, one per writing site.

``verify_entry`` checks one entry against the membership (key for its position, kind, prefixes)
and its signature; ``verify_link`` checks that it continues the entry before it. Chains and
slices are verified by folding those two over the entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.action import Action
from ledger.entry import VERSION, Payload, SignedEntry, sign
from ledger.errors import (
    ChainError,
    FeedFrozen,
    PrevMismatch,
    SequenceGap,
    TimeRegression,
    WrongFeed,
)
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.timefmt import format_ts, now_ts, parse_ts


class ForkDetected(ChainError):
    """Two different signed entries occupy the same ``(feed, seq)``: proof of equivocation.

    Defined beside the chain rules rather than in ``ledger.errors`` because it carries the two
    entries, and ``ledger.entry`` itself raises errors of that module.
    """

    def __init__(self, message: str, first: SignedEntry, second: SignedEntry) -> None:
        super().__init__(message)
        self.first = first
        self.second = second


def verify_entry(entry: SignedEntry, membership: Membership) -> None:
    """Membership authorisation, then the signature over the exact stored bytes."""
    entry.verify_signature(membership.authorise(entry.payload))


def verify_link(before: SignedEntry | None, entry: SignedEntry, feed: str | None = None) -> None:
    """``entry`` must directly follow ``before`` (``None``: ``entry`` opens the feed)."""
    p = entry.payload
    expected_feed = before.payload.feed if before is not None else feed
    if expected_feed is not None and p.feed != expected_feed:
        raise WrongFeed(f"expected an entry of feed {expected_feed}, found one of {p.feed}")
    expected_seq = before.payload.seq + 1 if before is not None else 0
    if p.seq != expected_seq:
        raise SequenceGap(f"feed {p.feed}: expected seq {expected_seq}, found seq {p.seq}")
    expected_prev = before.id if before is not None else None
    if p.prev != expected_prev:
        raise PrevMismatch(f"feed {p.feed} #{p.seq}: expected prev {expected_prev}, found {p.prev}")
    if before is not None and p.ts < before.payload.ts:
        raise TimeRegression(
            f"feed {p.feed} #{p.seq}: expected ts ≥ {before.payload.ts} (the entry before), found {p.ts}"
        )


def verify_chain(
    entries: Iterable[SignedEntry],
    membership: Membership,
    *,
    after: SignedEntry | None = None,
    feed: str | None = None,
) -> SignedEntry | None:
    """Verify a slice that continues ``after`` (or opens the feed); return the new head."""
    head = after
    for entry in entries:
        verify_link(head, entry, feed)
        verify_entry(entry, membership)
        head = entry
    return head


def check_fork(first: SignedEntry, second: SignedEntry, membership: Membership) -> None:
    """Raise ``ForkDetected`` if both entries are validly signed at the same position and differ.

    Both signatures are checked first: a fork is evidence against the feed's owner only when the
    owner really signed both entries; anything else is just a forgery to refuse.
    """
    a, b = first.payload, second.payload
    if (a.feed, a.seq) != (b.feed, b.seq) or first.id == second.id:
        return
    verify_entry(first, membership)
    verify_entry(second, membership)
    raise ForkDetected(
        f"feed {a.feed}: expected one entry at seq {a.seq}, found two signed ones "
        f"({first.id[:16]}… and {second.id[:16]}…)",
        first,
        second,
    )


@dataclass
class Feed:
    """An in-memory, verified feed: what a store keeps, without the store."""

    id: str
    entries: list[SignedEntry] = field(default_factory=list)
    fork: ForkDetected | None = None

    @property
    def head(self) -> SignedEntry | None:
        return self.entries[-1] if self.entries else None

    def append(self, entry: SignedEntry, membership: Membership) -> bool:
        """Verify and append; ``False`` if this exact entry is already held (idempotent)."""
        seq = entry.payload.seq
        if seq < len(self.entries):
            held = self.entries[seq]
            if held.id == entry.id:
                return False
            try:
                check_fork(held, entry, membership)
            except ForkDetected as fork:
                self.fork = fork
                raise
        if self.fork is not None:
            raise FeedFrozen(
                f"feed {self.id} is frozen at the fork at seq {self.fork.first.payload.seq}"
            )
        verify_link(self.head, entry, self.id)
        verify_entry(entry, membership)
        self.entries.append(entry)
        return True


def _just_after(ts: str) -> str:
    """The next timestamp (one millisecond later) in the fixed form."""
    return format_ts(parse_ts(ts) + timedelta(milliseconds=1))


class FeedWriter:
    """Signs the next entries of one feed with its private key.

    The writer only ever signs at ``head + 1``; a store's unique ``(feed, seq)`` makes a second
    signature at a used position impossible to keep.
    """

    def __init__(
        self,
        feed: str,
        key: Ed25519PrivateKey,
        head: SignedEntry | None = None,
        *,
        version: int = VERSION,
    ) -> None:
        self.feed = feed
        self._key = key
        self.head = head
        #: the entry format written (an older one only to pin its golden vectors)
        self.version = version

    def next_payload(
        self, action: Action, *, ts: str | None = None, not_before: Iterable[str] = ()
    ) -> Payload:
        """The payload at the next position.

        ``ts`` never goes behind the head, and lies strictly after every ``not_before`` (the ts of
        each entry this one refs): on a tie the order key would fall back to the feed id, which
        can sort a receive before its ship.
        """
        floor = max([self.head.payload.ts if self.head else "", *map(_just_after, not_before)])
        stamp = max(ts or now_ts(), floor)
        return Payload(
            feed=self.feed,
            seq=self.head.payload.seq + 1 if self.head else 0,
            prev=self.head.id if self.head else None,
            ts=stamp,
            kind=action.kind,
            subjects=tuple(action.subjects),
            refs=tuple(action.refs),
            body=dict(action.body or {}),
            v=self.version,
        )

    def sign(self, payload: Payload) -> SignedEntry:
        expected = self.head.payload.seq + 1 if self.head else 0
        if payload.feed != self.feed or payload.seq != expected:
            raise SequenceGap(
                f"feed {self.feed}: expected to sign seq {expected}, found {payload.feed} #{payload.seq}"
            )
        entry = sign(payload, self._key)
        self.head = entry
        return entry

    def append(
        self, kind: Kind, *, ts: str | None = None, not_before: Iterable[str] = (), **fields: Any
    ) -> SignedEntry:
        """Sign the next entry at once: ``fields`` are the ``Action``'s subjects, refs, body."""
        return self.sign(self.next_payload(Action(kind, **fields), ts=ts, not_before=not_before))
