"""Reads: pack state, pack provenance, containers, alerts with their evidence.

The pack and provenance queries are the verification queries a scanner makes; they, like every
query, pass the token's bucket and the serial-harvesting guard in the dispatcher.

Node-local alerts (``serial_harvesting``, ADR 0012) name this node's users and the serials they
probed: ``GET /alerts`` shows them to auditor tokens only.

Per-pack answers (architecture §7, issue 14): a ``verifier`` or ``auditor`` token gets a pack's
provenance as ``Store.pack_provenance`` makes it (each entry with that pack's leaves disclosed,
``withheld`` the entries whose signed bytes list other packs), screened once more by
``scanner.disclosure.screen``; a container's members are listed only to the operators and
auditors of its custodian's, its destination's and the regulator's nodes
(``may_list_contents``); a verifier's alerts name no pack but the one it asks about
(``api/alert_scope.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import Response

from api.alert_filters import alert_filter, filter_alerts, filter_local
from api.alert_scope import scope_alerts, scope_entries
from api.call import Call, json_response, prefetched_pack
from api.cases import foreign_alerts
from api.context import NodeContext
from api.harvest import note_unknown
from api.problems import Problem
from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.identifiers import container_uri, gtin14, pack_uri
from ledger.kinds import Kind, Role
from ledger.state import ContainerState
from ledger.status import EXPIRES_IN_SUPPLY, TERMINAL, Status
from node.store import PackReading
from node.tokens import TokenInfo, TokenRole
from scanner.disclosure import PackView, screen

#: Who reads node-local alerts (``serial_harvesting``): the auditor, not the users they name.
LOCAL_ALERT_READERS = frozenset({TokenRole.AUDITOR})
#: Who sees the cases imported from other consortia (``foreign_case``): not a scanner.
FOREIGN_CASE_READERS = frozenset({TokenRole.OPERATOR, TokenRole.AUDITOR})
#: Who gets a pack's provenance about that pack only (its leaves, never another pack's).
PER_PACK_ROLES = frozenset({TokenRole.VERIFIER, TokenRole.AUDITOR})
#: Who may list a container's members, at its custodian's, destination's or a regulator's node.
CONTENT_LISTERS = frozenset({TokenRole.OPERATOR, TokenRole.AUDITOR})


def today() -> str:
    return datetime.now(UTC).date().isoformat()


class _Shown(Protocol):
    """What the effective status depends on (a ``PackState`` or a ``PackReading``)."""

    @property
    def status(self) -> Status: ...
    @property
    def expiry(self) -> str: ...


def effective_status(
    state: _Shown, recalled_by: str | None, withdrawn_by: str | None, day: str
) -> Status:
    """What a pack counts as: a recall or withdrawal overrides every status but destroyed and
    stolen; expiry overrides the statuses of a pack still in the supply chain."""
    if state.status in TERMINAL:
        return state.status
    if recalled_by is not None:
        return Status.RECALLED
    if withdrawn_by is not None:
        return Status.WITHDRAWN
    if state.status in EXPIRES_IN_SUPPLY and day > state.expiry:
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


def pack_json(pack: PackReading, day: str) -> dict[str, Any]:
    effective = effective_status(pack, pack.recalled_by, pack.withdrawn_by, day)
    return {
        "pack": pack.uri,
        "gtin": pack.gtin,
        "serial": pack.serial,
        "lot": pack.lot,
        "expiry": pack.expiry,
        "status": pack.status.value,
        "effective_status": effective.value,
        "expired": day > pack.expiry,
        "custodian": pack.custodian,
        "destination": pack.destination,
        "container": pack.container,
        "commissioned": pack.commissioned,
        "changed_by": pack.changed_by,
        "changed_at": pack.changed_at,
        "recalled_by": pack.recalled_by,
        "withdrawn_by": pack.withdrawn_by,
        "alerts": [alert_json(a) for a in pack.alerts],
    }


def _pack_uri(call: Call) -> str:
    return pack_uri(gtin14(call.text("gtin")), call.text("serial"))


def pack_key(path_args: Mapping[str, str]) -> tuple[str, str] | None:
    """The pack ``pack_state`` reads for these path arguments, or ``None`` if they name none
    (the view's parameters then answer 400): the dispatcher reads it with the take."""
    try:
        gtin, serial = gtin14(path_args["gtin"]), path_args["serial"]
        pack_uri(gtin, serial)
    except (KeyError, ValueError, LedgerError):
        return None
    return gtin, serial


def pack_state(ctx: NodeContext, call: Call) -> Response:
    gtin, serial = gtin14(call.text("gtin")), call.text("serial")
    uri = pack_uri(gtin, serial)  # checks the serial's characters too
    read, pack = prefetched_pack(gtin, serial)
    if not read:
        pack = ctx.store.read_pack(gtin, serial)
    if pack is None:
        raise Problem(
            "not-found", f"no pack {uri} is known at this node", extra={"pack": uri}, unknown=uri
        )
    return json_response(pack_json(pack, today()))


def per_pack(token: TokenInfo | None) -> bool:
    """Whether ``token`` is answered about the pack it asks for only (verifier, auditor)."""
    return token is not None and token.role in PER_PACK_ROLES


def pack_view(ctx: NodeContext, uri: str) -> PackView:
    """The pack's provenance as a verifier may see it: ``Store.pack_provenance``, screened for
    signed bytes that name another pack (a captured EPCIS event's lists)."""
    found = ctx.store.pack_provenance(uri)
    view = screen(found.entries, uri)
    view.withheld = [*found.withheld, *view.withheld]
    return view


def provenance(ctx: NodeContext, call: Call) -> Response:
    """Every entry a verifier needs, as signed bytes, and the membership to check them with.

    A pack this node does not know gets an answer too (maybe with entries that name it, and no
    commissioning): the verifier decides, and finds it unknown. A verifier or auditor gets each
    entry with the pack's leaves disclosed (``leaves``) and the ids of the entries ``withheld``;
    an operator the node's view (every entry with its ``sidecar``).
    """
    uri = _pack_uri(call)
    withheld: list[str] = []
    entries: list[SignedEntry]
    if per_pack(call.token):
        view = pack_view(ctx, uri)
        entries, withheld = view.entries, view.withheld
    else:
        entries = ctx.store.provenance(uri)
    if not any(e.payload.kind is Kind.COMMISSION for e in entries):
        note_unknown(uri)  # serial harvesting (ADR 0012)
    return json_response(
        {
            "pack": uri,
            "genesis": ctx.config.genesis_id,
            "entries": [e.to_wire() for e in entries],
            "withheld": withheld,
            "memberships": [v.to_wire() for v in ctx.chain.versions],
        }
    )


def may_list_contents(ctx: NodeContext, token: TokenInfo | None, state: ContainerState) -> bool:
    """Whether the caller may see which packs a container holds: an operator or auditor of the
    node of the container's custodian organisation (or of the one it is in transit to, which
    is about to hold it), or of a regulator's node. A verifier never (a scanner holds one pack;
    the contents of a case are a list of valid serials)."""
    if token is None or token.role not in CONTENT_LISTERS:
        return False
    org = ctx.config.org
    if state.custodian.split("/", 1)[0] == org or state.destination == org:
        return True
    member = ctx.membership.organisations.get(org)
    return member is not None and member.role is Role.REGULATOR


def container(ctx: NodeContext, call: Call) -> Response:
    uri = container_uri(call.text("sscc"))
    state = ctx.store.container(uri)
    if state is None:
        raise Problem(
            "not-found",
            f"no container {uri} is known at this node",
            extra={"container": uri},
            unknown=uri,
        )
    children = sorted(state.children)
    packs = sum(1 for c in children if "/21/" in c)
    listed = may_list_contents(ctx, call.token, state)
    return json_response(
        {
            "container": uri,
            "sscc": call.text("sscc"),
            "status": state.status.value,
            "custodian": state.custodian,
            "destination": state.destination,
            "parent": state.parent,
            "children": children if listed else None,
            "listed": listed,
            "packs": packs,
            "containers": len(children) - packs,
            "alerts": [
                alert_json(a) for a in scope_alerts(ctx.store.alerts(subject=uri), call.token, uri)
            ],
        }
    )


def _evidence(
    ctx: NodeContext, alerts: Iterable[Alert], token: TokenInfo | None, asked: str | None
) -> dict[str, dict[str, Any]]:
    ids = {e for a in alerts for e in a.evidence if e}
    held = ctx.store.entries_by_id(sorted(ids))
    return {entry.id: entry.to_wire() for entry in scope_entries(held, token, asked)}


def alerts(ctx: NodeContext, call: Call) -> Response:
    asked = call.opt_text("subject")
    found = scope_alerts(
        ctx.store.alerts(subject=asked, code=call.opt_text("code")), call.token, asked
    )
    wanted = alert_filter(call)  # level, product, organisation, declaration, country
    found = filter_alerts(ctx, found, wanted)
    # Node-local alerts (ADR 0012) have no entries behind them: listed after the ledger's, and
    # only to an auditor (they name this node's users and the serials probed).
    local = (
        filter_local(ctx.local_alerts.find(subject=asked, code=call.opt_text("code")), wanted)
        if call.token is not None and call.token.role in LOCAL_ALERT_READERS
        else []
    )
    # Cases imported from other consortia (ADR 0029): operators and auditors, after the rest.
    foreign = (
        foreign_alerts(ctx, asked, call.opt_text("code"), wanted)
        if call.token is not None and call.token.role in FOREIGN_CASE_READERS
        else []
    )
    limit = call.number("limit")
    shown = found[-limit:]  # the most recent ``limit``, oldest first
    wires = _evidence(ctx, shown, call.token, asked)
    return json_response(
        {
            "count": len(found) + len(local) + len(foreign),
            "alerts": [
                *(
                    {
                        **alert_json(a),
                        "entries": [wires[e] for e in a.evidence if e in wires],
                    }
                    for a in shown
                ),
                *(a.to_json() for a in local),
                *foreign,
            ][-limit:],
        }
    )
