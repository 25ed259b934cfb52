"""How far ahead of a reader's clock an entry may be dated before its time is not believed.

An entry's ``ts`` is what its signer's clock said, and the signature makes it a fact that the
signer said so, not that it was then. Clocks drift and a signer may lie, so what an entry's time
may be is checked against the clock of whoever reads it, never inside ``lifecycle.fold`` (which
must give every node the same state whatever its clock):

* a node that receives an entry dated more than ``FUTURE_TOLERANCE`` ahead of its own clock
  stores it (a signed fact) and raises the node-local alert ``future_dated``;
* a node never signs an entry dated more than ``FUTURE_TOLERANCE`` ahead of its own clock;
* a scanner that finds such an entry in a pack's provenance does not release the pack.

Ten minutes covers ordinary clock drift between NTP-synchronised machines many times over and is
still far below the granularity that matters to the rules (days: expiry, the 10-day undo).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ledger.entry import SignedEntry
from ledger.timefmt import format_ts

#: How far ahead of the reader's clock an entry's ``ts`` may be.
FUTURE_TOLERANCE = timedelta(minutes=10)


def latest_believable_ts(now: datetime | None = None) -> str:
    """The latest ``ts`` a reader whose clock says ``now`` (default: this machine's) takes as
    possibly true: ``now`` + ``FUTURE_TOLERANCE``, in the fixed ``ts`` form."""
    return format_ts((now or datetime.now(UTC)) + FUTURE_TOLERANCE)


def dated_ahead(entries: Iterable[SignedEntry], now: datetime | None = None) -> list[SignedEntry]:
    """The entries dated more than ``FUTURE_TOLERANCE`` after ``now`` (default: this machine's
    clock), in the order given."""
    limit = latest_believable_ts(now)
    return [entry for entry in entries if entry.payload.ts > limit]


__all__ = ["FUTURE_TOLERANCE", "dated_ahead", "latest_believable_ts"]
