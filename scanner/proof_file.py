"""A proof you can carry: one pack's verified provenance as one self-contained JSON file
(``medtrace scan … --export-proof FILE``), checked later with nothing but the consortium's
genesis id (``medtrace proof verify FILE --genesis ID``); docs/spec/proofs.md, "Proof files".

The file holds what the verdict was decided on, as a verifier is sent it: the pack's entries
(signed bytes, each with the disclosed leaves of the pack and its containers, never another
pack), the ids of entries withheld, every membership version, the verdict's summary, and the
feeds' newest cosigned checkpoints with an inclusion proof of each entry. ``verify_proof``
re-does every check: membership chain from the pinned genesis, each entry's id, signature and
disclosed paths, the verdict (the same ``check`` the scanner runs, as of the export date), and
each checkpoint against the membership's witness policy with its inclusion proofs. Anything
that does not hold is ``ProofTampered`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feedlog import CheckpointRefused, InclusionProof
from ledger.membership import Membership, SignedMembership
from ledger.timefmt import format_ts, parse_ts
from ledger.witness import WitnessedCheckpoint, verify_witnessed_checkpoint
from scanner.outcome import Basis, Outcome
from scanner.reading import ScanData
from scanner.verdict import Verdict
from scanner.verifying import check, decode_entries, membership_of

FORMAT = "medtrace-proof/1"
TAMPERED = "proof_file_tampered"
_KEYS = {
    "format",
    "genesis",
    "pack",
    "exported_at",
    "scan",
    "context",
    "verdict",
    "entries",
    "withheld",
    "memberships",
    "checkpoints",
}


class ProofTampered(Exception):
    """The file does not prove what it says: one line naming what failed."""


class ProofUnusable(Exception):
    """Not a proof file, or one of another consortium: nothing to verify."""


# -- export ------------------------------------------------------------------------------------


def export_proof(
    outcome: Outcome,
    *,
    genesis: str,
    checkpoints: Sequence[Mapping[str, Any]] = (),
    in_transit_ok: bool = False,
    custodian: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The proof file of ``outcome`` (which must carry its ``basis``)."""
    basis = outcome.basis
    if basis is None:
        raise ProofUnusable(
            "the answer could not be verified entry by entry (no basis to export): "
            + "; ".join(r.message for r in outcome.verdict.reasons)
        )
    scan = outcome.scan
    moment = now or datetime.now(UTC)
    versions = list(basis.memberships)
    membership, _, _ = membership_of(versions, genesis)
    if membership is not None:  # only checkpoints that meet the policy now are worth carrying
        checkpoints = [c for c in checkpoints if _meets(c, membership, genesis, basis, moment)]
    # The summary is what the entries alone give (what ``verify_proof`` re-derives); what the
    # scan showed beside it (a stale replica, a cut bundle) is kept as ``at_scan``.
    v = check(
        scan,
        list(basis.entries),
        list(basis.memberships),
        pin=genesis,
        today=moment.date().isoformat(),
        in_transit_ok=in_transit_ok,
        custodian=custodian,
        withheld=basis.withheld,
    )
    return {
        "format": FORMAT,
        "genesis": genesis,
        "pack": v.pack,
        "exported_at": format_ts(moment),
        "scan": {"gtin": scan.gtin, "serial": scan.serial, "lot": scan.lot, "expiry": scan.expiry},
        "context": {"in_transit_ok": in_transit_ok, "custodian": custodian},
        "verdict": {
            "verdict": v.decision.value,
            "reasons": [r.code for r in v.reasons],
            "source": outcome.source,
            "where": outcome.where,
            "at_scan": {
                "verdict": outcome.verdict.decision.value,
                "reasons": [r.code for r in outcome.verdict.reasons],
            },
        },
        "entries": [e.to_wire() for e in basis.entries],
        "withheld": list(basis.withheld),
        "memberships": [m.to_wire() for m in basis.memberships],
        "checkpoints": list(checkpoints),
    }


