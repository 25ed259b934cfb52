"""What a pull asks one peer for: a run of a feed's entries, page by page, each page checked
(the feed and positions asked for, no gaps, one chain linked to our head) before anyone sees it,
and with ``on_page`` the next page fetched on a thread of its own while the caller ingests the
one it has. And ``FeedClaims``: which feed each of the replicator's threads is streaming, so that
threads pulling one store from several peers do not fetch and verify the same pages each.

Nothing here trusts a peer; the store verifies every entry (``Store.ingest``). The protocol is in
``docs/spec/replication.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from ledger.entry import SignedEntry
from node.signatures import warm
from node.store import FeedHead, Store

#: Seconds without a page ingested after which another puller's claim on a feed is no longer
#: waited for (``FeedClaims``): a slow or stuck peer holds the others back at most this long.
CLAIM_STALE_S = 5.0


class PeerError(Exception):
    """A peer failed or misbehaved: unreachable, an error status, or an answer outside the
    protocol. The round goes on with the other peers."""


class Peer(Protocol):
    name: str

    def heads(self) -> dict[str, FeedHead]: ...
    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]: ...


class FeedClaims:
    """Which feed each puller of one store is streaming, so that pullers from several peers
    (the replicator's threads) do not fetch and verify the same pages each: a puller waits
    while another streams the feed and has ingested a page within ``stale_s``, then looks
    again at what the store holds. Only work is saved: every entry is still verified by the
    store, whoever fetched it, and a claim nobody renews is ignored after ``stale_s``."""

    def __init__(self, stale_s: float = CLAIM_STALE_S) -> None:
        self.stale_s = stale_s
        self._held: dict[str, tuple[int, float]] = {}  # feed -> (holder's token, last progress)
        self._changed = threading.Condition()
        self._tokens = 0

    @contextmanager
    def hold(self, feed: str, check: Callable[[], None]) -> Iterator[Callable[[], None]]:
        """Wait for ``feed``'s claim (``check`` is called while waiting), hold it; yields a
        function to call after each page ingested."""
        with self._changed:
            self._tokens += 1
            token = self._tokens
            while True:
                held = self._held.get(feed)
                now = time.monotonic()
                if held is None or now - held[1] >= self.stale_s:
                    break
                self._changed.wait(min(0.1, held[1] + self.stale_s - now))
                self._changed.release()
                try:
                    check()
                finally:
                    self._changed.acquire()
            self._held[feed] = (token, time.monotonic())

        def progressed() -> None:
            with self._changed:
                if self._held.get(feed, (None,))[0] == token:
                    self._held[feed] = (token, time.monotonic())

        try:
            yield progressed
        finally:
            with self._changed:
                if self._held.get(feed, (None,))[0] == token:
                    del self._held[feed]
                self._changed.notify_all()


@contextmanager
def no_claim() -> Iterator[Callable[[], None]]:
    yield lambda: None


def fetch_run(
    peer: Peer,
    store: Store,
    feed: str,
    mine: FeedHead | None,
    target: int,
    page: int,
    check: Callable[[], None],
    on_page: Callable[[list[SignedEntry]], None] | None = None,
) -> tuple[list[SignedEntry], SignedEntry | None]:
    """Entries ``[our size, target)`` of ``feed`` from ``peer``, linked to our head; and, if
    the peer's chain does not continue ours, its entry at our head position (fork evidence or a
    forgery, for the store to tell). With ``on_page``, each page is handed to it once linked
    (and not returned) while the next page is fetched on another thread."""
    start = mine.size if mine is not None else 0
    prev = mine.head if mine is not None else None
    warm(target - start)  # the signature helpers start while the first page is fetched
    run: list[SignedEntry] = []
    with Pages(peer, feed, start, prev, target, page, check, ahead=on_page is not None) as pages:
        for seq, batch in pages:
            check_page(peer, feed, seq, batch)
            for entry in batch:
                if entry.payload.prev != prev:
                    if entry.payload.seq == start and start > 0:
                        return [], probe(peer, feed, start - 1)
                    raise PeerError(
                        f"peer {peer.name}: feed {feed} #{entry.payload.seq}: expected prev "
                        f"{prev}, found {entry.payload.prev} (the page is not one chain)"
                    )
                prev = entry.id
            if on_page is not None:
                on_page(batch)
            else:
                run.extend(batch)
    return run, None


class Pages:
    """The pages ``[start, target)`` of a feed in order, each request made after ``check``;
    with ``ahead``, the next page is requested on a thread of its own while the caller works
    on the one it was given (a peer is asked one request at a time either way). ``prev``:
    the id the first page's first entry must name to continue our head."""

    def __init__(
        self,
        peer: Peer,
        feed: str,
        start: int,
        prev: str | None,
        target: int,
        page: int,
        check: Callable[[], None],
        *,
        ahead: bool,
    ) -> None:
        self._peer, self._feed, self._page, self._check = peer, feed, page, check
        self._start, self._prev, self._target = start, prev, target
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="medtrace-prefetch")
            if ahead
            else None
        )

    def __enter__(self) -> Pages:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            # A request in flight ends within its deadline (or at once when the peer closes).
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _get(self, seq: int) -> list[SignedEntry]:
        batch = self._peer.entries(self._feed, seq, min(self._page, self._target - seq))
        if not batch:
            raise silent(self._peer, self._feed, seq, self._target)
        return batch

    def __iter__(self) -> Iterator[tuple[int, list[SignedEntry]]]:
        seq = self._start
        pending: Future[list[SignedEntry]] | None = None
        while seq < self._target:
            if pending is None:
                self._check()
                batch = self._get(seq)
            else:
                batch = pending.result()
                pending = None
            following = seq + len(batch)
            # Not ahead of a first page that does not continue our head: the caller asks
            # this peer for its entry there instead.
            links = seq != self._start or batch[0].payload.prev == self._prev
            if self._pool is not None and following < self._target and links:
                self._check()
                pending = self._pool.submit(self._get, following)
            yield seq, batch
            seq = following


def probe(peer: Peer, feed: str, seq: int) -> SignedEntry:
    got = peer.entries(feed, seq, 1)
    if not got:
        raise silent(peer, feed, seq, seq + 1)
    check_page(peer, feed, seq, got)
    return got[0]


def silent(peer: Peer, feed: str, seq: int, size: int) -> PeerError:
    """Feeds only grow: a peer that advertised ``size`` and serves nothing at ``seq`` lies."""
    return PeerError(
        f"peer {peer.name}: feed {feed}: advertised {size} entries, served none from #{seq}"
    )


def check_page(peer: Peer, feed: str, from_seq: int, batch: Sequence[SignedEntry]) -> None:
    """The page must be entries of ``feed`` from ``from_seq`` on, without gaps (``HttpPeer``
    checks the same; this covers any ``Peer``)."""
    for offset, entry in enumerate(batch):
        if entry.payload.feed != feed or entry.payload.seq != from_seq + offset:
            raise PeerError(
                f"peer {peer.name}: expected {feed} #{from_seq + offset}, found "
                f"{entry.payload.feed} #{entry.payload.seq}"
            )
