"""The node's replication loop: pull from every peer on a timer and soon after a hint, adopt
new membership versions, and tell peers when we appended.

One ``Replicator`` per node process. The HTTP server builds it from the node configuration::

    replicator = Replicator(store, membership, config.peers,
                            interval_s=config.replication_interval_s, self_name=config.name)
    replicator.start()                  # one background daemon thread per peer
    ...                                 # POST /api/v1/replication/hint -> replicator.hint(peer)
    ...                                 # after a local append       -> replicator.notify_peers()
    replicator.stop()

Each peer is pulled on its own thread, on its own timer: a peer that is slow, dead or hostile
(answering one byte a second) delays only the pulls from itself, never those from the others,
and a hint from a peer wakes that peer's thread at once. A pull from one peer reads its heads,
adopts membership versions that follow ours from the pinned genesis (saved in the store), then
pulls entries and fork evidence with ``pull_round``: a peer that fails or lies is logged and
recorded in ``status()``. A failing peer is retried with exponential backoff (up to
``MAX_BACKOFF_S``); a hint from it, or an explicit ``run_once``, tries it at once. ``run_once``
pulls from every peer at once, each on a thread of its own, and waits for all of them.

After each pull that reached the peer, its checkpoints are witnessed on a second thread of that
peer (``node.replication.peer_witness``), so a pull never waits for witnessing; ``run_once``
witnesses before it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from ledger.errors import LedgerError
from ledger.membership import Membership, MembershipChain
from node.config import PeerConfig
from node.replication.deadline import READ_TIMEOUT_S
from node.replication.http_peer import HttpPeer
from node.replication.peer_state import PeerState, iso
from node.replication.peer_witness import PeerWitness
from node.replication.pull import (
    FeedClaims,
    PeerError,
    PullResult,
    adopt_memberships,
    merge_reports,
    pull_round,
    read_heads,
)
from node.store import IngestReport, Store

#: A child of the node's JSON logger (``node.logs``): structured fields go in ``extra["fields"]``.
log = logging.getLogger("medtrace.node.replication")

#: After a hint, wait this long for more hints before pulling (coalescing a burst of appends;
#: MIN_GAP_S below coalesces the rest). 0.05 s was half the convergence time (docs/performance.md).
HINT_DELAY_S = 0.01
#: At most one hint-triggered round per this many seconds (a peer token cannot make us spin).
MIN_GAP_S = 0.2
MAX_BACKOFF_S = 30.0
#: Ask each peer for its membership at least this often (and whenever it names a feed we do
#: not know, or sent entries we refused).
MEMBERSHIP_REFRESH_S = 30.0
#: Seconds for a whole hint to a peer: hints are best effort, and a peer that does not take
#: them in time must not hold up the hints to the others.
HINT_TIMEOUT_S = 3.0


def report_summary(report: IngestReport) -> dict[str, Any]:
    """An ``IngestReport`` as JSON-ready counts and the reasons of refusals (for the API)."""
    return {
        "added": report.added,
        "duplicates": report.duplicates,
        "alerts": len(report.alerts),
        "forks": len(report.forks),
        "rejected": len(report.rejected),
        "refusals": [{"entry": entry, "reason": reason} for entry, reason in report.rejected[:50]],
    }


class Replicator:
    def __init__(
        self,
        store: Store,
        membership: Membership,
        peers: Sequence[PeerConfig],
        *,
        interval_s: float = 2.0,
        self_name: str = "",
        timeout: float = READ_TIMEOUT_S,
        genesis_id: str | None = None,
        on_membership: Callable[[Membership], None] | None = None,
    ) -> None:
        """``genesis_id`` pins the genesis membership versions must chain from (default: the
        store's ``genesis_id`` meta); ``on_membership`` is called with each newly adopted
        membership (the server hands it to its ``NodeService``)."""
        self.store = store
        self.interval_s = interval_s
        self.self_name = self_name
        self._on_membership = on_membership
        self._membership = membership
        self._chain = self._load_chain(genesis_id)
        self._peers: dict[str, PeerState] = {}
        for config in peers:
            if config.name in self._peers:
                raise ValueError(f"expected distinct peer names, found {config.name!r} twice")
            peer = HttpPeer(config.name, config.url, config.token, timeout=timeout)
            self._peers[config.name] = PeerState(config, peer)
        self._stop = threading.Event()
        self._witnesses = {
            name: PeerWitness(
                HttpPeer(name, s.config.url, s.config.token, timeout=timeout),
                store,
                lambda: self._membership,
                self._stop,
            )
            for name, s in self._peers.items()
        }
        self._hinters = {
            name: HttpPeer(
                name,
                s.config.url,
                s.config.token,
                timeout=min(timeout, HINT_TIMEOUT_S),
                deadline=HINT_TIMEOUT_S,
            )
            for name, s in self._peers.items()
        }
        self._state_lock = threading.Lock()
        #: the feeds the peers' threads are streaming: one fetches a feed, the others wait
        self._claims = FeedClaims()
        #: held while extending the membership chain (peers' threads adopt versions)
        self._membership_lock = threading.Lock()
        self._running = False
        self._notify_wake = threading.Event()
        self._notifier: threading.Thread | None = None
        self._rounds = 0
        self._last_round: dict[str, Any] | None = None
        self._notifications = 0

    # -- the interface the server uses ---------------------------------------------------------
    @property
    def membership(self) -> Membership:
        """The newest membership: the one given, or a later one adopted from peers."""
        return self._membership

    def start(self) -> None:
        """Pull from each peer every ``interval_s`` (and soon after its hint), each peer in a
        daemon thread of its own."""
        with self._state_lock:
            if self._running:
                return
            self._stop.clear()
            self._running = True
            for name, state in self._peers.items():
                state.thread = threading.Thread(
                    target=self._loop, args=(state,), name=f"medtrace-pull-{name}", daemon=True
                )
                state.thread.start()
                self._witnesses[name].start()
        log.info(
            "replication started: %d peers, every %.1f s",
            len(self._peers),
            self.interval_s,
            extra={"fields": {"peers": ",".join(sorted(self._peers))}},
        )

    def stop(self) -> None:
        """Stop the loops and the notifier, close connections. A request in flight is given up
        at once and a pull in progress ends there (what it stored stays); ``run_once`` does
        nothing until ``start``."""
        self._stop.set()
        self._notify_wake.set()
        for state in self._peers.values():
            state.wake.set()
            state.peer.close()  # a request in flight fails now, not at its deadline
        for witness in self._witnesses.values():
            witness.close()
        for hinter in self._hinters.values():
            hinter.close()
        threads = [s.thread for s in self._peers.values()] + [self._notifier]
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join()
        for witness in self._witnesses.values():
            witness.join()
        with self._state_lock:
            self._running = False
            self._notifier = None
            for state in self._peers.values():
                state.thread = None
        log.info("replication stopped")

    def hint(self, peer_name: str | None = None) -> None:
        """A peer said it has news: pull from it soon, without waiting for the others (a hinting
        peer in backoff is retried at once). A hint naming no known peer wakes every peer."""
        state = self._peers.get(peer_name) if peer_name is not None else None
        if state is not None:
            with self._state_lock:
                state.hints += 1
                state.last_hint = time.time()
                state.retry_at = 0.0
            state.wake.set()
            return
        if peer_name is not None:
            log.debug("hint from %s, not a configured peer", peer_name)
        for each in self._peers.values():
            each.wake.set()

    def run_once(self) -> IngestReport:
        """Pull from every peer now (also those in backoff), each on a thread of its own, and
        wait for all, their witnessing included; a peer's pull waits for its loop's pull in
        progress, if any (and its witnessing for the witnessing in progress)."""
        return self._round(list(self._peers.values()), witness_now=True).report

    def notify_peers(self) -> None:
        """Tell every peer we appended (``POST /api/v1/replication/hint``), in the background.

        Never blocks and never raises: calls made while a notification is on its way are
        coalesced into one more, and a peer that cannot be reached is logged.
        """
        if not self._hinters or self._stop.is_set():
            return
        with self._state_lock:
            self._notifications += 1
            if self._notifier is None or not self._notifier.is_alive():
                self._notifier = threading.Thread(
                    target=self._notify_loop, name="medtrace-notifier", daemon=True
                )
                self._notifier.start()
        self._notify_wake.set()

    def status(self) -> dict[str, Any]:
        with self._state_lock:
            return {
                "node": self.self_name,
                "running": self._running,
                "interval_s": self.interval_s,
                "membership_version": self._membership.version,
                "rounds": self._rounds,
                "last_round": dict(self._last_round) if self._last_round else None,
                "notifications": self._notifications,
                "peers": {name: state.status() for name, state in self._peers.items()},
            }

    # -- rounds --------------------------------------------------------------------------------
    def _round(self, states: list[PeerState], *, witness_now: bool = False) -> PullResult:
        """Pull from ``states``' peers, each on a thread of its own; one round in ``status()``.
        Each peer reached is then witnessed: before returning with ``witness_now``, else by its
        witnessing thread."""
        started, wall = time.monotonic(), time.time()

        def pull(state: PeerState) -> PullResult:
            result = self._pull(state)
            if state.config.name in result.reached and not self._stop.is_set():
                witness = self._witnesses[state.config.name]
                if witness_now:
                    witness.now()
                else:
                    witness.request()
            return result

        if len(states) == 1:
            parts = [pull(states[0])]
        else:
            with ThreadPoolExecutor(
                max_workers=max(1, len(states)), thread_name_prefix="medtrace-round"
            ) as pool:
                parts = list(pool.map(pull, states))
        result = PullResult()
        for part in parts:
            result.merge(part)
        self._record_round(states, result, started, wall)
        return result

    def _pull(self, state: PeerState) -> PullResult:
        """One pull from one peer: heads, membership, entries and fork evidence (not its
        checkpoints: ``PeerWitness``)."""
        with state.lock:
            wall = time.time()
            result = PullResult(cancelled=self._stop.is_set())
            if result.cancelled:
                return result
            try:
                heads = read_heads([state.peer], result)
                if state.config.name in heads and not self._stop.is_set():
                    self._adopt_memberships(state, set(heads[state.config.name][1]))
                pull_round(
                    [state.peer],
                    self.store,
                    self._membership,
                    heads=heads,
                    result=result,
                    cancelled=self._stop.is_set,
                    claims=self._claims,
                )
            finally:
                self._record_peer(state, result, wall)
                state.last_pull_end = time.monotonic()
            return result

    def _adopt_memberships(self, state: PeerState, advertised: set[str]) -> None:
        if self._chain is None:
            return
        now = time.monotonic()
        known = {spec.id for spec in self._membership.feeds()}
        if not (
            state.membership_due
            or state.membership_at is None
            or now - state.membership_at > MEMBERSHIP_REFRESH_S
            or not advertised <= known
        ):
            return
        name = state.config.name
        try:
            offered = state.peer.memberships()
            with self._membership_lock:
                adopted = adopt_memberships(self._chain, offered, self.store)
        except (PeerError, LedgerError) as exc:
            # Its entries are still verified against our own membership; we only refuse
            # to learn membership from it. Recorded, not dropped.
            error = (
                str(exc)
                if isinstance(exc, PeerError)
                else f"peer {name}: membership refused: {exc}"
            )
            state.last_error, state.last_error_at = error, time.time()
            log.warning(
                "membership from peer %s refused",
                name,
                extra={"fields": {"peers": name, "error": error}},
            )
            self._adopted(name)  # the versions before the one refused were adopted and saved
            return
        state.membership_at, state.membership_due = now, False
        if adopted:
            self._adopted(name)

    def _adopted(self, name: str) -> None:
        """Make the chain's newest version current, and tell the server, once."""
        with self._membership_lock:
            assert self._chain is not None
            current = self._chain.current
            if current.version <= self._membership.version:
                return
            self._membership = current
        log.info(
            "membership v%d adopted from peer %s",
            current.version,
            name,
            extra={"fields": {"peers": name, "detail": f"v{current.version}"}},
        )
        if self._on_membership is not None:
            try:
                self._on_membership(current)
            except Exception:
                log.exception("the membership callback failed")

    def _record_peer(self, state: PeerState, result: PullResult, wall: float) -> None:
        name = state.config.name
        with self._state_lock:
            state.last_attempt = wall
            state.fetched += result.fetched.get(name, 0)
            state.refused += result.refused.get(name, 0)
            if name in result.refusal:
                state.membership_due = True  # perhaps it knows a version we lack
                state.last_refusal, state.last_refusal_at = result.refusal[name], wall
            if name in result.errors:
                state.failures += 1
                state.last_error, state.last_error_at = result.errors[name], wall
                backoff = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(state.failures, 16))
                state.retry_at = time.monotonic() + backoff
            elif not result.cancelled:
                state.failures, state.retry_at = 0, 0.0
                state.last_success = wall
                state.digest = state.peer.digest

    def _record_round(
        self, states: list[PeerState], result: PullResult, started: float, wall: float
    ) -> None:
        ended = time.monotonic()
        names = [s.config.name for s in states]
        report = result.report
        with self._state_lock:
            self._rounds += 1
            self._last_round = {
                "at": iso(wall),
                "duration_s": round(ended - started, 3),
                "peers": names,
                "errors": dict(result.errors),
                **{k: v for k, v in report_summary(report).items() if k != "refusals"},
            }
        if report.added or report.rejected or report.forks:
            log.info(
                "replication round: %d added, %d duplicates, %d alerts, %d forks, %d refused",
                report.added,
                report.duplicates,
                len(report.alerts),
                len(report.forks),
                len(report.rejected),
                extra={
                    "fields": {
                        "added": report.added,
                        "rejected": len(report.rejected),
                        "peers": ",".join(names),
                    }
                },
            )

    def _loop(self, state: PeerState) -> None:
        """Pull from one peer every ``interval_s``, soon after its hint, later while it fails."""
        next_at = time.monotonic()
        # The gap is counted from the last *hinted* round only: a background round just before
        # a hint is no spin, and waiting for it made one append in ten wait ~0.2 s.
        last_hinted_end = 0.0
        while not self._stop.is_set():
            hinted = state.wake.wait(max(0.0, next_at - time.monotonic()))
            if self._stop.is_set():
                break
            if hinted:
                # Coalesce a burst of hints; at most one hinted pull per MIN_GAP_S.
                state.wake.clear()
                gap = last_hinted_end + MIN_GAP_S - time.monotonic()
                if self._stop.wait(max(HINT_DELAY_S, gap)):
                    break
                state.wake.clear()
            elif state.retry_at > time.monotonic():
                next_at = state.retry_at  # backing off; a hint from it retries at once
                continue
            try:
                self._round([state])
            except Exception:
                log.exception("replication from peer %s failed", state.config.name)
            next_at = time.monotonic() + self.interval_s
            if hinted:
                last_hinted_end = time.monotonic()

    # -- notifications -------------------------------------------------------------------------
    def _notify_loop(self) -> None:
        with ThreadPoolExecutor(
            max_workers=min(8, len(self._hinters)), thread_name_prefix="medtrace-hint"
        ) as pool:
            while True:
                self._notify_wake.wait()
                if self._stop.is_set():
                    return
                self._notify_wake.clear()
                wait([pool.submit(self._send_hint, name) for name in self._hinters])

    def _send_hint(self, name: str) -> None:
        state = self._peers[name]
        try:
            self._hinters[name].hint(self.self_name)
        except PeerError as exc:
            level = logging.WARNING if state.hint_ok else logging.DEBUG
            state.hint_ok = False
            log.log(
                level,
                "hint to peer %s failed",
                name,
                extra={"fields": {"peers": name, "error": str(exc)}},
            )
            return
        state.hint_ok = True

    # -- membership ----------------------------------------------------------------------------
    def _load_chain(self, genesis_id: str | None) -> MembershipChain | None:
        """Our verified membership chain, to extend with versions from peers; ``None`` (with a
        warning) when the store holds no signed versions to start from."""
        versions = self.store.memberships()
        pinned = genesis_id or self.store.meta("genesis_id")
        if not versions or pinned is None:
            log.warning(
                "no pinned genesis membership in the store: membership updates from peers are off",
            )
            return None
        try:
            chain = MembershipChain(versions[0], pinned)
            chain.extend_all(versions[1:])
        except LedgerError as exc:
            log.error(
                "stored membership does not verify from the pinned genesis: membership "
                "updates from peers are off",
                extra={"fields": {"error": str(exc)}},
            )
            return None
        if chain.current.version > self._membership.version:
            self._membership = chain.current
        return chain


__all__ = ["Replicator", "merge_reports", "report_summary"]