def _meets(
    item: Mapping[str, Any], membership: Membership, genesis: str, basis: Basis, at: datetime
) -> bool:
    by_id = {e.id: e for e in basis.entries}
    try:
        included = [(by_id[p["entry"]], InclusionProof.from_json(p)) for p in item["proofs"]]
        verify_witnessed_checkpoint(
            membership, genesis, str(item["note"]).encode(), int(at.timestamp()), included
        )
    except (LedgerError, KeyError, TypeError):
        return False
    return True


# -- verification ------------------------------------------------------------------------------


@dataclass
class ProofReport:
    """What a verified proof file shows."""

    pack: str
    exported_at: str
    verdict: Verdict  # as of the export (the file's summary, re-derived)
    verdict_now: Verdict  # the same entries judged today (expiry moves on; later steps unseen)
    entries: int
    memberships: int
    withheld: list[str]
    checkpoints: list[WitnessedCheckpoint] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)  # entry ids no checkpoint covers
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        now_s = int(self.now.timestamp())
        return {
            "valid": True,
            "pack": self.pack,
            "exported_at": self.exported_at,
            "verdict": self.verdict.decision.value,
            "reasons": [{"code": r.code, "message": r.message} for r in self.verdict.reasons],
            "verdict_now": self.verdict_now.decision.value,
            "reasons_now": [r.code for r in self.verdict_now.reasons],
            "entries": self.entries,
            "memberships": self.memberships,
            "withheld": self.withheld,
            "checkpoints": [
                {
                    "feed": c.feed,
                    "size": c.checkpoint.size,
                    "cosigned_by": sorted(c.cosigned),
                    "age_at_export_s": c.age_s,
                    "age_now_s": max(0, now_s - c.newest_cosignature),
                }
                for c in self.checkpoints
            ],
            "not_covered": self.not_covered,
        }


def _tampered(what: str) -> ProofTampered:
    return ProofTampered(f"{TAMPERED}: {what}")


