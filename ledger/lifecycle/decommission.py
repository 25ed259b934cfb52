"""A pack leaving the supply chain (dispensed, exported, sampled, destroyed, stolen) and the
undo that brings a mistaken decommissioning back within ten days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.identifiers import gtin_in_prefixes
from ledger.kinds import Role
from ledger.lifecycle.rules import custody_breach, not_final, supply_rules
from ledger.lifecycle.step import Step
from ledger.lifecycle.targets import transition
from ledger.state import PackState
from ledger.status import TERMINAL, UNDOABLE, Status
from ledger.timefmt import parse_ts

UNDO_WINDOW = timedelta(days=10)


def decommission(status: Status) -> Callable[[Step], None]:
    def handler(step: Step) -> None:
        target = status
        if status is Status.SAMPLE and step.entry.payload.body.get("free") is True:
            target = Status.FREE_SAMPLE
        transition(step, supply_rules, lambda pack: (target, pack.status))

    return handler


def destroy(step: Step) -> None:
    def allowed(step: Step, pack: PackState) -> bool:
        seized = step.role is Role.CUSTOMS and pack.status is Status.QUARANTINED
        return seized or step.holds(pack.custodian)

    def refused(pack: PackState) -> str:
        return f"expected {step.feed} to hold pack {pack.uri} to destroy it, found {pack.custodian}"

    _end(step, Status.DESTROYED, allowed, refused)


def stolen(step: Step) -> None:
    def allowed(step: Step, pack: PackState) -> bool:
        owner = step.membership.organisations[step.org].company_prefixes
        return step.holds(pack.custodian) or gtin_in_prefixes(pack.gtin, owner)

    def refused(pack: PackState) -> str:
        return f"expected the custodian or the manufacturer to report pack {pack.uri} stolen, found {step.feed}"

    _end(step, Status.STOLEN, allowed, refused)


def _end(
    step: Step,
    status: Status,
    allowed: Callable[[Step, PackState], bool],
    refused: Callable[[PackState], str],
) -> None:
    """A pack's end (destroyed, stolen): not after another end, and by whom ``allowed`` says
    (otherwise a custody alert saying ``refused``; the end is recorded all the same)."""

    def rules(step: Step, pack: PackState) -> None:
        not_final(step, pack)
        if not allowed(step, pack):
            custody_breach(step, pack, refused(pack))

    transition(step, rules, lambda pack: (status, None))


def undo(step: Step) -> None:
    refs = step.entry.payload.refs
    if len(refs) != 1:
        raise MalformedEntry(
            f"undo: expected refs naming exactly the entry to undo, found {len(refs)}"
        )
    target = refs[0]
    now = parse_ts(step.entry.payload.ts)

    def rules(step: Step, pack: PackState) -> None:
        if pack.status in TERMINAL:
            step.breach(
                Code.UNDO_NOT_ALLOWED,
                pack.uri,
                f"pack {pack.uri} is {pack.status.value}: no undo",
                pack.changed_by or "",
            )
        if (recall := step.view.recall_of(pack.gtin, pack.lot)) is not None:
            step.breach(
                Code.UNDO_NOT_ALLOWED, pack.uri, f"lot {pack.lot} is recalled: no undo", recall
            )
        if (withdrawal := step.view.withdrawal_of(pack.gtin)) is not None:
            step.breach(
                Code.UNDO_NOT_ALLOWED,
                pack.uri,
                f"product {pack.gtin} is withdrawn: no undo",
                withdrawal,
            )
        if pack.changed_by != target or pack.status not in UNDOABLE:
            step.breach(
                Code.UNDO_NOT_ALLOWED,
                pack.uri,
                f"expected the last decommissioning of {pack.uri} to be {target[:16]}…, found "
                f"{pack.status.value} by {(pack.changed_by or 'none')[:16]}…",
                pack.changed_by or "",
            )
        if pack.changed_feed != step.feed:
            step.breach(
                Code.UNDO_NOT_ALLOWED,
                pack.uri,
                f"expected the undo from {pack.changed_feed}, which decommissioned {pack.uri}, found {step.feed}",
                target,
            )
        if pack.changed_ts is None or now - parse_ts(pack.changed_ts) > UNDO_WINDOW:
            step.breach(
                Code.UNDO_NOT_ALLOWED,
                pack.uri,
                f"expected the undo within 10 days of {pack.changed_ts}, found it at {step.entry.payload.ts}",
                target,
            )

    transition(step, rules, lambda pack: (pack.prior or Status.ACTIVE, None))
