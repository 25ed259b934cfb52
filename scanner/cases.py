"""A case or pallet verified through the packs inside it: every pack, or a random sample of
them, each verified like a scanned pack; the case gets the worst verdict."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ledger.identifiers import container_uri, parse_subject
from scanner.outcome import Outcome, worst
from scanner.reading import ScanData
from scanner.sources.fallback import Sources
from scanner.verdict import Decision, Reason

DEFAULT_CASE_LIMIT = 100


@dataclass
class CaseOutcome:
    sscc: str
    outcomes: list[Outcome]
    total: int = 0  # packs the ledger lists in the case (``outcomes`` may be a sample)

    @property
    def decision(self) -> Decision:
        if not self.outcomes:
            return Decision.HOLD
        return worst(o.decision for o in self.outcomes)

    def reasons(self) -> list[Reason]:
        if not self.outcomes:
            return [Reason("empty_case", "the ledger lists no packs in this case")]
        counts = {d: sum(1 for o in self.outcomes if o.decision is d) for d in Decision}
        summary = ", ".join(f"{n} {d.value}" for d, n in counts.items() if n)
        checked = (
            f"{len(self.outcomes)} pack(s) in the case"
            if self.total <= len(self.outcomes)
            else f"a random sample of {len(self.outcomes)} of the {self.total} packs in the case"
        )
        reasons = [Reason("case", f"{checked}: {summary}")]
        for outcome in self.outcomes:
            if outcome.decision is not Decision.RELEASE:
                codes = ", ".join(r.code for r in outcome.verdict.reasons)
                reasons.append(
                    Reason(
                        outcome.decision.value.lower(),
                        f"pack {outcome.scan.serial}: {outcome.decision.value} ({codes})",
                    )
                )
        return reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.decision.value,
            "container": container_uri(self.sscc),
            "sscc": self.sscc,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons()],
            "packs": [o.to_json() for o in self.outcomes],
            "checked": len(self.outcomes),
            "total": self.total,
            "source": self.outcomes[0].source if self.outcomes else None,
            "freshness": self.outcomes[0].freshness.to_json() if self.outcomes else None,
        }


def verify_case(sources: Sources, sscc: str, *, limit: int = DEFAULT_CASE_LIMIT) -> CaseOutcome:
    """Every pack in the case, or a random sample of ``limit`` of them (seeded by the SSCC, so
    the same case always draws the same packs)."""
    packs = sources.case_packs(sscc)
    chosen = packs
    if len(packs) > limit:
        chosen = sorted(random.Random(sscc).sample(packs, limit))  # noqa: S311
    outcomes = []
    for uri in chosen:
        subject = parse_subject(uri)
        assert subject.gtin is not None
        assert subject.serial is not None
        scan = ScanData(subject.gtin, subject.serial, None, None, "case", uri, None)
        outcomes.append(sources.verify(scan))
    return CaseOutcome(sscc, outcomes, len(packs))
