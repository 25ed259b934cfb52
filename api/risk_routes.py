"""``GET /api/v1/risk/summary``: selections and outcomes per ISO week, for a regulator's chart
(issue 16, item 4; docs/spec/risk.md "Over time", the ``/risk`` page).

Counted from the signed records this node holds (ADR 0022): declarations by the week they were
first lodged, every decision and inspection outcome by the week it was signed. Lanes need the
commercial fields in clear, so only the customs node that took the declarations can count them:
each of its declarations is scored as it was when lodged (the report's walk,
``node/risk/report.py``); anywhere else ``lanes`` is ``null`` and ``lanes_unavailable`` says why.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response

from api.auth import LEDGER_READERS
from api.call import Call, json_response
from api.context import NodeContext
from api.declarations import risk_config
from api.problems import Problem
from api.route import Param, Route
from api.validation import Schema
from ledger.kinds import Kind, Role
from ledger.lifecycle.customs_decisions import DECISIONS, OUTCOMES
from node.replication.protocol import API_PREFIX
from node.risk.facts import History, Scorer, past
from node.risk.lanes import Lane
from node.risk.report import EVERY

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
SUMMARY_READERS = frozenset({Role.CUSTOMS, Role.REGULATOR})
LANES = tuple(lane.value for lane in Lane)
NOT_SCORED = (
    "lanes are scored from the declarations' commercial fields, which only the customs node "
    "that took them holds in clear"
)


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(today: date, count: int) -> list[date]:
    """The Mondays of the ``count`` ISO weeks ending with ``today``'s, oldest first."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def _lanes_by_week(ctx: NodeContext, org: str, lodged: dict[str, str]) -> dict[str, Counter[str]]:
    """Lane and random-selection counts per week of ``org``'s declarations in ``lodged``
    (``org/reference`` -> the week it was first lodged), each scored with only what was ordered
    before it (as ``risk_report`` does)."""
    declarations = ctx.store.earlier_declarations(org, None, limit=EVERY)
    verdicts = ctx.store.verdicts_after(org, ("", "", -1))
    scorer = Scorer(ctx.store, ctx.membership, risk_config(ctx))
    history = scorer.history = History(())
    counts: dict[str, Counter[str]] = {}
    applied = 0
    for declaration in declarations:
        while applied < len(verdicts) and verdicts[applied][3] < declaration.order:
            history.flag(*verdicts[applied])
            applied += 1
        record = ctx.store.declaration(declaration.reference, org)
        week = lodged.get(f"{org}/{declaration.reference}")
        if record is not None and record.opened is not None and week is not None:
            assessment = scorer.score(record)
            tally = counts.setdefault(week, Counter())
            tally[assessment.lane.value] += 1
            tally["random"] += assessment.selected
        history.add(dataclasses.replace(d, flags=()) for d in past([declaration]))
    return counts


def summary(ctx: NodeContext, call: Call) -> Response:
    org = ctx.config.feed.split("/", 1)[0]
    role = ctx.membership.organisations[org].role
    if role not in SUMMARY_READERS:
        raise Problem(
            "not-found",
            f"no risk summary at this node: declarations are held at customs and regulator "
            f"nodes, this is a {role.value} node",
        )
    mondays = _weeks(datetime.now(UTC).date(), call.number("weeks"))
    since = mondays[0].isoformat()
    rows = {week_of(d): _empty(d) for d in mondays}
    lodged: dict[str, str] = {}
    for signed in ctx.store.customs_records_since(since):
        week = week_of(date.fromisoformat(signed.ts[:10]))
        row = rows.get(week)
        if row is None:  # dated in a later week than this node's clock: not yet shown
            continue
        if signed.kind is Kind.DECLARE:
            row["declarations"] += 1
            lodged[signed.key] = week
        elif signed.kind is Kind.DECIDE and signed.what in row["decisions"]:
            row["decisions"][signed.what] += 1
        elif signed.kind is Kind.OUTCOME and signed.what in row["outcomes"]:
            row["outcomes"][signed.what] += 1
    scored = role is Role.CUSTOMS
    if scored:
        lanes = _lanes_by_week(ctx, org, lodged)
        for week, row in rows.items():
            tally = lanes.get(week, Counter())
            row["lanes"] = {lane: tally[lane] for lane in LANES}
            row["random"] = tally["random"]
    return json_response(
        {
            "node": ctx.name,
            "organisation": org,
            "role": role.value,
            "weeks": list(rows.values()),
            "lanes_unavailable": None if scored else NOT_SCORED,
        }
    )


def _empty(monday: date) -> dict[str, Any]:
    return {
        "week": week_of(monday),
        "start": monday.isoformat(),
        "declarations": 0,
        "decisions": dict.fromkeys(DECISIONS, 0),
        "outcomes": dict.fromkeys(OUTCOMES, 0),
        "lanes": None,
        "random": None,
    }


def _counts(names: tuple[str, ...]) -> Schema:
    return {
        "type": "object",
        "required": list(names),
        "properties": {n: {"type": "integer", "minimum": 0} for n in names},
    }


_NULLABLE_INT: Schema = {"type": ["integer", "null"], "minimum": 0}
SUMMARY: Schema = {
    "type": "object",
    "required": ["node", "organisation", "role", "weeks", "lanes_unavailable"],
    "properties": {
        "node": {"type": "string"},
        "organisation": {"type": "string"},
        "role": {"type": "string", "enum": sorted(r.value for r in SUMMARY_READERS)},
        "lanes_unavailable": {
            "type": ["string", "null"],
            "description": "Why ``lanes`` is null (a node that cannot score); null when scored.",
        },
        "weeks": {
            "type": "array",
            "description": "One row per ISO week, oldest first, the current week last.",
            "items": {
                "type": "object",
                "required": [
                    "week",
                    "start",
                    "declarations",
                    "decisions",
                    "outcomes",
                    "lanes",
                    "random",
                ],
                "properties": {
                    "week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
                    "start": {"type": "string", "format": "date", "description": "Its Monday."},
                    "declarations": {"type": "integer", "minimum": 0},
                    "decisions": _counts(DECISIONS),
                    "outcomes": _counts(OUTCOMES),
                    "lanes": {"oneOf": [{"type": "null"}, _counts(LANES)]},
                    "random": _NULLABLE_INT,
                },
            },
        },
    },
}


def risk_routes() -> list[Route]:
    """The chart's figures: selections and outcomes per week."""
    return [
        Route(
            f"{API_PREFIX}/risk/summary",
            "GET",
            "risk_summary",
            summary,
            "Declarations, lanes, random selections, decisions and inspection outcomes per ISO "
            "week, at a customs or regulator node (lanes only where the declarations are scored).",
            "customs",
            LEDGER_READERS,
            response=SUMMARY,
            params=(
                Param(
                    "weeks",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": MAX_WEEKS},
                    f"How many ISO weeks, ending with the current one (default {DEFAULT_WEEKS}).",
                    default=DEFAULT_WEEKS,
                ),
            ),
            problems=(404,),
        ),
    ]
