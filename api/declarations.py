"""Import declarations at a customs node (ADR 0020, docs/spec/customs.md).

``POST /api/v1/declarations`` takes a batch: every declaration is checked first, then all are
signed as ``declare`` entries in one transaction, so any error stores nothing. The commercial
fields (parties, goods, values, net masses) are sealed in the signed body; their clear form
stays in this node's store. ``GET /api/v1/declarations/{reference}`` answers on a customs or
regulator node; the clear commercial fields only where they are held (the node that took it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Response

from api.actions import notify_peers
from api.call import Call, json_response
from api.context import NodeContext
from api.decisions import history_json
from api.problems import Problem
from api.products import SEALED_READERS, invalid
from ledger.action import Action
from ledger.errors import MalformedEntry
from ledger.kinds import Kind, Role
from ledger.lifecycle.declarations import REFERENCE, declaration_step
from ledger.sealed import SEALED, Opening
from node.risk.facts import Scorer
from node.risk.indicators import Finding
from node.risk.kcs import RiskInputError
from node.risk.lanes import Learned, RiskConfig, RiskConfigError, load_config
from node.store import StoredRecord

#: What scores a declaration's learned score (``risk.model``), or ``None`` without a model.
LearnedScore = Callable[[StoredRecord, Sequence[Finding]], Learned] | None

#: Organisations whose nodes answer declaration queries.
DECLARATION_READERS = frozenset({Role.CUSTOMS, Role.REGULATOR})


def declare(ctx: NodeContext, call: Call) -> Response:
    batch: list[dict[str, Any]] = call.body["declarations"]
    steps: list[Action] = []
    openings: list[Opening] = []
    seen: dict[str, int] = {}
    for i, request in enumerate(batch):
        try:
            step, opening = declaration_step(request)
        except MalformedEntry as exc:
            raise invalid(exc, prefix=f"$.declarations[{i}]") from None
        reference = request["reference"]
        if reference in seen:
            raise Problem(
                "invalid-request",
                f"$.declarations[{i}].reference: expected each reference once in a batch, found "
                f"{reference!r} also at $.declarations[{seen[reference]}]",
                extra={"path": f"$.declarations[{i}].reference"},
            )
        seen[reference] = i
        steps.append(step)
        openings.append(opening)
    risk = risk_config(ctx)  # a broken risk configuration refuses before anything is stored
    learned = learned_model(ctx, risk)  # so does a risk.model that is missing or broken
    ctx.store.keep_openings(Kind.DECLARE.value, openings)
    try:
        entries = ctx.service.submit_many(steps)
    except BaseException:
        ctx.store.drop_openings(openings)
        raise
    notify_peers(ctx)
    lanes = assessments(ctx, risk, list(seen), learned)  # issue 16: score and lane of each
    return json_response(
        {
            "declared": [
                {"reference": ref, "entry": e.id, "packages": len(s.subjects), "risk": lanes[ref]}
                for ref, e, s in zip(seen, entries, steps, strict=True)
            ]
        },
        201,
    )


def risk_config(ctx: NodeContext) -> RiskConfig:
    """The node.json ``risk`` section (docs/spec/risk.md "Configuration")."""
    try:
        return load_config(ctx.config.extra.get("risk"))
    except RiskConfigError as exc:
        raise Problem("internal", f"this node's risk configuration is not usable: {exc}") from None


def learned_model(ctx: NodeContext, config: RiskConfig) -> LearnedScore:
    """The learned score of ``risk.model`` (docs/spec/risk.md "The learned score at the
    node"), loaded once per process; a model that is missing or broken is the configuration's
    one-line refusal."""
    if config.model is None:
        return None
    from node.risk.declared import learned_score, load_model  # noqa: PLC0415 (numpy, LightGBM)

    try:
        return learned_score(load_model(config.model, ctx.data))
    except RiskInputError as exc:
        raise Problem(
            "internal", f"this node's risk configuration is not usable: risk.model: {exc}"
        ) from None


def assessments(
    ctx: NodeContext, config: RiskConfig, references: list[str], learned: LearnedScore = None
) -> dict[str, Any]:
    """Score, lane and reasons of declarations just lodged here (ADR 0027), with the learned
    score where a model is configured; the earlier declarations come from this process's
    history, caught up with the store."""
    scorer = Scorer(ctx.store, ctx.membership, config, learned)
    found: dict[str, Any] = {}
    for reference in references:
        record = ctx.store.declaration(reference, ctx.config.org)
        found[reference] = scorer.score(record).to_json() if record is not None else None
    return found


def shown(record: StoredRecord, may_open: bool) -> dict[str, Any]:
    data = dict(record.data)
    sealed = data.pop(SEALED)
    answer: dict[str, Any] = {
        "reference": data["reference"],
        "organisation": record.feed.split("/", 1)[0],
        "entry": record.entry_id,
        "feed": record.feed,
        "ts": record.ts,
        "version": record.versions,
        "declaration": data,
        "packages": list(record.about),
        "sealed": sealed,
        "commercial": record.opened if may_open else None,
    }
    return answer


def show(ctx: NodeContext, call: Call) -> Response:
    reference = call.text("reference")
    role = ctx.membership.organisations[ctx.config.feed.split("/", 1)[0]].role
    if role not in DECLARATION_READERS:
        raise Problem(
            "not-found",
            f"no declaration {reference} is held at this node: declarations are read at customs "
            f"and regulator nodes, this is a {role.value} node",
        )
    if not REFERENCE.match(reference):
        raise Problem(
            "invalid-request",
            f"expected a declaration reference of 1 to 35 of A-Z 0-9 / -, found {reference!r}",
            extra={"parameter": "reference"},
        )
    record = ctx.store.declaration(reference, ctx.config.feed.split("/", 1)[0])
    if record is None:
        raise Problem("not-found", f"no declaration {reference} is held at this node")
    may_open = call.token is not None and call.token.role in SEALED_READERS
    answer = shown(record, may_open) | history_json(ctx, record)  # ADR 0022
    # issue 16: the lane where the commercial fields are read (the customs node that took it)
    answer["risk"] = _risk(ctx, record) if may_open and record.opened is not None else None
    return json_response(answer)


def _risk(ctx: NodeContext, record: StoredRecord) -> dict[str, Any]:
    config = risk_config(ctx)
    learned = learned_model(ctx, config)
    return Scorer(ctx.store, ctx.membership, config, learned).score(record).to_json()
