"""Whether the entries an answer rests on are the history the consortium's witnesses saw
(ADR 0018, ADR 0024; docs/spec/scanner.md, "Cosigned checkpoints").

A source hands the feeds' checkpoints with an inclusion proof of each entry
(``scanner.sources.checkpoints``). ``witness`` checks every one against the membership's
witness policy (``ledger.witness.verify_witnessed_checkpoint``) and finds what no checkpoint
meeting it covers; ``hold_unwitnessed`` turns that into the verdict's reasons. Only the signed
membership can excuse a missing checkpoint: a feed that the policy gives fewer witnesses than
its quorum (a one-organisation consortium) can never be cosigned, and is a warning, not a
HOLD. A node withholding checkpoints, or a young network whose witnesses have not cosigned
yet, is a HOLD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ledger.checkpoint import parse_checkpoint
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feedlog import (
    CheckpointCode,
    CheckpointRefused,
    InclusionProof,
    StaleCheckpoint,
)
from ledger.membership import Membership
from ledger.notes import NoteError, parse_note
from ledger.witness import WitnessedCheckpoint, open_feed_checkpoint, verify_witnessed_checkpoint
from scanner.verdict import Decision, Reason, Verdict
from scanner.verifying import combine

NO_CHECKPOINT = "no_cosigned_checkpoint"
UNWITNESSED = "unwitnessed_feed"
SPLIT_VIEW = "split_view"
#: What each refusal of ``verify_witnessed_checkpoint`` is called in a verdict.
_CODES = {
    CheckpointCode.MALFORMED: "checkpoint_not_signed",
    CheckpointCode.NOT_SIGNED: "checkpoint_not_signed",
    CheckpointCode.TOO_FEW_COSIGNATURES: "too_few_cosignatures",
    CheckpointCode.STALE: "stale_checkpoint",
    CheckpointCode.NOT_INCLUDED: "not_included",
}


@dataclass
class Witnessing:
    """What the checkpoints behind an answer prove: the ones that met the policy, the problems
    found, the entries (ids) no such checkpoint covers, feeds no policy can witness."""

    quorum: int
    max_age_s: int
    witnessed: list[WitnessedCheckpoint] = field(default_factory=list)
    problems: list[Reason] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)
    uncovered_feeds: list[str] = field(default_factory=list)
    unwitnessable: list[str] = field(default_factory=list)

    @property
    def newest_age_s(self) -> int | None:
        """How old the newest cosignature of any checkpoint that met the policy is."""
        return min((w.age_s for w in self.witnessed), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "newest_age_s": self.newest_age_s,
            "quorum": self.quorum,
            "max_age_s": self.max_age_s,
            "feeds": [
                {
                    "feed": w.feed,
                    "size": w.checkpoint.size,
                    "cosigned_by": sorted(w.cosigned),
                    "age_s": w.age_s,
                }
                for w in self.witnessed
            ],
            "not_covered": list(self.not_covered),
            "unwitnessed_feeds": list(self.unwitnessable),
        }


def _unwitnessable(membership: Membership, feed: str) -> bool:
    """Whether the policy gives ``feed`` fewer witnesses than its quorum (never cosignable)."""
    policy = membership.witnesses()
    writer = feed.split("/", 1)[0]
    others = [o for o in policy.witnesses if o != writer and o in membership.organisations]
    return len(others) < policy.quorum


def _split_views(items: Sequence[Mapping[str, Any]]) -> list[Reason]:
    """Two checkpoints of one feed at one size with different roots (a split view); whether
    both are signed by the feed's key is checked with each one."""
    seen: dict[tuple[str, int], bytes] = {}
    reasons: list[Reason] = []
    for item in items:
        if "note" not in item:
            continue
        try:
            checkpoint = parse_checkpoint(parse_note(str(item["note"]).encode()).text)
        except (NoteError, TypeError):
            continue
        key = (str(item.get("feed")), checkpoint.size)
        held = seen.setdefault(key, checkpoint.root)
        if held != checkpoint.root:
            reasons.append(
                Reason(
                    SPLIT_VIEW,
                    f"feed {key[0]}: two checkpoints of size {key[1]} with different roots "
                    f"({held.hex()[:12]}… and {checkpoint.root.hex()[:12]}…): the feed's history "
                    "is not one history; hold the pack and report it",
                )
            )
    return reasons


