"""Customs decisions, inspection outcomes and failed-check reports (ADR 0022,
docs/spec/customs.md).

``POST /api/v1/declarations/{reference}/decision`` signs a ``decide`` entry naming the
declaration this customs post took, and, in the same transaction, an ``inspect`` step over the
declared packages the ledger knows: a hold, detention or seizure quarantines them, a release
lets them go (refused, 409, for a recalled lot or a dispensed pack, as any release is).
A seizure is final: a later decision is refused with 409 ``decision_after_seizure``.
``POST …/inspection`` signs an ``outcome`` entry (what the inspection found). ``POST
/api/v1/checks`` is how a scanner that decided on its own (``medtrace scan --node``) reports a
failed verdict (``api/failed_checks.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Response

from api.actions import notify_peers
from api.auth import WRITERS
from api.call import Call, json_response
from api.context import NodeContext
from api.decision_schemas import (
    CHECK_RECORDED,
    CHECK_REPORT,
    DECISION,
    INSPECTION,
    RECORDED,
)
from api.failed_checks import write_failed_check
from api.problems import Problem
from api.products import invalid
from api.route import Param, Route
from ledger.action import Action
from ledger.errors import IdentifierError, MalformedEntry
from ledger.identifiers import SubjectType, parse_subject
from ledger.kinds import Kind
from ledger.lifecycle.customs_decisions import INSPECT_FOR, record_step
from ledger.lifecycle.declarations import REFERENCE
from node.replication.protocol import API_PREFIX
from node.store import StoredRecord
from node.tokens import TokenRole

#: Who may report a failed check: a scanner's verifier token, or an operator.
REPORTERS = frozenset({TokenRole.OPERATOR, TokenRole.VERIFIER})


def _own_declaration(ctx: NodeContext, call: Call) -> StoredRecord:
    reference = call.text("reference")
    if not REFERENCE.match(reference):
        raise Problem(
            "invalid-request",
            f"expected a declaration reference of 1 to 35 of A-Z 0-9 / -, found {reference[:40]!r}",
            extra={"parameter": "reference"},
        )
    record = ctx.store.declaration(reference, ctx.config.org)
    if record is None or record.feed.split("/", 1)[0] != ctx.config.org:
        raise Problem("not-found", f"no declaration {reference} was lodged at this customs post")
    return record


def _known_packages(ctx: NodeContext, record: StoredRecord) -> list[str]:
    """The declared packages the ledger knows (an unknown one cannot be held or released)."""
    packs, known = [], []
    for uri in record.about:
        if parse_subject(uri).type is SubjectType.CONTAINER:
            if ctx.store.container(uri) is not None:
                known.append(uri)
        else:
            packs.append(uri)
    held = ctx.store.packs(packs)
    return known + [uri for uri in packs if uri in held]


def _record(ctx: NodeContext, call: Call, kind: Kind) -> tuple[StoredRecord, Action]:
    record = _own_declaration(ctx, call)
    body = {"declaration": record.data["reference"], **call.body}
    try:
        return record, record_step(kind, body, record.entry_id)
    except MalformedEntry as exc:
        raise invalid(exc) from None


def decide(ctx: NodeContext, call: Call) -> Response:
    record, step = _record(ctx, call, Kind.DECIDE)
    decision = step.body["decision"]
    steps = [step]
    packages = _known_packages(ctx, record)
    if packages:
        steps.append(Action(Kind.INSPECT, packages, (), {"decision": INSPECT_FOR[decision]}))
    entries = ctx.service.submit_many(steps)
    notify_peers(ctx)
    answer = {
        "reference": record.data["reference"],
        "decision": decision,
        "entry": entries[0].id,
        "inspect": entries[1].id if len(entries) > 1 else None,
    }
    return json_response(answer, 201)


def inspected(ctx: NodeContext, call: Call) -> Response:
    record, step = _record(ctx, call, Kind.OUTCOME)
    entry = ctx.service.submit(step)
    notify_peers(ctx)
    answer = {
        "reference": record.data["reference"],
        "outcome": step.body["outcome"],
        "entry": entry.id,
    }
    return json_response(answer, 201)


def report_check(ctx: NodeContext, call: Call) -> Response:
    body: dict[str, Any] = call.body
    packs: list[str] = body["packs"]
    if call.token is not None and call.token.role is TokenRole.VERIFIER and len(packs) > 1:
        raise Problem(
            "invalid-request",
            f"$.packs: expected the one pack a verifier scanned, found {len(packs)}",
            extra={"path": "$.packs"},
        )
    for i, uri in enumerate(packs):
        try:
            kind = parse_subject(uri).type
        except IdentifierError as exc:
            raise Problem(
                "invalid-request",
                f"$.packs[{i}]: {str(exc)[:200]}",
                extra={"path": f"$.packs[{i}]"},
            ) from None
        if kind not in (SubjectType.PACK, SubjectType.CONTAINER):
            raise Problem(
                "invalid-request",
                f"$.packs[{i}]: expected a pack or SSCC URI, found a {kind.value} URI",
                extra={"path": f"$.packs[{i}]"},
            )
    try:
        entries = write_failed_check(
            ctx,
            packs=packs,
            verdict=body["verdict"],
            reasons=body["reasons"],
            context=body["context"],
            declaration=body.get("declaration"),
            lot=body.get("lot"),
            expiry=body.get("expiry"),
            country=body.get("country"),
        )
    except MalformedEntry as exc:
        raise invalid(exc) from None
    return json_response(
        {"entries": [e.id for e in entries], "alerts": sum(len(e.about) for e in entries)}, 201
    )


def history_json(ctx: NodeContext, record: StoredRecord) -> dict[str, Any]:
    """A declaration's decisions and inspection outcomes, oldest first, and those in force."""
    org = record.feed.split("/", 1)[0]
    key = f"{org}/{record.data['reference']}"
    found: dict[str, Any] = {}
    for kind, name, field, text in (
        (Kind.DECIDE, "decisions", "decision", "note"),
        (Kind.OUTCOME, "outcomes", "outcome", "findings"),
    ):
        rows = [
            {
                field: v.data[field],
                text: v.data.get(text),
                "entry": v.entry_id,
                "feed": v.feed,
                "ts": v.ts,
            }
            for v in ctx.store.record_history(kind.value, key)
        ]
        found[name] = rows
        found[field] = rows[-1] if rows else None
    return found


