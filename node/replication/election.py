"""Which process of a node runs its replicator: one election, by the store's dialect (ADR 0021).

* SQLite: the servers of a node share its host and data directory; the first process to take
  an exclusive, non-blocking ``flock`` on ``DATA/replicator.lock`` wins, and the kernel releases
  the lock of a dead process by itself.
* PostgreSQL: the servers may run on several hosts; the first process to take the node's
  session-level advisory lock wins (``node.store.leader.DatabaseLock``), and PostgreSQL
  releases it when the winner's connection ends.

Either way the others stand by and ask again every few seconds (``ReplicationHost``).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol

from node.store import Store

LOCK_FILE = "replicator.lock"


class Election(Protocol):
    def try_take(self) -> bool:
        """Win the election if nobody holds it; ``True`` if this process holds it now."""
        ...

    def held(self) -> bool:
        """Whether this process still holds it (a lost database session loses it)."""
        ...

    def release(self) -> None: ...


class FileElection:
    """An exclusive ``flock`` on ``DATA/replicator.lock`` (one host)."""

    def __init__(self, data: Path) -> None:
        self.path = data / LOCK_FILE
        self._fd: int | None = None

    def try_take(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def held(self) -> bool:
        return self._fd is not None  # the kernel never takes a flock back from a live process

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def election_for(store: Store, data: Path) -> Election:
    """The election the store's dialect calls for."""
    lock = store.replicator_lock()
    return lock if lock is not None else FileElection(data)
