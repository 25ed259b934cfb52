"""Writes: commissioning and every other business step, signed by this node's feed.

Each view hands a validated body to ``NodeService`` (the only writer); the rules are applied
strictly there and a refusal comes back as a problem (``api/problems.py``). After a successful
write the node's peers are told (``notify``) so they pull the new entries soon.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response

from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem
from ledger.action import Action
from ledger.kinds import Kind

#: Commissioning body members the service sets itself: a client's ``body`` may not override them.
RESERVED_COMMISSION_MEMBERS = frozenset({"gtin", "ilmd", "serials"})


def notify_peers(ctx: NodeContext) -> None:
    """Tell the peers there is news; a failure here never turns a stored write into an error."""
    if ctx.replication is None:
        return
    try:
        ctx.replication.notify()
    except Exception as exc:  # noqa: BLE001 (the entry is stored; the timer will carry it)
        ctx.log.event("notify failed", level=logging.WARNING, error=type(exc).__name__)


def commission(ctx: NodeContext, call: Call) -> Response:
    body: dict[str, Any] = call.body
    extra: dict[str, Any] = body.get("body", {})
    reserved = sorted(RESERVED_COMMISSION_MEMBERS & set(extra))
    if reserved:
        member = reserved[0]
        raise Problem(
            "invalid-request",
            f"$.body.{member}: expected it absent (the node sets {member} itself)",
            extra={"path": f"$.body.{member}"},
        )
    kwargs: dict[str, Any] = {"extra": extra}
    if "chunk" in body:
        kwargs["chunk"] = body["chunk"]
    done = ctx.service.commission(
        body["gtin"],
        body["lot"],
        body["expiry"],
        count=body.get("count", 0),
        serials=body.get("serials", ()),
        **kwargs,
    )
    notify_peers(ctx)
    return json_response(
        {
            "gtin": done.gtin,
            "lot": done.lot,
            "expiry": done.expiry,
            "count": len(done.serials),
            "serials": done.serials,
            "entries": [e.id for e in done.entries],
        },
        201,
    )


def action(kind: Kind) -> Any:
    """The view for ``POST /api/v1/actions/<kind>``."""

    def view(ctx: NodeContext, call: Call) -> Response:
        body: dict[str, Any] = call.body
        entry = ctx.service.submit(
            Action(kind, body["subjects"], body.get("refs", ()), body.get("body", {}))
        )
        notify_peers(ctx)
        return json_response({"entry": entry.to_wire()}, 201)

    view.__name__ = f"action_{kind.value}"
    return view
