"""Feed checkpoints, their cosignatures and checkpoint forks, and the feeds' Merkle trees.

``checkpoints`` keeps, per feed and size, the checkpoint note its feed's key signed with every
verified cosignature gathered so far; ``checkpoint_forks`` keeps the notes that prove a split
view (docs/spec/proofs.md). The trees (``ledger.feedlog.FeedTree``) are kept in memory, one per
feed, and grown from the stored entry ids as the feed grows: the entries never change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.alerts import Alert, Code
from ledger.checkpoint import Checkpoint
from ledger.feedlog import FeedTree, note_digest
from node.store import models as m
from node.store.evidence import IngestReport, freeze, store_alerts

C = m.CHECKPOINTS.c
K = m.CHECKPOINT_FORKS.c


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    feed: str
    size: int
    root: bytes
    note: bytes
    cosigners: int
    newest_cosignature: int | None
    own_cosignature: int | None

    def checkpoint(self, origin: str) -> Checkpoint:
        return Checkpoint(origin, self.size, self.root)


@dataclass(frozen=True, slots=True)
class CheckpointFork:
    feed: str
    size: int
    first: bytes
    second: bytes  # empty: the entries held contradict ``first``
    reason: str


def _stored(r: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        r.feed,
        r.size,
        bytes.fromhex(r.root),
        bytes(r.note),
        r.cosigners,
        r.newest_cosignature,
        r.own_cosignature,
    )


def checkpoint_at(
    conn: Connection, feed: str, size: int | None, *, cosigners: int = 0
) -> StoredCheckpoint | None:
    """The checkpoint of ``feed`` at ``size``, or its largest (``size`` None) with at least
    ``cosigners`` cosignatures."""
    query = select(m.CHECKPOINTS).where(C.feed == feed)
    if size is not None:
        query = query.where(C.size == size)
    else:
        query = query.where(C.cosigners >= cosigners).order_by(C.size.desc())
    row = conn.execute(query.limit(1)).first()
    return None if row is None else _stored(row)


def newest_checkpoints(conn: Connection) -> list[StoredCheckpoint]:
    """The largest checkpoint of every feed, by feed."""
    rows = conn.execute(select(m.CHECKPOINTS).order_by(C.feed, C.size.desc())).all()
    newest: dict[str, StoredCheckpoint] = {}
    for row in rows:
        newest.setdefault(row.feed, _stored(row))
    return list(newest.values())


def last_cosigned(conn: Connection, feed: str) -> StoredCheckpoint | None:
    """The largest checkpoint of ``feed`` this node cosigned."""
    row = conn.execute(
        select(m.CHECKPOINTS)
        .where(C.feed == feed, C.own_cosignature.is_not(None))
        .order_by(C.size.desc())
        .limit(1)
    ).first()
    return None if row is None else _stored(row)


#: Merges the note held (first) with the one to save (second), both verified by the caller.
Merge = Callable[[StoredCheckpoint, StoredCheckpoint], StoredCheckpoint]


def save_checkpoint(conn: Connection, cp: StoredCheckpoint, merge: Merge | None = None) -> None:
    """Insert, or replace the note and counts of, the checkpoint of ``cp.feed`` at ``cp.size``.
    Another root at that size is never written (a fork: ``record_checkpoint_fork``). A note held
    that differs (another process gathered cosignatures meanwhile) is merged with ``merge``
    inside the write transaction, so no cosignature is lost between processes."""
    current = checkpoint_at(conn, cp.feed, cp.size)
    if current is not None and merge is not None and current.note != cp.note:
        if current.root != cp.root:
            return
        cp = merge(current, cp)
    values = {
        "root": cp.root.hex(),
        "note": cp.note,
        "cosigners": cp.cosigners,
        "newest_cosignature": cp.newest_cosignature,
        "own_cosignature": cp.own_cosignature,
    }
    held = conn.execute(
        select(C.id, C.root).where(C.feed == cp.feed, C.size == cp.size)
    ).one_or_none()
    if held is None:
        conn.execute(insert(m.CHECKPOINTS).values(feed=cp.feed, size=cp.size, **values))
    elif held.root == cp.root.hex():
        conn.execute(update(m.CHECKPOINTS).where(C.id == held.id).values(**values))


def record_checkpoint_fork(conn: Connection, fork: CheckpointFork, report: IngestReport) -> bool:
    """Keep the evidence once, freeze the feed at the smaller size involved, raise the
    ``checkpoint_fork`` alert (its evidence: the two notes' checkpoint digests, sorted)."""
    digests = sorted(note_digest(n) for n in (fork.first, fork.second) if n)
    known = conn.execute(select(K.first, K.second).where(K.feed == fork.feed)).all()
    seen = {tuple(sorted(note_digest(n) for n in (r.first, r.second) if n)) for r in known}
    new = tuple(digests) not in seen
    if new:
        conn.execute(
            insert(m.CHECKPOINT_FORKS).values(
                feed=fork.feed,
                size=fork.size,
                first=fork.first,
                second=fork.second,
                reason=fork.reason,
            )
        )
    freeze(conn, fork.feed, fork.size)
    store_alerts(
        conn, [Alert(Code.CHECKPOINT_FORK, fork.feed, fork.reason, tuple(digests))], report
    )
    return new


def checkpoint_forks(conn: Connection) -> list[CheckpointFork]:
    rows = conn.execute(select(m.CHECKPOINT_FORKS).order_by(K.feed, K.id)).all()
    return [CheckpointFork(r.feed, r.size, bytes(r.first), bytes(r.second), r.reason) for r in rows]


class FeedTrees:
    """One growing ``FeedTree`` per feed, caught up with the stored entries on each use."""

    def __init__(self) -> None:
        self._trees: dict[str, FeedTree] = {}
        self._lock = threading.Lock()

    def tree(self, conn: Connection, feed: str) -> FeedTree:
        with self._lock:
            tree = self._trees.setdefault(feed, FeedTree(feed))
            entries, feeds = m.ENTRIES.c, m.FEEDS.c
            rows = conn.execute(
                select(entries.entry_id)
                .join(m.FEEDS, feeds.id == entries.feed)
                .where(feeds.name == feed, entries.seq >= tree.size)
                .order_by(entries.seq)
            ).all()
            if rows:
                tree.extend(r.entry_id for r in rows)
            return tree


__all__ = [
    "CheckpointFork",
    "FeedTrees",
    "StoredCheckpoint",
    "checkpoint_at",
    "checkpoint_forks",
    "last_cosigned",
    "newest_checkpoints",
    "record_checkpoint_fork",
    "save_checkpoint",
]
