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

from ledger.entry import ENTRY_DOMAIN, SignedEntry
from ledger.errors import LedgerError, SignatureInvalid
from ledger.feed import verify_entry
from ledger.membership import Membership
from node import signature_workers
from node.signature_workers import Check, HelperFailed, Helpers

Tag = TypeVar("Tag")

#: Checks per task: large enough that queueing costs little next to ~120 µs a verification,
#: small enough that the threads start while the caller is still parsing.
BATCH = 256
#: Fewer entries than this are verified in place rather than ahead on a pool.
AHEAD_MIN = 32
#: As many entries as this or more are verified by helper processes (a catch-up's pages).
HELPERS_MIN = 256
#: Checks per frame sent to a helper process: the first verdict waits for a whole frame.
HELPER_BATCH = 128


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
    depends on the entry and the membership only, not on what was stored before it.

    With ``helpers`` (processes, ``node.signature_workers``) the keys are picked here
    (``Membership.authorise``, whose errors ``check`` raises as they were) and the helpers only
    say which signatures verify; an entry whose signature they refuse is verified again in
    place, which raises ``SignatureInvalid`` as ``verify_entry`` does; if they fail, in place.
    """

    def __init__(
        self,
        executor: Executor | None,
        entries: Sequence[SignedEntry],
        membership: Membership,
        batch: int = 64,
        *,
        helpers: Helpers | None = None,
        helper_batch: int = HELPER_BATCH,
    ) -> None:
        self.membership = membership
        self._future_of: dict[_Signed, Future[dict[_Signed, LedgerError | None]]] = {}
        self._helpers = helpers
        self._refused: dict[_Signed, LedgerError] = {}
        self._asked: dict[_Signed, tuple[Future[bytes], int, Ed25519PublicKey]] = {}
        if helpers is not None:
            self._ask_helpers(helpers, entries, helper_batch)
            return
        if executor is None:
            return
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            future = executor.submit(_verify_each, chunk, membership)
            self._future_of.update((_signed(entry), future) for entry in chunk)

    def _ask_helpers(self, helpers: Helpers, entries: Sequence[SignedEntry], batch: int) -> None:
        raws: dict[int, bytes] = {}  # id(key) -> raw bytes; the membership keeps the keys
        checks: list[Check] = []
        waiting: list[tuple[_Signed, Ed25519PublicKey]] = []

        def send() -> None:
            try:
                future = helpers.submit(checks)
            except HelperFailed:
                helpers.failed = True
                return  # ``check`` verifies these in place
            for index, (signed, key) in enumerate(waiting):
                self._asked[signed] = (future, index, key)
            checks.clear()
            waiting.clear()

        for entry in entries:
            signed = _signed(entry)
            try:
                key = self.membership.authorise(entry.payload)
            except LedgerError as exc:
                self._refused[signed] = exc
                continue
            raw = raws.get(id(key))
            if raw is None:
                raw = raws[id(key)] = key.public_bytes_raw()
            checks.append((raw, entry.signature, ENTRY_DOMAIN + entry.payload_bytes))
            waiting.append((signed, key))
            if len(checks) >= batch:
                send()
        if checks:
            send()

    def check(self, entry: SignedEntry) -> None:
        """Raise what ``verify_entry(entry, membership)`` raises (checking now if not ahead)."""
        signed = _signed(entry)
        if self._helpers is not None:
            refused = self._refused.get(signed)
            if refused is not None:
                raise refused
            asked = self._asked.get(signed)
            if asked is None:
                verify_entry(entry, self.membership)
                return
            future, index, key = asked
            try:
                valid = future.result()[index]
            except HelperFailed:
                self._helpers.failed = True
                verify_entry(entry, self.membership)
                return
            if not valid:
                entry.verify_signature(key)  # raises SignatureInvalid, as verify_entry would
            return
        ahead = self._future_of.get(signed)
        if ahead is None:
            verify_entry(entry, self.membership)
            return
        error = ahead.result()[signed]
        if error is not None:
            raise error


def warm(count: int) -> None:
    """About to check ``count`` entries: start the helper processes now if they will be used,
    so that they are ready by the time the first page is parsed."""
    if count >= HELPERS_MIN:
        signature_workers.shared().start()


@contextmanager
def checked_ahead(entries: Sequence[SignedEntry], membership: Membership) -> Iterator[CheckedAhead]:
    """``CheckedAhead`` on helper processes for a large page (``HELPERS_MIN`` entries), on a
    pool of threads of its own for a smaller one (or when the helpers failed); a few entries
    are checked in place, as a pool costs more than it saves on them."""
    if len(entries) < AHEAD_MIN:
        yield CheckedAhead(None, entries, membership)
        return
    if len(entries) >= HELPERS_MIN:
        helpers = signature_workers.shared()
        if not helpers.failed:
            yield CheckedAhead(None, entries, membership, helpers=helpers)
            return
    with pool() as executor:
        yield CheckedAhead(executor, entries, membership)