def witness(
    membership: Membership,
    genesis: str,
    entries: Sequence[SignedEntry],
    items: Sequence[Mapping[str, Any]],
    now: int,
    *,
    accept_age_s: int | None = None,
) -> Witnessing:
    """Check ``items`` (``{"feed", "note", "proofs"}`` as ``scanner.sources.checkpoints``
    delivers them) at ``now`` (Unix seconds). ``accept_age_s`` (offline: the replica's
    ``--max-age``) lets a checkpoint be that old instead of the policy's ``max_age_s``."""
    policy = membership.witnesses()
    found = Witnessing(policy.quorum, policy.max_age_s)
    found.problems.extend(_split_views(items))
    by_id = {e.id: e for e in entries}
    covered: set[str] = set()
    for item in items:
        feed = str(item.get("feed"))
        if "fork" in item:
            found.problems.append(
                Reason(
                    SPLIT_VIEW,
                    f"feed {feed}: the data holds the evidence of a split view ({item['fork']}): "
                    "the feed is frozen; hold the pack and report it",
                )
            )
            continue
        try:
            included = [
                (by_id[str(p["entry"])], InclusionProof.from_json(p))
                for p in item.get("proofs") or []
                if isinstance(p, Mapping) and str(p.get("entry")) in by_id
            ]
            note = str(item["note"]).encode()
            witnessed = _verify(membership, genesis, note, now, included, accept_age_s)
        except CheckpointRefused as exc:
            code = _CODES.get(exc.code, "checkpoint_not_signed")
            found.problems.append(Reason(code, f"{_advice(code)}: {exc}"))
            continue
        except (LedgerError, KeyError, TypeError) as exc:
            found.problems.append(
                Reason("checkpoint_not_signed", f"feed {feed}: not a checkpoint note: {exc}")
            )
            continue
        found.witnessed.append(witnessed)
        covered.update(e.id for e, _ in included)
    for entry in entries:
        if entry.id in covered:
            continue
        feed = entry.payload.feed
        if _unwitnessable(membership, feed):
            if feed not in found.unwitnessable:
                found.unwitnessable.append(feed)
            continue
        found.not_covered.append(entry.id)
        if feed not in found.uncovered_feeds:
            found.uncovered_feeds.append(feed)
    return found


def _verify(
    membership: Membership,
    genesis: str,
    note: bytes,
    now: int,
    included: list[tuple[SignedEntry, InclusionProof]],
    accept_age_s: int | None,
) -> WitnessedCheckpoint:
    try:
        return verify_witnessed_checkpoint(membership, genesis, note, now, included)
    except StaleCheckpoint:
        if accept_age_s is None:
            raise
    # A replica is a snapshot: its checkpoints may be as old as the replica may be. Checked as
    # of the newest cosignature's expiry, then its age against what the user accepts.
    newest = open_feed_checkpoint(membership, genesis, note).newest_cosignature or 0
    limit = membership.witnesses().max_age_s
    found = verify_witnessed_checkpoint(membership, genesis, note, newest + limit, included)
    age = max(0, now - found.newest_cosignature)
    if age > accept_age_s:
        raise StaleCheckpoint(
            f"checkpoint of {found.feed} at size {found.checkpoint.size}: expected a "
            f"cosignature at most {accept_age_s} s old (--max-age), found the newest {age} s old",
            feed=found.feed,
        )
    return replace(found, age_s=age)


def _advice(code: str) -> str:
    return {
        "too_few_cosignatures": "the feed's checkpoint lacks the witnesses the membership asks for",
        "stale_checkpoint": "the feed's newest cosigned checkpoint is too old: the history may "
        "be out of date or not the one others see",
        "not_included": "an entry is not in the witnessed tree of its feed: the node shows a "
        "history the witnesses did not see",
    }.get(code, "a checkpoint that is not its feed's signed word")


def hold_unwitnessed(verdict: Verdict, found: Witnessing) -> Verdict:
    """HOLD for every problem found and for entries no checkpoint meeting the policy covers; a
    warning for feeds the policy can never witness. A REJECT stands on signed facts alone:
    it is left as it is (its ``checkpoints`` still shown)."""
    if verdict.decision is Decision.REJECT:
        return verdict
    reasons = list(found.problems)
    if found.not_covered:
        feeds = ", ".join(found.uncovered_feeds)
        reasons.append(
            Reason(
                NO_CHECKPOINT,
                f"{len(found.not_covered)} entr{'y' if len(found.not_covered) == 1 else 'ies'} "
                f"of this pack's history (feeds {feeds}) are in no checkpoint cosigned by "
                f"{found.quorum} witness(es) of the membership's policy within "
                f"{found.max_age_s} s: nothing shows that others see the same history (a young "
                "network, witnesses not reached yet, or a node keeping its view apart); verify "
                "again in a minute, or against a replica",
            )
        )
    if reasons:  # after the pack's own reasons: what it is comes first, then how sure
        held = combine(verdict, reasons, reject=False)
        own = [r for r in held.reasons if r not in reasons]
        verdict = replace(held, reasons=[*own, *reasons])
    if found.unwitnessable:
        warning = Reason(
            UNWITNESSED,
            f"the membership's witness policy names fewer than {found.quorum} witness(es) for "
            f"feed(s) {', '.join(found.unwitnessable)}: no checkpoint can show that others see "
            "the same history of them",
        )
        verdict = replace(verdict, warnings=[*verdict.warnings, warning])
    return verdict


__all__ = [
    "NO_CHECKPOINT",
    "SPLIT_VIEW",
    "UNWITNESSED",
    "Witnessing",
    "hold_unwitnessed",
    "witness",
]
