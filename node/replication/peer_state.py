"""What the replicator knows of each peer: its connection, its thread's turn and wake-up, and
the counters ``Replicator.status()`` reports."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from node.config import PeerConfig
from node.replication.http_peer import HttpPeer


def iso(moment: float | None) -> str | None:
    """A wall-clock time (``time.time()``) as ISO 8601 UTC, to the millisecond."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


@dataclass
class PeerState:
    """What the replicator knows of one peer, and what its thread waits on."""

    config: PeerConfig
    peer: HttpPeer
    #: held while pulling from this peer: its loop and ``run_once`` take turns
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: set by a hint from this peer (or a hint naming no known peer): pull soon
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    last_pull_end: float = 0.0  # monotonic
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
            "last_attempt": iso(self.last_attempt),
            "last_success": iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "consecutive_failures": self.failures,
            "retry_in_s": round(max(0.0, self.retry_at - time.monotonic()), 3),
            "entries_fetched": self.fetched,
            "entries_refused": self.refused,
            "last_refusal": self.last_refusal,
            "last_refusal_at": iso(self.last_refusal_at),
            "hints_received": self.hints,
            "last_hint": iso(self.last_hint),
            "digest": self.digest,
        }
