"""Failed checks become alerts that reach the regulator (ADR 0022, docs/spec/customs.md).

Every REJECT, and every HOLD whose cause is evidence about the goods rather than a scan or
network error, is written as a signed ``check`` entry on this node's feed: it replicates to
every node, and every node's lifecycle raises the same alert about each pack or container it
names (``check_rejected`` or ``check_held``). Only bounded fields go into it (verdict, reason
codes, context, declaration reference, printed lot and expiry, country): the alert's words are
the ledger's, so a reporter cannot put free text into other nodes' alerts.

``record_failed_check`` is the one door: the web scan (``api/web_scan.py``), the consignment
check and ``POST /api/v1/checks`` (``api/decisions.py``) call it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from api.actions import notify_peers
from api.context import NodeContext
from ledger.action import Action
from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.kinds import Kind
from ledger.lifecycle.checks import (
    COUNTRY,
    DATE,
    LOT,
    MAX_REASONS,
    MAX_SUBJECTS,
    REASON,
    alerts_of,
    check_step,
)
from ledger.lifecycle.declarations import REFERENCE
from ledger.timefmt import format_ts
from node.tokens import TokenInfo

#: How long the same failed check (packs, verdict, reasons, context, details) is signed once only.
REPEAT_WINDOW = timedelta(hours=24)

#: Reasons that say nothing about the goods (the code did not read, the ledger did not answer,
#: the data is stale, no witnessed checkpoint covers it yet): a HOLD for these alone raises no
#: alert.
NOT_EVIDENCE = frozenset(
    {
        "scan_error",
        "uncertain_scan",
        "ledger_unreachable",
        "bad_answer",
        "no_membership",
        "stale_data",
        "incomplete_bundle",
        "no_cosigned_checkpoint",
        "authentic",
    }
)
#: A HOLD with one of these is a scan error whatever else it says: a lot that differs after the
#: reader put the separators back by assumption is the assumption's fault until rescanned.
VETO = frozenset({"uncertain_scan", "scan_error"})
FAILED = ("REJECT", "HOLD")


def evidence_reasons(verdict: str, reasons: Sequence[str]) -> list[str]:
    """The reason codes a check of ``verdict`` reports (those about the goods), or ``[]`` when
    it raises no alert: a RELEASE, or a HOLD whose every reason is a scan or network error."""
    if verdict not in FAILED or (verdict == "HOLD" and VETO & set(reasons)):
        return []
    kept = [r for r in dict.fromkeys(reasons) if REASON.match(r)]
    evidence = [r for r in kept if r not in NOT_EVIDENCE]
    if not evidence:
        return []
    return evidence[:MAX_REASONS]


def write_failed_check(
    ctx: NodeContext,
    *,
    packs: Sequence[str],
    verdict: str,
    reasons: Sequence[str],
    context: str,
    declaration: str | None = None,
    lot: str | None = None,
    expiry: str | None = None,
    country: str | None = None,
) -> list[SignedEntry]:
    """Sign the ``check`` entries (one per ``MAX_SUBJECTS`` packs) and keep their alerts here.

    Raises ``MalformedEntry`` for a field out of bounds and the ``LedgerError`` of a refused
    write; returns ``[]`` when the verdict raises no alert (``evidence_reasons``)."""
    codes = evidence_reasons(verdict, reasons)
    if not codes or not packs:
        return []
    body: dict[str, str | list[str]] = {"verdict": verdict, "reasons": codes, "context": context}
    optional = {"declaration": declaration, "lot": lot, "expiry": expiry, "country": country}
    body |= {k: v for k, v in optional.items() if v is not None}
    refs: list[str] = []
    if declaration is not None:
        held = ctx.store.declaration(declaration, ctx.config.org)
        refs = [held.entry_id] if held is not None else []
    subjects = list(dict.fromkeys(packs))
    chunks = [subjects[i : i + MAX_SUBJECTS] for i in range(0, len(subjects), MAX_SUBJECTS)]
    steps: list[Action] = [
        check_step(chunk, body, refs) for chunk in chunks if not _reported_lately(ctx, chunk, body)
    ]
    if not steps:
        return []
    entries = ctx.service.submit_many(steps)
    alerts: list[Alert] = [a for e in entries for a in alerts_of(e)]
    ctx.store.keep_alerts(alerts)
    notify_peers(ctx)
    return entries


def _reported_lately(ctx: NodeContext, subjects: Sequence[str], body: Mapping[str, Any]) -> bool:
    """Whether this node's feed signed the same failed check (the same packs, verdict, reasons,
    context and details) within ``REPEAT_WINDOW``: a pack rescanned at the counter, or asked
    about again and again, raises one alert, not one per scan, and cannot fill the ledger."""
    since = format_ts(datetime.now(UTC) - REPEAT_WINDOW)
    for entry in ctx.store.entries_naming(subjects[0]):
        p = entry.payload
        if p.kind is not Kind.CHECK or p.feed != ctx.feed or p.ts < since:
            continue
        shown = {k: v for k, v in p.body.items() if k != "commitment"}
        if shown == dict(body) and set(entry.about) == set(subjects):
            return True
    return False


def _fitting(pattern: re.Pattern[str], value: str | None) -> str | None:
    """An optional detail that does not fit its field is left out, not the whole report."""
    return value if value is not None and pattern.match(value) else None


def record_failed_check(
    ctx: NodeContext,
    token: TokenInfo | None,
    *,
    packs: Sequence[str],
    verdict: str,
    reasons: Sequence[str],
    context: str,
    declaration: str | None = None,
    lot: str | None = None,
    expiry: str | None = None,
    country: str | None = None,
) -> list[str]:
    """Record a failed verification so that it raises an alert on every node; never fails.

    ``packs``: the pack URIs (``https://id.gs1.org/01/{gtin}/21/{serial}``) and container URIs
    (``…/00/{sscc}``) the verdict is about; the offending packs of a consignment, any number
    (one entry per 1,000; two or more packs in one entry are committed to, not listed).
    ``verdict``: ``"REJECT"`` or ``"HOLD"`` (anything else records nothing). ``reasons``: the
    verdict's reason codes (``"lot_mismatch"``, ``"recalled"``, …); a HOLD whose reasons are
    all scan or network errors (``NOT_EVIDENCE``) records nothing. ``context``: ``"counter"``,
    ``"border"`` or ``"warehouse"``. ``declaration``: the reference of the declaration checked
    against (the ``declare`` entry is named in refs when this node holds it). ``lot``,
    ``expiry`` (ISO date), ``country`` (ISO 3166 alpha-2): what the code printed and where
    (each left out when it does not fit its field).

    Returns the ids of the entries written, ``[]`` when none was (nothing to report, or the
    write was refused: logged, never raised, so a scan's answer never fails for its report).
    ``token`` is whoever asked for the check (logged on a refusal).
    """
    try:
        entries = write_failed_check(
            ctx,
            packs=packs,
            verdict=verdict,
            reasons=reasons,
            context=context,
            declaration=_fitting(REFERENCE, declaration),
            lot=_fitting(LOT, lot),
            expiry=_fitting(DATE, expiry),
            country=_fitting(COUNTRY, country),
        )
    except LedgerError as exc:
        ctx.log.event(
            "failed check not recorded",
            level=logging.WARNING,
            error=str(exc)[:200],
            user=token.user if token is not None else None,
        )
        return []
    return [e.id for e in entries]


__all__ = ["NOT_EVIDENCE", "evidence_reasons", "record_failed_check", "write_failed_check"]
