"""The pack lifecycle: how one verified entry changes pack and container state.

``apply`` is the single place the business rules are applied. A *local* submission is applied
with ``strict=True``: the first broken rule raises ``RuleViolation`` before anything changes, so
a refused request leaves no trace. An entry *replicated* from a peer is a signed fact that is
already stored; with ``strict=False`` every broken rule becomes an ``Alert`` carrying the entry
ids that prove it, and the effect is applied unless the rule says the pack could not have been
in that step (an already dispensed pack is not dispensed again).

The rules of each kind live in a module of their own (``commission``, ``custody``,
``decommission``, ``holds``, ``recalls``, ``aggregation``, ``epcis_event``, and the records
that are no pack's step: ``products`` and ``declarations``, ADR 0020; ``checks`` and
``customs_decisions``, ADR 0022); ``rules`` has those
several kinds share, ``step`` how a breach is reported, ``targets`` what an entry is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError, MalformedEntry
from ledger.kinds import Kind
from ledger.lifecycle import aggregation, custody, customs_decisions, decommission, holds, recalls
from ledger.lifecycle.checks import check
from ledger.lifecycle.commission import commission
from ledger.lifecycle.declarations import declare
from ledger.lifecycle.epcis_event import event
from ledger.lifecycle.products import product
from ledger.lifecycle.step import Step
from ledger.membership import Membership
from ledger.openings import OpeningInvalid
from ledger.state import StateView
from ledger.status import Status

_HANDLERS: dict[Kind, Callable[[Step], None]] = {
    Kind.COMMISSION: commission,
    Kind.PACK: aggregation.pack,
    Kind.UNPACK: aggregation.unpack,
    Kind.SHIP: custody.ship,
    Kind.RETURN: custody.ship,
    Kind.RECEIVE: custody.receive,
    Kind.INSPECT: holds.inspect,
    Kind.DISPENSE: decommission.decommission(Status.DISPENSED),
    Kind.EXPORT: decommission.decommission(Status.EXPORTED),
    Kind.SAMPLE: decommission.decommission(Status.SAMPLE),
    Kind.UNDO: decommission.undo,
    Kind.DESTROY: decommission.destroy,
    Kind.STOLEN: decommission.stolen,
    Kind.LOCK: holds.lock,
    Kind.UNLOCK: holds.unlock,
    Kind.RECALL: recalls.recall,
    Kind.WITHDRAW: recalls.withdraw,
    Kind.EVENT: event,
    Kind.PRODUCT: product,
    Kind.DECLARE: declare,
    Kind.CHECK: check,
    Kind.DECIDE: customs_decisions.decide,
    Kind.OUTCOME: customs_decisions.outcome,
}

assert set(_HANDLERS) == set(Kind), "every kind needs a handler"


def apply(
    view: StateView, entry: SignedEntry, membership: Membership, *, strict: bool
) -> list[Alert]:
    """Apply one verified entry; return the alerts it raised (always empty when strict)."""
    step = Step(view, entry, membership, strict)
    try:
        _HANDLERS[entry.payload.kind](step)
    except (MalformedEntry, IdentifierError, OpeningInvalid) as exc:
        if strict:
            raise
        step.alerts.append(Alert(Code.MALFORMED, entry.payload.feed, str(exc), (entry.id,)))
    return step.alerts


def fold(entries: Iterable[SignedEntry], membership: Membership, view: StateView) -> list[Alert]:
    """Apply verified entries in their total order (see ADR 0003): delivery order is irrelevant."""
    alerts: list[Alert] = []
    for entry in sorted(entries, key=lambda e: e.payload.order_key):
        alerts.extend(apply(view, entry, membership, strict=False))
    return alerts


__all__ = ["apply", "fold"]