def decision_routes() -> list[Route]:
    """Decide about, and record the inspection of, a declared consignment; report a check."""
    reference = Param("reference", "path", {"type": "string"}, "The declaration's UCR.")
    return [
        Route(
            f"{API_PREFIX}/declarations/<path:reference>/decision",
            "POST",
            "declaration_decide",
            decide,
            "Release, hold, detain or seize a declared consignment: a signed decide entry "
            "naming the declaration, and an inspect step over its packages.",
            "customs",
            WRITERS,
            request=DECISION,
            response=RECORDED,
            status=201,
            params=(reference,),
            kind=Kind.DECIDE,
        ),
        Route(
            f"{API_PREFIX}/declarations/<path:reference>/inspection",
            "POST",
            "declaration_inspected",
            inspected,
            "Record what an inspection of a declared consignment found: found_falsified, "
            "found_compliant or not_inspected, with optional findings.",
            "customs",
            WRITERS,
            request=INSPECTION,
            response=RECORDED,
            status=201,
            params=(reference,),
            kind=Kind.OUTCOME,
        ),
        Route(
            f"{API_PREFIX}/checks",
            "POST",
            "check_report",
            report_check,
            "Report a failed verification (REJECT, or HOLD on evidence) a scanner decided on "
            "its own: a signed check entry raising an alert on every node.",
            "verification",
            REPORTERS,  # a verifier's route: its query bucket and the harvesting guard
            request=CHECK_REPORT,
            response=CHECK_RECORDED,
            status=201,
            kind=Kind.CHECK,
        ),
    ]
