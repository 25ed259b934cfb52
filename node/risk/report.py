"""How often each risk indicator, lane and the random selection found something (issue 16,
item 3; docs/spec/risk.md "The report").

Every declaration of a customs organisation held by this node is scored again as it was scored
when it was lodged (the same ``Scorer``, with only the declarations, decisions and outcomes
ordered before it), and set beside the newest inspection
outcome recorded about it (``outcome`` records, ADR 0022). A declaration counts as
**inspected** when that outcome is ``found_falsified`` or ``found_compliant`` (``not_inspected``
is a decision not to look, not an inspection); it is a **hit** when it is ``found_falsified``.
The hit rate is hits over inspected: what weights can be tuned on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.membership import Membership
from node.risk.facts import History, Scorer, past
from node.risk.indicators import BY_CODE
from node.risk.lanes import Assessment, Lane, RiskConfig
from node.store import Store, StoredRecord

INSPECTED = frozenset({"found_falsified", "found_compliant"})
FOUND = "found_falsified"
OUTCOMES = INSPECTED | {"not_inspected"}
#: Every declaration: the reads take a limit, and a report wants them all.
EVERY = 1_000_000_000


@dataclass
class Tally:
    """Declarations a reason fired on (or in a lane), how many were inspected, how many found."""

    declarations: int = 0
    inspected: int = 0
    found: int = 0
    unevaluated: int = 0

    def add(self, outcome: str | None) -> None:
        self.declarations += 1
        self.inspected += outcome in INSPECTED
        self.found += outcome == FOUND

    @property
    def hit_rate(self) -> float | None:
        """Found over inspected; ``None`` when nothing was inspected (unknown, not 0)."""
        return round(self.found / self.inspected, 6) if self.inspected else None

    def to_json(self) -> dict[str, Any]:
        return {"declarations": self.declarations, "inspected": self.inspected,
                "found": self.found, "hit_rate": self.hit_rate}  # fmt: skip


@dataclass
class RiskReport:
    org: str
    overall: Tally = field(default_factory=Tally)
    indicators: dict[str, Tally] = field(
        default_factory=lambda: {code: Tally() for code in BY_CODE}
    )
    lanes: dict[str, Tally] = field(default_factory=lambda: {lane.value: Tally() for lane in Lane})
    random: Tally = field(default_factory=Tally)

    def add(self, assessment: Assessment, outcome: str | None) -> None:
        self.overall.add(outcome)
        for reason in assessment.reasons:
            self.indicators[reason.code].add(outcome)
        for finding in assessment.unevaluated:
            self.indicators[finding.code].unevaluated += 1
        self.lanes[assessment.lane.value].add(outcome)
        if assessment.selected:
            self.random.add(outcome)

    def to_json(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "overall": self.overall.to_json(),
            "indicators": {
                code: {"name": BY_CODE[code].name, **t.to_json(), "unevaluated": t.unevaluated}
                for code, t in self.indicators.items()
            },
            "lanes": {lane: t.to_json() for lane, t in self.lanes.items()},
            "random": self.random.to_json(),
        }


def newest_outcome(verdicts: Iterable[tuple[str, str]]) -> str | None:
    """The newest inspection outcome among a declaration's decisions and outcomes (oldest
    first), ``None`` when no outcome was recorded."""
    found = None
    for _, what in verdicts:
        if what in OUTCOMES:
            found = what
    return found


def replay(
    store: Store,
    membership: Membership,
    org: str,
    config: RiskConfig,
    *,
    progress: Callable[[int], object] | None = None,
) -> Iterator[tuple[Any, StoredRecord, Assessment]]:
    """Every declaration of ``org`` this node holds (``node.store``'s ``EarlierDeclaration``, with
    its decisions and outcomes), in the total order, with its record and the assessment it had
    when lodged.

    The history grows as the node's did: a declaration sees the earlier declarations, and only
    the decisions and outcomes ordered before it. An outcome recorded later (a seizure of the
    same consignor's next parcel) would otherwise fire R8 on declarations lodged before anyone
    knew, and credit the indicator with finds it did not make (or, for the learned score, teach
    it a rule feature no one had when the declaration came in)."""
    declarations = store.earlier_declarations(org, None, limit=EVERY)
    verdicts = store.verdicts_after(org, ("", "", -1))
    scorer = Scorer(store, membership, config)
    history = scorer.history = History(())
    applied = 0
    for n, declaration in enumerate(declarations, 1):
        while applied < len(verdicts) and verdicts[applied][3] < declaration.order:
            history.flag(*verdicts[applied])
            applied += 1
        record = store.declaration(declaration.reference, org)
        if record is None:  # pragma: no cover - read just above from the same store
            continue
        yield declaration, record, scorer.score(record)
        history.add(dataclasses.replace(d, flags=()) for d in past([declaration]))
        if progress is not None and n % 100 == 0:
            progress(100)


def risk_report(
    store: Store,
    membership: Membership,
    org: str,
    config: RiskConfig,
    *,
    progress: Callable[[int], object] | None = None,
) -> RiskReport:
    """Score every declaration of ``org`` this node holds, in the total order, with the history
    it had when lodged (``replay``), and tally the outcomes."""
    report = RiskReport(org)
    for declaration, _, assessment in replay(store, membership, org, config, progress=progress):
        report.add(assessment, newest_outcome(declaration.verdicts))
    return report
