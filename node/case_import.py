"""A verified case of another consortium as the alert record an importing node keeps (ADR 0029,
docs/spec/cases.md): code ``foreign_case``, about the case's subject, its words written here
from the verified entries (never from free text in the file), naming the foreign consortium."""

from __future__ import annotations

import json
from typing import Any

from ledger.alerts import LEVEL, Code
from ledger.cases import VerifiedCase
from ledger.kinds import Kind
from ledger.membership import ForeignRoot
from node.store import ForeignCase


def declaration_subject(org: str, reference: str) -> str:
    """The subject of a case about a declaration (as ``decision_after_seizure`` names one)."""
    return f"urn:medtrace:declaration:{org}/{reference}"


def _newest(case: VerifiedCase, kind: Kind, field: str) -> str | None:
    found = [e for e in case.entries if e.payload.kind is kind]
    if not found:
        return None
    value = max(found, key=lambda e: e.payload.order_key).payload.body.get(field)
    return value if isinstance(value, str) else None


def _subject(case: VerifiedCase) -> str:
    if "alert" in case.subject:
        return next(a.subject for a in case.alerts if a.id == case.subject["alert"])
    reference = case.subject["declaration"]
    declare = next(
        e
        for e in case.entries
        if e.payload.kind is Kind.DECLARE
        and e.payload.body.get("declaration", {}).get("reference") == reference
    )
    return declaration_subject(declare.payload.org, reference)


def _message(case: VerifiedCase, root: ForeignRoot) -> str:
    head = (
        f"case from {root.name} ({root.country}), exported by {case.exporter_org} "
        f"({case.exporter_role.value})"
    )
    parts = []
    if "alert" in case.subject:
        alert = next(a for a in case.alerts if a.id == case.subject["alert"])
        parts.append(f"{alert.code.value}: {alert.message}")
    else:
        parts.append(f"declaration {case.subject['declaration']}")
    decision = _newest(case, Kind.DECIDE, "decision")
    if decision is not None:
        parts.append(f"decision {decision}")
    outcome = _newest(case, Kind.OUTCOME, "outcome")
    if outcome is not None:
        parts.append(f"outcome {outcome}")
    return f"{head}: {'; '.join(parts)}"


def foreign_case(
    case: VerifiedCase, root: ForeignRoot, raw: bytes, imported_at: str
) -> ForeignCase:
    """The record to keep for ``case`` (verified against ``root``'s genesis)."""
    evidence = [e.id for e in case.entries]
    details: dict[str, Any] = {
        "case": case.id,
        "genesis": case.genesis,
        "consortium": case.consortium,
        "name": root.name,
        "country": root.country,
        "exporter": {
            "organisation": case.exporter_org,
            "feed": case.exporter_feed,
            "role": case.exporter_role.value,
        },
        "exported_at": case.exported_at,
        "subject": dict(case.subject),
        "alerts": [
            {"id": a.id, "code": a.code.value, "subject": a.subject, "message": a.message}
            for a in case.alerts
        ],
        "declarations": case.declarations,
        "photos": [{k: p[k] for k in ("name", "mediaType", "sha256")} for p in case.photos],
    }
    return ForeignCase(
        case.id,
        case.genesis,
        _subject(case),
        _message(case, root),
        details,
        evidence,
        raw,
        imported_at,
    )


def alert_json(case: ForeignCase, *, with_entries: bool = True) -> dict[str, Any]:
    """An imported case as ``GET /api/v1/alerts`` lists it."""
    shown: dict[str, Any] = {
        "id": case.id,
        "code": Code.FOREIGN_CASE.value,
        "level": LEVEL[Code.FOREIGN_CASE].value,
        "subject": case.subject,
        "message": case.message,
        "evidence": case.evidence,
    }
    if with_entries:
        shown["entries"] = json.loads(case.case)["entries"]
    return {**shown, "ts": case.imported_at, "foreign": case.details}


__all__ = ["alert_json", "declaration_subject", "foreign_case"]
