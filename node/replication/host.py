"""Where a node's replication loop runs when several worker processes serve one node.

Several worker processes, on one host or (on PostgreSQL) on several, serve the same node, but
exactly one of them must run the replicator's pull loop. ``ReplicationHost`` settles it by an
election (``node.replication.election``): a ``flock`` on ``DATA/replicator.lock`` on SQLite, a
PostgreSQL advisory lock otherwise. The worker that wins runs the loop; the others retry every
few seconds, so when that worker exits (or is killed) another one takes over; the winner checks
every few seconds that it still holds the lock, and stops the loop when it lost it (its database
session ended). The workers that do not run the loop relay what reaches them
(a peer's push hint, "we appended, tell the peers") to the one that does over a Unix datagram
socket in the data directory (mode 0700), and fall back to calling their own replicator when
nobody listens. The server's master never runs the loop: it forks workers, and forking a process
that has running threads is unsafe.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ledger.membership import Membership
from node.config import PeerConfig
from node.logs import NodeLogger
from node.replication.election import LOCK_FILE, Election, FileElection
from node.replication.loop import Replicator
from node.store import IngestReport, Store

__all__ = [
    "LOCK_FILE",
    "ReplicationHost",
    "ReplicatorFactory",
    "ReplicatorLike",
    "load_replicator_factory",
]

RELAY_SOCKET = "replicator.sock"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; keep a margin


class ReplicatorLike(Protocol):
    """``node.replication.loop.Replicator`` as this module uses it."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def hint(self, peer_name: str | None = None) -> None: ...
    def run_once(self) -> IngestReport: ...
    def notify_peers(self) -> None: ...


ReplicatorFactory = Callable[
    [Store, Membership, Sequence[PeerConfig], float, str, Callable[[Membership], None]],
    ReplicatorLike,
]
"""(store, membership, peers, interval_s, self_name, on_membership) -> a replicator."""


def load_replicator_factory(log: NodeLogger | None = None) -> ReplicatorFactory | None:
    """The factory of ``node.replication.loop.Replicator`` (``None`` would mean: no replication).

    ``log`` is unused here; the signature is the seam tests replace to run a node without one.
    """
    del log

    def factory(
        store: Store,
        membership: Membership,
        peers: Sequence[PeerConfig],
        interval_s: float,
        self_name: str,
        on_membership: Callable[[Membership], None],
    ) -> ReplicatorLike:
        replicator: ReplicatorLike = Replicator(
            store,
            membership,
            peers,
            interval_s=interval_s,
            self_name=self_name,
            on_membership=on_membership,
        )
        return replicator

    return factory


def _relay_address(data: Path) -> str:
    path = str((data / RELAY_SOCKET).resolve())
    if len(path.encode()) < _SUN_PATH_MAX:
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:32]
    return f"\0medtrace-replicator-{digest}"  # Linux abstract namespace: no path limit


class ReplicationHost:
    """Runs the replicator in one process of the node and relays to it from the others."""

    def __init__(
        self,
        data: Path,
        replicator: ReplicatorLike,
        log: NodeLogger,
        *,
        run: bool,
        peers: Sequence[str] = (),
        retry_s: float = 5.0,
        election: Election | None = None,
    ) -> None:
        self.data = data
        self.replicator = replicator
        self.log = log
        self.peers = frozenset(peers)
        self.retry_s = retry_s
        self.address = _relay_address(data)
        self.owner = False
        self.election = election if election is not None else FileElection(data)
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        if run:
            self._try_own()
            self._spawn(self._standby, "medtrace-replication-standby")

    # -- ownership -----------------------------------------------------------------------------
    def _try_own(self) -> bool:
        with self._guard:
            if self.owner or self._stop.is_set():
                return self.owner
            if not self.election.try_take():
                return False
            self._bind()
            self.replicator.start()
            self.owner = True
        self.log.event("replicator started", pid=os.getpid(), peers=",".join(sorted(self.peers)))
        return True

    def _standby(self) -> None:
        while not self._stop.wait(self.retry_s):
            if not self.owner:
                self._try_own()
            elif not self.election.held():
                self._lost()

    def _lost(self) -> None:
        """The election was lost under us (the database session ended): stop the loop, so
        that the server that wins it now is the only one replicating."""
        with self._guard:
            if not self.owner:
                return
            self.owner = False
            self._unbind(unlink=False)  # its path may be the new owner's socket already
            try:
                self.replicator.stop()
            except Exception as exc:  # noqa: BLE001 (standing by must go on)
                self.log.event("replicator stop failed", level=logging.WARNING, error=str(exc))
        self.log.event("replicator lost its lock", level=logging.WARNING, pid=os.getpid())

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- relay ---------------------------------------------------------------------------------
    def _bind(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)  # a stale socket of a dead owner: we hold the lock now
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            self.log.event(
                "relay unavailable", level=logging.WARNING, error=exc.strerror or str(exc)
            )
            return
        sock.settimeout(0.5)
        self._sock = sock
        self._spawn(self._listen, "medtrace-replication-relay")

    def _unbind(self, *, unlink: bool = True) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            if unlink and not self.address.startswith("\0"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address)

    def _listen(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                message = sock.recv(256)
            except TimeoutError:
                continue
            except OSError:
                return
            self._received(message)

    def _received(self, message: bytes) -> None:
        try:
            verb, _, arg = message.decode("utf-8").partition(" ")
        except UnicodeDecodeError:
            return
        try:
            if verb == "notify":
                self.replicator.notify_peers()
            elif verb == "hint":
                self.replicator.hint(arg if arg in self.peers else None)
        except Exception as exc:  # noqa: BLE001 (a relay must outlive a failing call)
            self.log.event("relay call failed", level=logging.WARNING, error=type(exc).__name__)

    def _send(self, message: bytes) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                sock.sendto(message, self.address)
            except OSError:
                return False
        return True

    # -- what the API calls --------------------------------------------------------------------
    def hint(self, peer_name: str | None = None) -> None:
        if self.owner or not self._send(
            b"hint" + (b" " + peer_name.encode() if peer_name else b"")
        ):
            self.replicator.hint(peer_name)

    def notify(self) -> None:
        if self.owner or not self._send(b"notify"):
            self.replicator.notify_peers()

    def run_once(self) -> IngestReport:
        return self.replicator.run_once()

    def close(self) -> None:
        self._stop.set()
        with self._guard:
            if self.owner:
                try:
                    self.replicator.stop()
                finally:
                    self.owner = False
            self._unbind()
            self.election.release()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
