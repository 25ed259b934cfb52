"""Checkpoints of feeds and their witnessing between nodes (ADR 0018, docs/spec/proofs.md).

* A node signs the checkpoint of its own feed with its feed key whenever the feed has grown
  (``publish_own``: each replication round, and when a peer or a scanner asks for it).
* After each pull from a peer, a node asks the peer for every checkpoint it holds
  (``GET /api/v1/replication/checkpoints``) and takes each (``take_note``): the feed's
  signature and the known witnesses' cosignatures are verified; a different root at a size
  held, or a root that the entries held do not give, is a **checkpoint fork** (evidence kept,
  feed frozen, alert raised); a checkpoint beyond the entries held waits for the next round.
* A node that is one of the feed's witnesses (the membership's witness policy) and holds the
  entries cosigns the checkpoint when it extends the last one it cosigned (checked with a
  consistency proof from its own tree), or when its cosignature is older than a quarter of the
  policy's maximum age. Whenever the note it then holds has cosignatures the peer's lacks (its
  own or others'), it POSTs it back (``POST …/replication/cosignatures``).
* Every node keeps the cosignatures it sees, so any node serves checkpoints with all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import parse_checkpoint
from ledger.errors import LedgerError
from ledger.feedlog import (
    InconsistentCheckpoints,
    SplitView,
    check_same_history,
    feed_of_origin,
    sign_feed_checkpoint,
    witness_name,
)
from ledger.membership import Membership, raw_public
from ledger.notes import COSIGNATURE_V1, Verifier, parse_note
from ledger.witness import (
    FeedCheckpoint,
    cosign_feed_checkpoint,
    merge_cosignatures,
    open_feed_checkpoint,
    witness_verifiers,
)
from node.replication.http_peer import HttpPeer
from node.replication.protocol import API_PREFIX, FEEDS_PATH, MAX_FEEDS
from node.replication.pull import PeerError
from node.store import CheckpointFork, Store, StoredCheckpoint

log = logging.getLogger("medtrace.node.replication")

#: ``GET``: the largest checkpoint of every feed held, with every cosignature gathered, and the
#: notes of every checkpoint fork held.
CHECKPOINTS_PATH = f"{API_PREFIX}/replication/checkpoints"
#: ``POST {"notes": [note, …]}``: checkpoints with cosignatures for the node to take.
COSIGNATURES_PATH = f"{API_PREFIX}/replication/cosignatures"
#: ``GET``: one feed's newest checkpoint (text/plain note), an inclusion proof, a consistency proof.
CHECKPOINT_RULE = f"{FEEDS_PATH}/<org>/<site>/checkpoint"
PROOF_RULE = f"{FEEDS_PATH}/<org>/<site>/proof"
CONSISTENCY_RULE = f"{FEEDS_PATH}/<org>/<site>/consistency"
#: A note holds a checkpoint and at most 100 signature lines: a few KiB.
MAX_NOTE = 16 * 1024
#: Re-cosign a checkpoint when our cosignature is older than this part of the maximum age.
REFRESH_PART = 4


@dataclass(frozen=True)
class CheckpointKey:
    """What this node signs its checkpoints and cosignatures with: its feed and feed key."""

    feed: str
    key: Ed25519PrivateKey
    genesis_id: str

    def __repr__(self) -> str:
        return f"CheckpointKey({self.feed!r})"  # never the key

    @property
    def cosigner_label(self) -> str:
        name = witness_name(self.genesis_id, self.feed)
        return Verifier(name, COSIGNATURE_V1, raw_public(self.key)).label


_key: CheckpointKey | None = None
#: One take at a time in a process: a take reads, merges and writes one feed's checkpoint.
_take_lock = threading.Lock()


def use_checkpoint_key(key: CheckpointKey | None) -> None:
    """Make ``key`` this process's checkpoint and witness key (one node per process)."""
    global _key  # noqa: PLW0603 (a node process has exactly one feed key)
    _key = key


def checkpoint_key() -> CheckpointKey | None:
    return _key


def _genesis(store: Store, key: CheckpointKey | None) -> str | None:
    return key.genesis_id if key is not None else store.meta("genesis_id")


def publish_own(
    store: Store, membership: Membership, key: CheckpointKey | None = None
) -> StoredCheckpoint | None:
    """Sign the checkpoint of this node's feed at its size if none is held at that size yet;
    the newest checkpoint held of the feed (``None``: no key, or an empty feed)."""
    key = key or _key
    if key is None:
        return None
    tree = store.feed_tree(key.feed)
    newest = store.checkpoint(key.feed)
    if tree.size == 0 or (newest is not None and newest.size >= tree.size):
        return newest
    note = sign_feed_checkpoint(key.genesis_id, tree, key.key)
    taken = take_note(store, membership, note, int(time.time()), key)
    if taken.status not in {"taken", "held"}:
        log.warning(
            "own checkpoint not kept",
            extra={"fields": {"detail": taken.message, "feed": key.feed}},
        )
    return store.checkpoint(key.feed)


