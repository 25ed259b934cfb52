"""What a verification produces: the verdict on one pack with where its data came from and
how fresh that data is, and the JSON a scanner prints for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.identifiers import parse_subject
from ledger.kinds import Kind
from scanner.reading import ScanData
from scanner.verdict import Decision, Verdict

if TYPE_CHECKING:
    from scanner.witnessed import Witnessing

_RANK = {Decision.RELEASE: 0, Decision.HOLD: 1, Decision.REJECT: 2}


@dataclass(frozen=True)
class Freshness:
    """How current the data behind a verdict is."""

    source: str  # "node" | "store" | "bundle"
    as_of: str | None  # newest entry's ts (store), the bundle's creation time, the answer time
    age_s: float | None = None
    max_age_s: float | None = None
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "as_of": self.as_of,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "max_age_s": self.max_age_s,
            "stale": self.stale,
        }


@dataclass(frozen=True)
class Basis:
    """What a verdict was decided on, as a proof file carries it (``scanner/proof_file.py``):
    the pack's entries as a verifier sees them (disclosures, never a sidecar), the membership
    versions, the entries withheld."""

    entries: tuple[SignedEntry, ...]
    memberships: tuple[Any, ...]  # SignedMembership
    withheld: tuple[str, ...] = ()


@dataclass
class Outcome:
    """A verdict on one scanned pack, with where its data came from."""

    scan: ScanData
    verdict: Verdict
    source: str  # "online" | "offline"
    freshness: Freshness
    where: str = ""  # the node URL or the data path
    basis: Basis | None = None  # not in the JSON: for --export-proof
    witnessing: Witnessing | None = None  # the checkpoints checked (scanner/witnessed.py)
    checkpoint_items: tuple[Mapping[str, Any], ...] = ()  # as fetched, for --export-proof
    #: A pack of a foreign root verified by the node (docs/spec/cross-border.md): which
    #: country's ledger answered (``ledger_country``, ``answered_by``, ``checkpoint_age_s``).
    foreign: Mapping[str, Any] | None = None

    @property
    def decision(self) -> Decision:
        return self.verdict.decision

    def to_json(self) -> dict[str, Any]:
        v = self.verdict
        state = v.state
        return {
            "verdict": v.decision.value,
            "pack": v.pack,
            "gtin": self.scan.gtin,
            "serial": self.scan.serial,
            "lot": self.scan.lot,
            "expiry": self.scan.expiry,
            "reasons": [{"code": r.code, "message": r.message} for r in v.reasons],
            "warnings": [{"code": r.code, "message": r.message} for r in v.warnings],
            "product": None if v.product is None else v.product.to_json(),
            "timeline": timeline_json(v.timeline),
            "alerts": [alert_json(a) for a in v.alerts],
            "freshness": self.freshness.to_json(),
            "checkpoints": None if self.witnessing is None else self.witnessing.to_json(),
            "source": self.source,
            "ledger": None
            if state is None
            else {
                "lot": state.lot,
                "expiry": state.expiry,
                "status": state.status.value,
                "custodian": state.custodian,
                "destination": state.destination,
                "container": state.container,
                "commissioned": state.commissioned,
            },
            "scan": self.scan.to_json(),
            "where": self.where,
        } | ({} if self.foreign is None else {"foreign": dict(self.foreign)})


def timeline_json(entries: Sequence[SignedEntry]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        p = entry.payload
        row: dict[str, Any] = {"ts": p.ts, "feed": p.feed, "kind": p.kind.value, "entry": entry.id}
        detail = _detail(entry)
        if detail:
            row["detail"] = detail
        rows.append(row)
    return rows


def _detail(entry: SignedEntry) -> str:
    p = entry.payload
    body = p.body
    if p.kind is Kind.COMMISSION:
        raw = body.get("ilmd")
        ilmd: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        commitment = body.get("commitment")
        if p.commits and isinstance(commitment, dict):
            count = int(commitment.get("size", 0))
        else:
            count = len(body["serials"]) if isinstance(body.get("serials"), list) else 0
        packs = "1 pack" if count == 1 else f"{count} packs"
        return f"lot {ilmd.get('lotNumber')}, expiry {ilmd.get('itemExpirationDate')}, {packs}"
    if p.kind in (Kind.SHIP, Kind.RETURN):
        return f"to {body.get('destination')}" + _via(p.subjects)
    if p.kind is Kind.INSPECT:
        return f"{body.get('decision')}" + _via(p.subjects)
    if p.kind in (Kind.PACK, Kind.UNPACK) and p.subjects:
        return f"{'into' if p.kind is Kind.PACK else 'out of'} {_short(p.subjects[0])}"
    if p.kind in (Kind.RECALL, Kind.WITHDRAW) and p.subjects:
        return _short(p.subjects[0])
    return _via(p.subjects).strip()


def _via(subjects: Sequence[str]) -> str:
    containers = [s for s in subjects if "/00/" in s]
    return f" (with {_short(containers[0])})" if containers else ""


def _short(uri: str) -> str:
    subject = parse_subject(uri) if uri.startswith("https://id.gs1.org/") else None
    if subject is not None and subject.sscc:
        return f"SSCC {subject.sscc}"
    if subject is not None and subject.lot:
        return f"lot {subject.lot}"
    return uri


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "code": alert.code.value,
        "level": alert.level.value,
        "subject": alert.subject,
        "message": alert.message,
        "evidence": [e for e in alert.evidence if e],
    }


def worst(decisions: Iterable[Decision]) -> Decision:
    return max(decisions, key=lambda d: _RANK[d], default=Decision.RELEASE)
