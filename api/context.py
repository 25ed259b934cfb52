"""What the API needs from the node it serves, gathered once by ``medtrace.app.create_app``."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from flask import current_app

from api.metrics import Metrics
from api.ratelimit import (
    WRITE_RATE_PER_MINUTE,
    HarvestGuard,
    RateLimiter,
    SharedHarvestGuard,
    SharedRateLimiter,
)
from ledger.errors import LedgerError
from ledger.membership import Membership, MembershipChain
from node.config import NodeConfig
from node.local_alerts import LocalAlerts
from node.logs import NodeLogger
from node.service import NodeService
from node.store import IngestReport, Store
from node.tokens import Tokens

EXTENSION = "medtrace"


class ReplicationPort(Protocol):
    """The node's replication as the API drives it (``node.replication.host.ReplicationHost``)."""

    def hint(self, peer_name: str | None = None) -> None: ...
    def notify(self) -> None: ...
    def run_once(self) -> IngestReport: ...
    def close(self) -> None: ...


@dataclass
class NodeContext:
    data: Path
    config: NodeConfig
    store: Store
    service: NodeService
    chain: MembershipChain
    tokens: Tokens
    log: NodeLogger
    limiter: RateLimiter | SharedRateLimiter  # the query bucket per token (verify_rate_per_minute)
    metrics: Metrics = field(default_factory=Metrics)
    #: The write bucket per token (``api.ratelimit.WRITE_RATE_PER_MINUTE``).
    write_limiter: RateLimiter | SharedRateLimiter = field(
        default_factory=lambda: RateLimiter(WRITE_RATE_PER_MINUTE)
    )
    replication: ReplicationPort | None = None
    closed: bool = False
    membership_check_s: float = 2.0
    _membership_checked: float = 0.0
    _membership_lock: threading.Lock = field(default_factory=threading.Lock)
    harvest: HarvestGuard | SharedHarvestGuard = field(init=False)
    local_alerts: LocalAlerts = field(init=False)

    def __post_init__(self) -> None:
        self.harvest = HarvestGuard(self.config.harvest_max_unknown, self.config.harvest_window_s)
        self.local_alerts = LocalAlerts(self.store)

    @property
    def membership(self) -> Membership:
        return self.chain.current

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def feed(self) -> str:
        return self.config.feed

    def refresh_membership(self, *, force: bool = False) -> None:
        """Adopt membership versions another process of this node stored (at most every
        ``membership_check_s``): the replicator runs in one worker, the writers in all."""
        now = time.monotonic()
        if not force and now - self._membership_checked < self.membership_check_s:
            return
        with self._membership_lock:
            self._membership_checked = now
            # Every worker asks every few seconds: compare the number before parsing anything.
            stored = self.store.membership_version()
            if stored is None or stored <= self.chain.current.version:
                return
            try:
                chain = self.store.membership_chain(self.config.genesis_id)
            except LedgerError as exc:  # keep serving with the chain we verified before
                self.log.event("membership not adopted", level=logging.WARNING, error=str(exc))
                return
            self.chain = chain
            self.service.membership = chain.current
        self.log.event("membership adopted", detail=f"v{chain.current.version}")

    def close(self) -> None:
        """Stop replication and release the database (tests, worker exit)."""
        if self.closed:
            return
        self.closed = True
        if self.replication is not None:
            self.replication.close()
        self.store.close()
        self.log.event("node stopped", pid=os.getpid())


def node_context() -> NodeContext:
    ctx = current_app.extensions[EXTENSION]
    assert isinstance(ctx, NodeContext)
    return ctx
