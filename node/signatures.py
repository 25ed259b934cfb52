"""Ed25519 checks of many entries on several threads, with the earliest failure reported.

``cryptography`` releases the GIL while it verifies, so the checks run on every core while the
caller goes on parsing and linking the next entries. Which entry fails first is decided by the
order the checks were added in, never by which thread finishes first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.entry import SignedEntry
from ledger.errors import LedgerError, SignatureInvalid
from ledger.feed import verify_entry
from ledger.membership import Membership

Tag = TypeVar("Tag")

#: Checks per task: large enough that queueing costs little next to ~120 µs a verification,
#: small enough that the threads start while the caller is still parsing.
BATCH = 256
#: Fewer entries than this are verified in place rather than ahead on a pool.
AHEAD_MIN = 32


def pool() -> ThreadPoolExecutor:
    """A pool for one run of checks (one per call: a pool made before a fork has no threads)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="ed25519")


def _first_invalid(
    checks: Sequence[tuple[SignedEntry, Ed25519PublicKey]],
) -> tuple[int, SignatureInvalid] | None:
    for index, (entry, key) in enumerate(checks):
        try:
            entry.verify_signature(key)
        except SignatureInvalid as exc:
            return index, exc
    return None


class OrderedChecks(Generic[Tag]):
    """Signature checks queued in order, each with a ``Tag`` saying which entry it was."""

    def __init__(self, executor: Executor, batch: int = BATCH) -> None:
        self._executor = executor
        self._batch = batch
        self._tags: list[Tag] = []
        self._checks: list[tuple[SignedEntry, Ed25519PublicKey]] = []
        self._submitted: list[tuple[list[Tag], Future[tuple[int, SignatureInvalid] | None]]] = []

    def add(self, tag: Tag, entry: SignedEntry, key: Ed25519PublicKey) -> None:
        self._tags.append(tag)
        self._checks.append((entry, key))
        if len(self._checks) >= self._batch:
            self._submit()

    def _submit(self) -> None:
        if self._checks:
            future = self._executor.submit(_first_invalid, self._checks)
            self._submitted.append((self._tags, future))
            self._tags, self._checks = [], []

    def first_invalid(self) -> tuple[Tag, SignatureInvalid] | None:
        """Wait for every check added so far; the earliest that failed, if any."""
        self._submit()
        submitted, self._submitted = self._submitted, []
        for number, (tags, future) in enumerate(submitted):
            found = future.result()
            if found is not None:
                for _, later in submitted[number + 1 :]:
                    later.cancel()
                return tags[found[0]], found[1]
        return None


#: An entry as checked: its id covers the payload only, and two copies of one payload may
#: carry different signatures (a forged copy beside the real one).
_Signed = tuple[str, bytes]


def _signed(entry: SignedEntry) -> _Signed:
    return entry.id, entry.signature


def _verify_each(
    entries: Sequence[SignedEntry], membership: Membership
) -> dict[_Signed, LedgerError | None]:
    found: dict[_Signed, LedgerError | None] = {}
    for entry in entries:
        try:
            verify_entry(entry, membership)
        except LedgerError as exc:
            found[_signed(entry)] = exc
        else:
            found[_signed(entry)] = None
    return found


class CheckedAhead:
    """``verify_entry`` of a page's entries, run ahead on a pool while the caller works through
    the page in the same order. ``check`` gives exactly what ``verify_entry`` would have: it
    depends on the entry and the membership only, not on what was stored before it."""

    def __init__(
        self,
        executor: Executor | None,
        entries: Sequence[SignedEntry],
        membership: Membership,
        batch: int = 64,
    ) -> None:
        self.membership = membership
        self._future_of: dict[_Signed, Future[dict[_Signed, LedgerError | None]]] = {}
        if executor is None:
            return
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            future = executor.submit(_verify_each, chunk, membership)
            self._future_of.update((_signed(entry), future) for entry in chunk)

    def check(self, entry: SignedEntry) -> None:
        """Raise what ``verify_entry(entry, membership)`` raises (checking now if not ahead)."""
        future = self._future_of.get(_signed(entry))
        if future is None:
            verify_entry(entry, self.membership)
            return
        error = future.result()[_signed(entry)]
        if error is not None:
            raise error


@contextmanager
def checked_ahead(entries: Sequence[SignedEntry], membership: Membership) -> Iterator[CheckedAhead]:
    """``CheckedAhead`` on a pool of its own; a few entries are checked in place, as a pool
    costs more than it saves on them."""
    if len(entries) < AHEAD_MIN:
        yield CheckedAhead(None, entries, membership)
        return
    with pool() as executor:
        yield CheckedAhead(executor, entries, membership)
