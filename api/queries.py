"""Reads: pack state, pack provenance, containers, alerts with their evidence.

The pack and provenance queries are the verification queries a scanner makes; they (and the
container query, which lists serials) are rate-limited per token by the dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Response

from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem
from ledger.alerts import Alert
from ledger.identifiers import container_uri, gtin14, pack_uri
from ledger.state import PackState
from ledger.status import TERMINAL, Status
from node.store.view import DbStateView, Ids

#: Statuses that still move in the supply chain: expiry overrides them when shown.
_IN_SUPPLY = frozenset({Status.ACTIVE, Status.IN_TRANSIT, Status.LOCKED, Status.QUARANTINED})


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def effective_status(
    state: PackState, recalled_by: str | None, withdrawn_by: str | None, day: str
) -> Status:
    """What a pack counts as: a recall or withdrawal overrides every status but destroyed and
    stolen; expiry overrides the statuses of a pack still in the supply chain."""
    if state.status in TERMINAL:
        return state.status
    if recalled_by is not None:
        return Status.RECALLED
    if withdrawn_by is not None:
        return Status.WITHDRAWN
    if state.status in _IN_SUPPLY and day > state.expiry:
        return Status.EXPIRED
    return state.status


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "code": alert.code.value,
        "level": alert.level.value,
        "subject": alert.subject,
        "message": alert.message,
        "evidence": [e for e in alert.evidence if e],
    }


def pack_json(ctx: NodeContext, state: PackState) -> dict[str, Any]:
    recalled_by = ctx.store.recall_of(state.gtin, state.lot)
    withdrawn_by = ctx.store.withdrawal_of(state.gtin)
    day = today()
    effective = effective_status(state, recalled_by, withdrawn_by, day)
    return {
        "pack": state.uri,
        "gtin": state.gtin,
        "serial": state.serial,
        "lot": state.lot,
        "expiry": state.expiry,
        "status": state.status.value,
        "effective_status": effective.value,
        "expired": day > state.expiry,
        "custodian": state.custodian,
        "destination": state.destination,
        "container": state.container,
        "commissioned": state.commissioned,
        "changed_by": state.changed_by,
        "changed_at": state.changed_ts,
        "recalled_by": recalled_by,
        "withdrawn_by": withdrawn_by,
        "alerts": [alert_json(a) for a in ctx.store.alerts(subject=state.uri)],
    }


def _pack_uri(call: Call) -> str:
    return pack_uri(gtin14(call.text("gtin")), call.text("serial"))


def pack_state(ctx: NodeContext, call: Call) -> Response:
    uri = _pack_uri(call)
    state = ctx.store.pack(uri)
    if state is None:
        raise Problem("not-found", f"no pack {uri} is known at this node", extra={"pack": uri})
    return json_response(pack_json(ctx, state))


def provenance(ctx: NodeContext, call: Call) -> Response:
    """Every entry a verifier needs, as signed bytes, and the membership to check them with.

    A pack this node does not know gets an answer too (maybe with entries that name it, and no
    commissioning): the verifier decides, and finds it unknown.
    """
    uri = _pack_uri(call)
    entries = ctx.store.provenance(uri)
    return json_response(
        {
            "pack": uri,
            "genesis": ctx.config.genesis_id,
            "entries": [e.to_wire() for e in entries],
            "memberships": [v.to_wire() for v in ctx.chain.versions],
        }
    )


def container(ctx: NodeContext, call: Call) -> Response:
    uri = container_uri(call.text("sscc"))
    with ctx.store.reader.connect() as conn:
        state = DbStateView(conn, Ids(conn)).get_container(uri)
    if state is None:
        raise Problem(
            "not-found", f"no container {uri} is known at this node", extra={"container": uri}
        )
    children = sorted(state.children)
    return json_response(
        {
            "container": uri,
            "sscc": call.text("sscc"),
            "status": state.status.value,
            "custodian": state.custodian,
            "destination": state.destination,
            "parent": state.parent,
            "children": children,
            "packs": sum(1 for c in children if "/21/" in c),
            "alerts": [alert_json(a) for a in ctx.store.alerts(subject=uri)],
        }
    )


def _evidence(ctx: NodeContext, alerts: Iterable[Alert]) -> dict[str, dict[str, str]]:
    ids = {e for a in alerts for e in a.evidence if e}
    return {entry.id: entry.to_wire() for entry in ctx.store.entries_by_id(sorted(ids))}


def alerts(ctx: NodeContext, call: Call) -> Response:
    found = ctx.store.alerts(subject=call.opt_text("subject"), code=call.opt_text("code"))
    limit = call.number("limit")
    shown = found[-limit:]  # the most recent ``limit``, oldest first
    wires = _evidence(ctx, shown)
    return json_response(
        {
            "count": len(found),
            "alerts": [
                {
                    **alert_json(a),
                    "entries": [wires[e] for e in a.evidence if e in wires],
                }
                for a in shown
            ],
        }
    )