def _shape(doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ProofUnusable(f"expected a proof file of format {FORMAT!r}, found {found!r}")
    if set(doc) != _KEYS:
        raise _tampered(
            f"expected exactly the members {sorted(_KEYS)}, found missing {sorted(_KEYS - set(doc))} "
            f"and unknown {sorted(set(doc) - _KEYS)}"
        )
    for name in ("entries", "withheld", "memberships", "checkpoints"):
        if not isinstance(doc[name], list):
            raise _tampered(f"expected {name} as a list")
    for name in ("scan", "context", "verdict"):
        if not isinstance(doc[name], dict):
            raise _tampered(f"expected {name} as an object")


def _memberships(doc: dict[str, Any], genesis: str) -> list[SignedMembership]:
    versions = []
    for n, wire in enumerate(doc["memberships"]):
        try:
            versions.append(SignedMembership.from_wire(wire))
        except (LedgerError, TypeError, ValueError, KeyError) as exc:
            raise _tampered(f"membership version {n} is not a signed membership: {exc}") from None
    membership, problem, forged = membership_of(versions, genesis)
    if membership is None:
        assert problem is not None
        if forged:
            raise _tampered(f"membership: {problem.message}")
        raise ProofUnusable(problem.message)
    return versions


def _scan(doc: dict[str, Any]) -> ScanData:
    s = doc["scan"]
    try:
        return ScanData(str(s["gtin"]), str(s["serial"]), s["lot"], s["expiry"], "proof", "", None)
    except KeyError as exc:
        raise _tampered(f"scan: expected {exc} beside gtin and serial") from None


def _judge(
    doc: dict[str, Any],
    scan: ScanData,
    entries: list[SignedEntry],
    versions: list[SignedMembership],
    genesis: str,
    day: str,
) -> Verdict:
    context = doc["context"]
    return check(
        scan,
        entries,
        versions,
        pin=genesis,
        today=day,
        in_transit_ok=context.get("in_transit_ok") is True,
        custodian=context.get("custodian") if isinstance(context.get("custodian"), str) else None,
        withheld=[str(w) for w in doc["withheld"]],
    )


def _checkpoints(
    doc: dict[str, Any],
    entries: list[SignedEntry],
    versions: list[SignedMembership],
    genesis: str,
    at: int,
) -> tuple[list[WitnessedCheckpoint], list[str]]:
    by_id = {e.id: e for e in entries}
    membership, _, _ = membership_of(versions, genesis)
    assert membership is not None
    witnessed: list[WitnessedCheckpoint] = []
    covered: set[str] = set()
    for n, item in enumerate(doc["checkpoints"]):
        if not (isinstance(item, dict) and isinstance(item.get("note"), str)):
            raise _tampered(f"checkpoints[{n}]: expected {{feed, note, proofs}}")
        included = []
        for proof in item.get("proofs") or []:
            entry = by_id.get(str(proof.get("entry"))) if isinstance(proof, dict) else None
            if entry is None:
                raise _tampered(f"checkpoints[{n}]: an inclusion proof of an entry not in the file")
            try:
                included.append((entry, InclusionProof.from_json(proof)))
            except CheckpointRefused as exc:
                raise _tampered(f"checkpoints[{n}]: {exc}") from None
        try:
            found = verify_witnessed_checkpoint(
                membership, genesis, item["note"].encode(), at, included
            )
        except (CheckpointRefused, LedgerError) as exc:
            raise _tampered(f"checkpoint of {item.get('feed')}: {exc}") from None
        witnessed.append(found)
        covered.update(e.id for e, _ in included)
    return witnessed, [e.id for e in entries if e.id not in covered]


def verify_proof(doc: Any, genesis: str, *, now: datetime | None = None) -> ProofReport:
    """Every check of the file from ``genesis`` alone; ``ProofTampered`` names what fails."""
    now = now or datetime.now(UTC)
    _shape(doc)
    if doc["genesis"] != genesis:
        raise ProofUnusable(
            f"the file is of the consortium {str(doc['genesis'])[:16]}…, you pinned "
            f"{genesis[:16]}…: another consortium, or a wrong --genesis"
        )
    versions = _memberships(doc, genesis)
    entries, broken = decode_entries(doc["entries"])
    if broken:
        raise _tampered(broken[0].message)
    scan = _scan(doc)
    try:
        exported = parse_ts(str(doc["exported_at"]))
    except LedgerError as exc:
        raise _tampered(f"exported_at: {exc}") from None
    at_export = _judge(doc, scan, entries, versions, genesis, exported.date().isoformat())
    forged = [r for r in at_export.reasons if r.code in ("forged", "altered", "forged_membership")]
    if forged:
        raise _tampered(forged[0].message)
    claimed = doc["verdict"]
    derived = [r.code for r in at_export.reasons]
    if at_export.pack != doc["pack"] or claimed.get("verdict") != at_export.decision.value:
        raise _tampered(
            f"the file says {claimed.get('verdict')} for {doc['pack']}, its entries give "
            f"{at_export.decision.value} for {at_export.pack}"
        )
    if claimed.get("reasons") != derived:
        raise _tampered(
            f"the file's reasons {claimed.get('reasons')} are not the entries' {derived}"
        )
    witnessed, not_covered = _checkpoints(
        doc, entries, versions, genesis, int(exported.timestamp())
    )
    today = _judge(doc, scan, entries, versions, genesis, now.date().isoformat())
    return ProofReport(
        str(doc["pack"]),
        str(doc["exported_at"]),
        at_export,
        today,
        len(entries),
        len(versions),
        [str(w) for w in doc["withheld"]],
        witnessed,
        not_covered,
        now,
    )


__all__ = [
    "FORMAT",
    "TAMPERED",
    "ProofReport",
    "ProofTampered",
    "ProofUnusable",
    "export_proof",
    "verify_proof",
]
