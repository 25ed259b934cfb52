"""Product master data (ADR 0020, docs/spec/customs.md): register a GTIN, read it back.

``POST /api/v1/products`` signs a ``product`` entry on this (manufacturer's) node: the public
master data in clear, the reference price sealed (``ledger/sealed.py``); the opening stays in
this node's store. ``GET /api/v1/products/{gtin}`` answers any token; the reference price only
to an operator or auditor of the node that registered it (no other node holds it).
"""

from __future__ import annotations

from typing import Any

from flask import Response

from api.actions import notify_peers
from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem
from ledger.errors import IdentifierError, MalformedEntry
from ledger.identifiers import gtin14
from ledger.kinds import Kind
from ledger.lifecycle.products import product_step
from ledger.sealed import SEALED
from node.store import StoredRecord
from node.tokens import TokenInfo, TokenRole

#: Token roles shown sealed fields this node holds in clear (never a verifier: a scanner at a
#: counter or a border needs what the product is, not what it costs).
SEALED_READERS = frozenset({TokenRole.OPERATOR, TokenRole.AUDITOR})


def invalid(exc: MalformedEntry, prefix: str = "$") -> Problem:
    """A request the ledger's checks refuse: 400, with the JSON path of the first problem
    (``prefix`` replaces the ``$`` of the checks' paths: the item of a batch)."""
    text = str(exc)
    where, sep, rest = text.partition(":")
    if not (where.startswith("$") and sep):
        return Problem("invalid-request", text, extra={"path": prefix})
    path = prefix + where[1:]
    return Problem("invalid-request", path + ":" + rest, extra={"path": path})


def register(ctx: NodeContext, call: Call) -> Response:
    try:
        step, opening = product_step(call.body)
    except MalformedEntry as exc:
        raise invalid(exc) from None
    ctx.store.keep_openings(Kind.PRODUCT.value, [opening])
    try:
        entry = ctx.service.submit(step)
    except BaseException:
        ctx.store.drop_openings([opening])
        raise
    notify_peers(ctx)
    stored = ctx.store.product(step.body["gtin"])
    assert stored is not None
    return json_response({"entry": entry.to_wire(), "product": shown(stored, call.token)}, 201)


def shown(record: StoredRecord, token: TokenInfo | None) -> dict[str, Any]:
    """The product as ``token`` may see it."""
    data = dict(record.data)
    gtin = data.pop("gtin")
    sealed = data.pop(SEALED)
    answer: dict[str, Any] = {
        "gtin": gtin,
        "owner": record.feed.split("/", 1)[0],
        "entry": record.entry_id,
        "feed": record.feed,
        "ts": record.ts,
        "version": record.versions,
        "product": data,
        "sealed": sealed,
    }
    if record.opened is not None and token is not None and token.role in SEALED_READERS:
        answer["referencePrice"] = record.opened["referencePrice"]
    return answer


def show(ctx: NodeContext, call: Call) -> Response:
    try:
        gtin = gtin14(call.text("gtin"))
    except IdentifierError as exc:
        raise Problem("invalid-request", str(exc), extra={"parameter": "gtin"}) from None
    record = ctx.store.product(gtin)
    if record is None:
        raise Problem(
            "not-found",
            f"no product is registered for GTIN {gtin} at this node (unregistered_product)",
            extra={"code": "unregistered_product", "gtin": gtin},
        )
    return json_response(shown(record, call.token))
