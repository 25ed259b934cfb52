"""Where a node's replication loop runs when several worker processes serve one node.

Several worker processes serve the same node, but exactly one of them must run the replicator's
pull loop. ``ReplicationHost`` settles it with an exclusive, non-blocking ``flock`` on
``DATA/replicator.lock``: the worker that takes it runs the loop; the others retry every few
seconds, so when that worker exits (or is killed) another one takes over, and the kernel releases
the lock of a dead process by itself. The workers that do not run the loop relay what reaches them
(a peer's push hint, "we appended, tell the peers") to the one that does over a Unix datagram
socket in the data directory (mode 0700), and fall back to calling their own replicator when
nobody listens. The server's master never runs the loop: it forks workers, and forking a process
that has running threads is unsafe.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from node.replication.loop import Replicator
from node.store import IngestReport, Store

LOCK_FILE = "replicator.lock"
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
    ) -> None:
        self.data = data
        self.replicator = replicator
        self.log = log
        self.peers = frozenset(peers)
        self.retry_s = retry_s
        self.address = _relay_address(data)
        self.owner = False
        self._lock_fd: int | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        if run and not self._try_own():
            self._spawn(self._standby, "medtrace-replication-standby")

    # -- ownership -----------------------------------------------------------------------------
    def _try_own(self) -> bool:
        with self._guard:
            if self.owner or self._stop.is_set():
                return self.owner
            fd = os.open(self.data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._lock_fd = fd
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._bind()
            self.replicator.start()
            self.owner = True
        self.log.event("replicator started", pid=os.getpid(), peers=",".join(sorted(self.peers)))
        return True

    def _standby(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self._try_own():
                return

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
            if self._sock is not None:
                self._sock.close()
                self._sock = None
                if not self.address.startswith("\0"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.address)
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
