"""The node's replication loop: pull from every peer on a timer and soon after a hint, adopt
new membership versions, and tell peers when we appended.

One ``Replicator`` per node process. The HTTP server builds it from the node configuration::

    replicator = Replicator(store, membership, config.peers,
                            interval_s=config.replication_interval_s, self_name=config.name)
    replicator.start()                  # background daemon thread
    ...                                 # POST /api/v1/replication/hint -> replicator.hint(peer)
    ...                                 # after a local append       -> replicator.notify_peers()
    replicator.stop()

A round (``run_once``) reads every peer's heads, adopts membership versions that follow ours
from the pinned genesis (saved in the store), then pulls entries with ``pull_round``: a peer
that fails or lies is logged, recorded in ``status()`` and skipped; the others go on. In the
background loop a failing peer is retried with exponential backoff (up to ``MAX_BACKOFF_S``);
a hint from it, or an explicit ``run_once``, tries it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.errors import LedgerError
from ledger.membership import Membership, MembershipChain
from node.config import PeerConfig
from node.http_peer import HttpPeer
from node.replication import (
    Peer,
    PeerError,
    PullResult,
    merge_reports,
    pull_memberships,
    pull_round,
    read_heads,
)
from node.store import FeedHead, IngestReport, Store

#: A child of the node's JSON logger (``node.logs``): structured fields go in ``extra["fields"]``.
log = logging.getLogger("medtrace.node.replication")

#: After a hint, wait this long for more hints before pulling (coalescing a burst of appends).
HINT_DELAY_S = 0.05
#: At most one hint-triggered round per this many seconds (a peer token cannot make us spin).
MIN_GAP_S = 0.2
MAX_BACKOFF_S = 30.0
#: Ask each peer for its membership at least this often (and whenever it names a feed we do
#: not know, or sent entries we refused).
MEMBERSHIP_REFRESH_S = 30.0
#: Seconds for a hint to a peer: hints are best effort.
HINT_TIMEOUT_S = 3.0


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


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


@dataclass
class _PeerState:
    config: PeerConfig
    peer: HttpPeer
    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0
    retry_at: float = 0.0  # monotonic
    membership_at: float | None = None  # monotonic
    membership_due: bool = True
    fetched: int = 0
    refused: int = 0
    hints: int = 0
    last_hint: float | None = None
    digest: str | None = None
    hint_ok: bool = True
    last_refusal: str | None = None
    last_refusal_at: float | None = None

    def status(self) -> dict[str, Any]:
        return {
            "url": self.config.url,
            "last_attempt": _iso(self.last_attempt),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "consecutive_failures": self.failures,
            "retry_in_s": round(max(0.0, self.retry_at - time.monotonic()), 3),
            "entries_fetched": self.fetched,
            "entries_refused": self.refused,
            "last_refusal": self.last_refusal,
            "last_refusal_at": _iso(self.last_refusal_at),
            "hints_received": self.hints,
            "last_hint": _iso(self.last_hint),
            "digest": self.digest,
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
        timeout: float = 10.0,
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
        self._peers: dict[str, _PeerState] = {}
        for config in peers:
            if config.name in self._peers:
                raise ValueError(f"expected distinct peer names, found {config.name!r} twice")
            peer = HttpPeer(config.name, config.url, config.token, timeout=timeout)
            self._peers[config.name] = _PeerState(config, peer)
        self._hinters = {
            name: HttpPeer(name, s.config.url, s.config.token, timeout=min(timeout, HINT_TIMEOUT_S))
            for name, s in self._peers.items()
        }
        self._round_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notify_wake = threading.Event()
        self._notifier: threading.Thread | None = None
        self._rounds = 0
        self._last_round: dict[str, Any] | None = None
        self._last_round_end = 0.0
        self._notifications = 0

    # -- the interface the server uses ---------------------------------------------------------
    @property
    def membership(self) -> Membership:
        """The newest membership: the one given, or a later one adopted from peers."""
        return self._membership

    @property
    def peer_names(self) -> list[str]:
        return list(self._peers)

    def start(self) -> None:
        """Pull from all peers every ``interval_s`` (and soon after a hint) in a daemon thread."""
        with self._state_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="medtrace-replicator", daemon=True
            )
            self._thread.start()
        log.info(
            "replication started: %d peers, every %.1f s",
            len(self._peers),
            self.interval_s,
            extra={"fields": {"peers": ",".join(sorted(self._peers))}},
        )

    def stop(self) -> None:
        """Stop the loop and the notifier, close connections. A round in progress ends at its
        next request (what it stored stays); ``run_once`` does nothing until ``start``."""
        self._stop.set()
        self._wake.set()
        self._notify_wake.set()
        for thread in (self._thread, self._notifier):
            if thread is not None and thread is not threading.current_thread():
                thread.join()
        with self._state_lock:
            self._thread = None
            self._notifier = None
        with self._round_lock:
            for state in self._peers.values():
                state.peer.close()
            for hinter in self._hinters.values():
                hinter.close()
        log.info("replication stopped")

    def hint(self, peer_name: str | None = None) -> None:
        """A peer said it has news: pull soon (a hinting peer in backoff is retried at once)."""
        state = self._peers.get(peer_name) if peer_name is not None else None
        if state is not None:
            with self._state_lock:
                state.hints += 1
                state.last_hint = time.time()
                state.retry_at = 0.0
        elif peer_name is not None:
            log.debug("hint from %s, not a configured peer", peer_name)
        self._wake.set()

    def run_once(self) -> IngestReport:
        """Pull from every peer now (also those in backoff); serialised with the loop."""
        return self._round(respect_backoff=False).report

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
                "running": self._thread is not None and self._thread.is_alive(),
                "interval_s": self.interval_s,
                "membership_version": self._membership.version,
                "rounds": self._rounds,
                "last_round": dict(self._last_round) if self._last_round else None,
                "notifications": self._notifications,
                "peers": {name: state.status() for name, state in self._peers.items()},
            }

    # -- rounds --------------------------------------------------------------------------------
    def _round(self, *, respect_backoff: bool) -> PullResult:
        with self._round_lock:
            started, wall = time.monotonic(), time.time()
            result = PullResult()
            due = [
                state
                for state in self._peers.values()
                if not respect_backoff or state.retry_at <= started
            ]
            peers: list[Peer] = [state.peer for state in due]
            heads = read_heads(peers, result)
            self._adopt_memberships(due, heads, result)
            try:
                pull_round(
                    peers,
                    self.store,
                    self._membership,
                    heads=heads,
                    result=result,
                    cancelled=self._stop.is_set,
                )
            finally:
                self._record(due, result, started, wall)
            return result

    def _adopt_memberships(
        self,
        due: list[_PeerState],
        heads: dict[str, tuple[Peer, dict[str, FeedHead]]],
        result: PullResult,
    ) -> None:
        if self._chain is None:
            return
        now = time.monotonic()
        known = {spec.id for spec in self._membership.feeds()}
        for state in due:
            name = state.config.name
            if name not in heads:
                continue
            _, advertised = heads[name]
            if not (
                state.membership_due
                or state.membership_at is None
                or now - state.membership_at > MEMBERSHIP_REFRESH_S
                or any(feed not in known for feed in advertised)
            ):
                continue
            try:
                adopted = pull_memberships(state.peer, self._chain, self.store)
            except PeerError as exc:
                # Its entries are still verified against our own membership; we only refuse
                # to learn membership from it. Recorded, not dropped.
                state.last_error, state.last_error_at = str(exc), time.time()
                log.warning(
                    "membership from peer %s refused",
                    name,
                    extra={"fields": {"peers": name, "error": str(exc)}},
                )
                continue
            state.membership_at, state.membership_due = now, False
            if not adopted:
                continue
            current = self._chain.current
            if current.version > self._membership.version:
                self._membership = current
                known = {spec.id for spec in current.feeds()}
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

    def _record(
        self, due: list[_PeerState], result: PullResult, started: float, wall: float
    ) -> None:
        ended = time.monotonic()
        with self._state_lock:
            for state in due:
                name = state.config.name
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
                    state.retry_at = ended + backoff
                else:
                    state.failures, state.retry_at = 0, 0.0
                    state.last_success = wall
                    state.digest = state.peer.digest
            report = result.report
            self._rounds += 1
            self._last_round_end = ended
            self._last_round = {
                "at": _iso(wall),
                "duration_s": round(ended - started, 3),
                "peers": [s.config.name for s in due],
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
                        "peers": ",".join(s.config.name for s in due),
                    }
                },
            )

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            hinted = self._wake.wait(max(0.0, next_at - time.monotonic()))
            if self._stop.is_set():
                break
            if hinted:
                self._wake.clear()
                gap = self._last_round_end + MIN_GAP_S - time.monotonic()
                if self._stop.wait(max(HINT_DELAY_S, gap)):
                    break
                self._wake.clear()
            try:
                self._round(respect_backoff=True)
            except Exception:
                log.exception("replication round failed")
            next_at = time.monotonic() + self.interval_s

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