@dataclass
class Taken:
    """What became of one note: ``taken`` (new or more cosignatures), ``cosigned`` (and we
    cosigned it), ``held`` (nothing new), ``ahead`` (beyond the entries held), ``frozen``,
    ``fork`` (evidence kept), ``refused`` (does not verify)."""

    status: str
    message: str = ""
    note: bytes = b""


def take_note(
    store: Store,
    membership: Membership,
    note: bytes,
    now: int,
    key: CheckpointKey | None = None,
    genesis_id: str | None = None,
) -> Taken:
    """Verify a checkpoint note against the membership and the entries held, keep it with the
    cosignatures gathered, and cosign it when this node is one of its feed's witnesses."""
    genesis = genesis_id or _genesis(store, key)
    if genesis is None:
        return Taken("refused", "no pinned genesis: checkpoints cannot be named")
    if _already_held(store, membership, genesis, note, now, key):
        return Taken("held", note=note)
    try:
        opened = open_feed_checkpoint(membership, genesis, note)
    except LedgerError as exc:
        return Taken("refused", str(exc))
    with _take_lock:
        return _take(store, membership, genesis, opened, now, key)


def _already_held(
    store: Store,
    membership: Membership,
    genesis: str,
    note: bytes,
    now: int,
    key: CheckpointKey | None,
) -> bool:
    """The very note held already, and not ours to cosign again yet: nothing to verify (peers
    send every checkpoint every round)."""
    try:
        checkpoint = parse_checkpoint(parse_note(note).text)
        feed = feed_of_origin(genesis, checkpoint.origin)
    except LedgerError:
        return False
    held = store.checkpoint(feed, checkpoint.size)
    if held is None or held.note != note:
        return False
    if key is None or key.cosigner_label not in witness_verifiers(membership, genesis, feed):
        return True
    refresh = max(1, membership.witnesses().max_age_s // REFRESH_PART)
    return held.own_cosignature is not None and now - held.own_cosignature < refresh


def _take(
    store: Store,
    membership: Membership,
    genesis: str,
    opened: FeedCheckpoint,
    now: int,
    key: CheckpointKey | None,
) -> Taken:
    feed, cp = opened.feed, opened.checkpoint
    head = store.heads().get(feed)
    if head is not None and head.frozen_at is not None:
        return Taken("frozen", f"feed {feed} is frozen at {head.frozen_at}")
    held = store.checkpoint(feed, cp.size)
    if held is not None and held.root != cp.root:
        try:
            check_same_history(held.checkpoint(cp.origin), cp, [])
        except SplitView as exc:
            return _fork(store, CheckpointFork(feed, cp.size, held.note, opened.note, str(exc)))
    tree = store.feed_tree(feed)
    if tree.size < cp.size:
        return Taken("ahead", f"feed {feed}: checkpoint of {cp.size}, {tree.size} entries held")
    own_root = tree.root_at(cp.size)
    if own_root != cp.root:
        reason = (
            f"{cp.origin}: expected the root {own_root.hex()} of the {cp.size} entries held, "
            f"found a checkpoint signed by the feed's key with root {cp.root.hex()}"
        )
        return _fork(store, CheckpointFork(feed, cp.size, opened.note, b"", reason))
    merged = opened
    if held is not None:
        try:
            merged = merge_cosignatures(membership, genesis, held.note, opened.note)
        except LedgerError:  # the note held no longer verifies (a newer membership)
            merged = opened
    own = held.own_cosignature if held is not None else None
    status = "taken"
    if key is not None and key.cosigner_label in witness_verifiers(membership, genesis, feed):
        refresh = max(1, membership.witnesses().max_age_s // REFRESH_PART)
        last = store.last_cosigned(feed)
        if (last is None or last.size <= cp.size) and (own is None or now - own >= refresh):
            if last is not None:
                try:
                    proof = tree.consistency(last.size, cp.size) if last.size else []
                    check_same_history(last.checkpoint(cp.origin), cp, proof)
                except (InconsistentCheckpoints, SplitView) as exc:
                    fork = CheckpointFork(feed, last.size, last.note, opened.note, str(exc))
                    return _fork(store, fork)
            cosigned = cosign_feed_checkpoint(merged, genesis, key.feed, key.key, now)
            merged = open_feed_checkpoint(membership, genesis, cosigned)
            own, status = now, "cosigned"
    if held is not None and merged.note == held.note and own == held.own_cosignature:
        return Taken("held", note=held.note)

    def join(held: StoredCheckpoint, new: StoredCheckpoint) -> StoredCheckpoint:
        try:
            joined = merge_cosignatures(membership, genesis, held.note, new.note)
        except LedgerError:  # the note held no longer verifies (a newer membership): replace it
            return new
        mine = max((t for t in (held.own_cosignature, new.own_cosignature) if t), default=None)
        return _stored(feed, joined, mine)

    store.save_checkpoint(_stored(feed, merged, own), join)
    return Taken(status, note=merged.note)


def _stored(feed: str, opened: FeedCheckpoint, own: int | None) -> StoredCheckpoint:
    cp = opened.checkpoint
    return StoredCheckpoint(
        feed, cp.size, cp.root, opened.note, len(opened.cosigned), opened.newest_cosignature, own
    )


def _fork(store: Store, fork: CheckpointFork) -> Taken:
    report = store.record_checkpoint_fork(fork)
    if report.alerts:
        log.error(
            "checkpoint fork: feed %s frozen",
            fork.feed,
            extra={"fields": {"feed": fork.feed, "detail": fork.reason}},
        )
    return Taken("fork", fork.reason)


# -- what a node serves ------------------------------------------------------------------------


def served_checkpoints(store: Store, membership: Membership, name: str) -> dict[str, Any]:
    """The answer of ``GET /api/v1/replication/checkpoints`` (own feed's checkpoint first
    brought up to date)."""
    publish_own(store, membership)
    return {
        "node": name,
        "checkpoints": [c.note.decode() for c in store.newest_checkpoints()],
        "evidence": [
            {
                "feed": f.feed,
                "size": f.size,
                "reason": f.reason,
                "notes": [n.decode() for n in (f.first, f.second) if n],
            }
            for f in store.checkpoint_forks()
        ],
    }


def take_posted(store: Store, membership: Membership, notes: list[str]) -> dict[str, Any]:
    """The answer of ``POST /api/v1/replication/cosignatures``."""
    now = int(time.time())
    results = [take_note(store, membership, n.encode(), now, _key) for n in notes]
    return {
        "taken": sum(r.status in {"taken", "cosigned"} for r in results),
        "refused": [r.message for r in results if r.status in {"refused", "fork"}][:50],
    }


# -- witnessing a peer -------------------------------------------------------------------------


@dataclass
class WitnessReport:
    taken: int = 0
    cosigned: int = 0
    forks: int = 0
    refused: list[str] = field(default_factory=list)


def _notes(peer: HttpPeer, obj: dict[str, Any], key: str) -> list[bytes]:
    values = obj.get(key, [])
    if not isinstance(values, list) or len(values) > MAX_FEEDS:
        raise PeerError(f"peer {peer.name}: expected {key!r} to be a list of notes, found another")
    notes: list[bytes] = []
    for value in values:
        texts = value.get("notes") if isinstance(value, dict) else [value]
        for text in texts if isinstance(texts, list) else []:
            if not isinstance(text, str) or len(text) > MAX_NOTE:
                raise PeerError(
                    f"peer {peer.name}: expected checkpoint notes of at most {MAX_NOTE} "
                    "characters, found another value"
                )
            notes.append(text.encode())
    return notes


def _signature_lines(note: bytes) -> set[bytes]:
    return set(note.partition(b"\n\n")[2].split(b"\n")) - {b""}


def witness_peer(
    peer: HttpPeer,
    store: Store,
    membership: Membership,
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> WitnessReport:
    """Take the peer's checkpoints (and checkpoint fork evidence), cosign those this node
    witnesses, and send the cosigned notes back to the peer. Never raises: a peer that fails
    is logged (its entries were pulled already)."""
    report = WitnessReport()
    key = _key
    try:
        publish_own(store, membership, key)
        obj = peer._json("GET", CHECKPOINTS_PATH)  # HttpPeer's bounded reader
        notes = _notes(peer, obj, "checkpoints") + _notes(peer, obj, "evidence")
        back: list[str] = []
        for note in notes:
            if cancelled():
                break
            taken = take_note(store, membership, note, int(time.time()), key)
            report.taken += taken.status in {"taken", "cosigned"}
            report.forks += taken.status == "fork"
            if taken.status == "refused":
                report.refused.append(taken.message)
            report.cosigned += taken.status == "cosigned"
            if taken.note and _signature_lines(taken.note) - _signature_lines(note):
                # Ours holds cosignatures the peer's lacks (ours among them, or ones gathered
                # from other witnesses): send it back, so the peer serves them at once.
                back.append(taken.note.decode())
        if back and not cancelled():
            peer._request("POST", COSIGNATURES_PATH, body={"notes": back})
    except (PeerError, LedgerError) as exc:
        log.warning(
            "checkpoints of peer %s not taken",
            peer.name,
            extra={"fields": {"peers": peer.name, "error": str(exc)}},
        )
    return report


__all__ = [
    "CHECKPOINTS_PATH",
    "CHECKPOINT_RULE",
    "CONSISTENCY_RULE",
    "COSIGNATURES_PATH",
    "PROOF_RULE",
    "CheckpointKey",
    "Taken",
    "WitnessReport",
    "checkpoint_key",
    "publish_own",
    "served_checkpoints",
    "take_note",
    "take_posted",
    "use_checkpoint_key",
    "witness_peer",
]
