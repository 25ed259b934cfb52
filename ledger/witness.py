"""Witnessing feed checkpoints under the membership's witness policy (ADR 0018).

* ``open_feed_checkpoint``: a note signed by the feed's key, with the cosignatures of the
  policy's witnesses that verify (unknown lines are dropped, a bad known one refuses the note);
* ``cosign_feed_checkpoint``: a witness adds its timestamped C2SP cosignature;
* ``merge_cosignatures``: two copies of one checkpoint become one with every verified line;
* ``verify_witnessed_checkpoint``: what a scanner and a proof file ask: the checkpoint meets the
  policy (feed key, quorum of known witnesses, newest cosignature within the maximum age) and
  every entry relied on is included. It returns how old the newest cosignature is.

Pure: the time is handed in. Witness names and origins carry the genesis id (``feedlog``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, Cosigner, open_checkpoint, parse_checkpoint
from ledger.clock import FUTURE_TOLERANCE
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feedlog import (
    CheckpointNotSigned,
    CheckpointRefused,
    InclusionProof,
    NotIncluded,
    StaleCheckpoint,
    TooFewCosignatures,
    feed_of_origin,
    log_verifier,
    verify_included,
    witness_name,
)
from ledger.membership import Membership
from ledger.notes import COSIGNATURE_V1, NoteError, Verifier, parse_note

#: A cosignature dated further ahead of the reader's clock is not counted.
FUTURE_SKEW_S = int(FUTURE_TOLERANCE.total_seconds())


def witness_verifiers(membership: Membership, genesis_id: str, feed: str) -> dict[str, str]:
    """Which cosignature keys count for ``feed``: key label -> the witness organisation.

    Every organisation of the policy but the feed's own: its listed witness key, or else the
    current (open) key of each of its feeds, i.e. of each of its nodes."""
    return {label: org for label, (org, _) in _witnesses(membership, genesis_id, feed).items()}


def _witnesses(
    membership: Membership, genesis_id: str, feed: str
) -> dict[str, tuple[str, Verifier]]:
    writer = feed.split("/", 1)[0]
    found: dict[str, tuple[str, Verifier]] = {}
    for org_id, listed in membership.witnesses().witnesses.items():
        org = membership.organisations.get(org_id)
        if org_id == writer or org is None:
            continue
        keys = (
            [(org_id, listed)]
            if listed is not None
            else [(spec.id, spec.open_key.public) for spec in org.feeds.values() if spec.open_key]
        )
        for who, public in keys:
            verifier = Verifier(witness_name(genesis_id, who), COSIGNATURE_V1, public)
            found[verifier.label] = (org_id, verifier)
    return found


@dataclass(frozen=True, slots=True)
class FeedCheckpoint:
    """A checkpoint signed by its feed's key, with the witnesses' cosignatures that verify."""

    feed: str
    checkpoint: Checkpoint
    note: bytes  # the text, the feed's line, then the verified cosignature lines by label
    cosigned: Mapping[str, int]  # witness organisation -> its newest cosignature's timestamp

    @property
    def newest_cosignature(self) -> int | None:
        return max(self.cosigned.values(), default=None)


def open_feed_checkpoint(membership: Membership, genesis_id: str, note: bytes) -> FeedCheckpoint:
    """Verify the feed's signature and every known witness's cosignature of ``note``.

    Lines by keys the policy does not list are dropped from the returned note; a listed key
    whose signature does not verify refuses the note (``CheckpointNotSigned``)."""
    try:
        checkpoint = parse_checkpoint(parse_note(note).text)
    except NoteError as exc:
        raise CheckpointRefused(f"expected a checkpoint note, found: {exc}") from None
    feed = feed_of_origin(genesis_id, checkpoint.origin)
    log = log_verifier(membership, genesis_id, feed, checkpoint.size)
    witnesses = _witnesses(membership, genesis_id, feed)
    try:
        opened = open_checkpoint(note, log, [v for _, v in witnesses.values()])
    except NoteError as exc:
        raise CheckpointNotSigned(
            f"checkpoint of {feed} at size {checkpoint.size}: {exc}", feed=feed
        ) from None
    lines: dict[str, tuple[int, str]] = {}
    log_line = ""
    for sig in opened.note.verified:
        if sig.label == log.label:
            log_line = sig.line
            continue
        stamp = opened.cosigned_at[sig.label]
        if sig.label not in lines or lines[sig.label][0] < stamp:
            lines[sig.label] = (stamp, sig.line)
    cosigned: dict[str, int] = {}
    for label, (stamp, _) in lines.items():
        org = witnesses[label][0]
        cosigned[org] = max(stamp, cosigned.get(org, stamp))
    body = opened.note.text + "\n" + log_line + "".join(lines[k][1] for k in sorted(lines))
    return FeedCheckpoint(feed, checkpoint, body.encode(), cosigned)


def merge_cosignatures(
    membership: Membership, genesis_id: str, first: bytes, second: bytes
) -> FeedCheckpoint:
    """One note with every verified cosignature of two notes of the same checkpoint (the newer
    of two lines by one witness key)."""
    a = open_feed_checkpoint(membership, genesis_id, first)
    b = open_feed_checkpoint(membership, genesis_id, second)
    if a.checkpoint != b.checkpoint:
        raise CheckpointRefused(
            f"expected two notes of one checkpoint of {a.feed}, found sizes {a.checkpoint.size} "
            f"and {b.checkpoint.size} with roots {a.checkpoint.root.hex()[:16]}… and "
            f"{b.checkpoint.root.hex()[:16]}…",
            feed=a.feed,
        )
    extra = b.note.split(b"\n\n", 1)[1].split(b"\n")[1:]  # b's cosignature lines
    joined = a.note + b"".join(line + b"\n" for line in extra if line)
    return open_feed_checkpoint(membership, genesis_id, joined)


def cosign_feed_checkpoint(
    opened: FeedCheckpoint, genesis_id: str, own_feed: str, key: Ed25519PrivateKey, timestamp: int
) -> bytes:
    """``opened``'s note with this node's cosignature (its feed key under the witness name of
    its feed) at ``timestamp``, replacing an older one by the same key. The caller has checked
    the checkpoint against its own copy of the feed."""
    cosigner = Cosigner(witness_name(genesis_id, own_feed), key)
    own = cosigner.verifier.label
    note = parse_note(opened.note)
    kept = "".join(s.line for s in note.signatures if s.label != own)
    line = cosigner.cosignature_line(opened.checkpoint, timestamp)
    return (note.text + "\n" + kept + line).encode()


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """A checkpoint that met the policy: who cosigned it and how old the newest cosignature is."""

    feed: str
    checkpoint: Checkpoint
    cosigned: Mapping[str, int]  # witness organisation -> timestamp counted
    newest_cosignature: int
    age_s: int


def verify_witnessed_checkpoint(
    membership: Membership,
    genesis_id: str,
    note: bytes,
    now: int,
    included: Iterable[tuple[SignedEntry, InclusionProof]] = (),
) -> WitnessedCheckpoint:
    """Raise unless ``note`` is a checkpoint of a feed of this consortium that meets the
    membership's witness policy at ``now`` (Unix seconds), and every entry is included in it.

    * signed by the feed's key for the newest entry it covers (``CheckpointNotSigned``);
    * cosigned by at least ``quorum`` witness organisations of the policy, the feed's own not
      counting, each with a cosignature no later than ``now`` + 10 minutes
      (``TooFewCosignatures``);
    * the newest of them at most ``max_age_s`` before ``now`` (``StaleCheckpoint``);
    * each entry of that feed at a seq below the size, its inclusion proof leading from its
      id to the root (``NotIncluded``).
    """
    try:
        opened = open_feed_checkpoint(membership, genesis_id, note)
    except CheckpointRefused:
        raise
    except LedgerError as exc:
        raise CheckpointRefused(f"expected a feed checkpoint, found: {exc}") from None
    policy = membership.witnesses()
    counted = {org: t for org, t in opened.cosigned.items() if t <= now + FUTURE_SKEW_S}
    if len(counted) < policy.quorum:
        raise TooFewCosignatures(
            f"checkpoint of {opened.feed} at size {opened.checkpoint.size}: expected "
            f"cosignatures by at least {policy.quorum} witnesses of the membership's policy, "
            f"found {len(counted)} ({', '.join(sorted(counted)) or 'none'})",
            feed=opened.feed,
        )
    newest = max(counted.values())
    age = max(0, now - newest)
    if age > policy.max_age_s:
        raise StaleCheckpoint(
            f"checkpoint of {opened.feed} at size {opened.checkpoint.size}: expected a "
            f"cosignature at most {policy.max_age_s} s old, found the newest {age} s old",
            feed=opened.feed,
        )
    for entry, proof in included:
        payload = entry.payload
        if (payload.feed, payload.seq) != (opened.feed, proof.seq):
            raise NotIncluded(
                f"expected entry {entry.id[:16]}… ({payload.feed} #{payload.seq}) to be proved "
                f"at {opened.feed} #{proof.seq}, found it is not",
                feed=opened.feed,
            )
        verify_included(opened.checkpoint, genesis_id, entry.id, proof)
    return WitnessedCheckpoint(opened.feed, opened.checkpoint, counted, newest, age)


__all__ = [
    "FUTURE_SKEW_S",
    "FeedCheckpoint",
    "WitnessedCheckpoint",
    "cosign_feed_checkpoint",
    "merge_cosignatures",
    "open_feed_checkpoint",
    "verify_witnessed_checkpoint",
    "witness_verifiers",
]
