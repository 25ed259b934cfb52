"""Witnessing one peer's checkpoints on a thread of its own (``node.replication.loop``).

After each pull that reached a peer, the replicator witnesses the peer's checkpoints
(``witness_peer``: take, cosign, send back; docs/spec/proofs.md). That runs here, on a second
thread per peer with a connection of its own, so the peer's pull thread never waits for it: a
hint that arrives while the checkpoints are being taken is pulled at once. Requests made while
it witnesses are coalesced into one more. ``now`` witnesses in the caller's thread
(``Replicator.run_once``); a lock makes the caller and the thread take turns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ledger.membership import Membership
from node.replication.http_peer import HttpPeer
from node.replication.witnessing import witness_peer
from node.store import Store

log = logging.getLogger("medtrace.node.replication")


class PeerWitness:
    """Witnessing of one peer: ``request`` it (after a pull), or witness ``now``."""

    def __init__(
        self,
        peer: HttpPeer,
        store: Store,
        membership: Callable[[], Membership],
        stopping: threading.Event,
    ) -> None:
        self.peer = peer  # its own connection: a pull from the same peer may run meanwhile
        self._store = store
        self._membership = membership
        self._stopping = stopping
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"medtrace-witness-{self.peer.name}", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        """Witness the peer on its thread, as soon as it is free."""
        self._due.set()

    def now(self) -> None:
        """Witness the peer in this thread (after the witnessing in progress, if any)."""
        with self._lock:
            if not self._stopping.is_set():
                witness_peer(
                    self.peer, self._store, self._membership(), cancelled=self._stopping.is_set
                )

    def close(self) -> None:
        """Wake the thread to see ``stopping``, and give up a request in flight at once."""
        self._due.set()
        self.peer.close()

    def join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._due.wait()
            if self._stopping.is_set():
                break
            self._due.clear()
            try:
                self.now()
            except Exception:
                log.exception("witnessing peer %s failed", self.peer.name)


__all__ = ["PeerWitness"]
