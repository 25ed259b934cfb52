"""The rules several kinds share: what a pack must be to be supplied, that nothing happens to a
pack at its end, and who may lock it."""

from __future__ import annotations

from ledger.alerts import Code
from ledger.kinds import Kind, Role
from ledger.lifecycle.step import Step
from ledger.state import PackState
from ledger.status import TERMINAL, Status


def custody_breach(step: Step, pack: PackState, message: str) -> None:
    """The writer does not hold ``pack``: an alert, not a refusal (custody is often recorded
    late), with the pack's last change as the evidence."""
    step.breach(
        Code.CUSTODY_VIOLATION,
        pack.uri,
        message,
        pack.changed_by or pack.commissioned,
        blocking=False,
    )


def inactive_breach(step: Step, pack: PackState, message: str) -> None:
    """``pack`` is not in the status the step needs, with the change that put it there."""
    step.breach(Code.ALREADY_INACTIVE, pack.uri, message, pack.changed_by or "")


def supply_rules(step: Step, pack: PackState, *, custody: bool = True) -> None:
    """A pack may move or be supplied only when it is active, in date and in the feed's custody.

    A return is how recalled, withdrawn and expired stock goes back up the chain, so those three
    rules do not stop it.
    """
    returning = step.kind is Kind.RETURN
    if not returning and (recall := step.view.recall_of(pack.gtin, pack.lot)) is not None:
        step.breach(Code.RECALLED, pack.uri, f"lot {pack.lot} of {pack.gtin} is recalled", recall)
    if not returning and (withdrawal := step.view.withdrawal_of(pack.gtin)) is not None:
        step.breach(Code.WITHDRAWN, pack.uri, f"product {pack.gtin} is withdrawn", withdrawal)
    if pack.status is Status.STOLEN:
        step.breach(
            Code.STOLEN, pack.uri, f"pack {pack.uri} was reported stolen", pack.changed_by or ""
        )
    if pack.status is not Status.ACTIVE:
        if (
            step.kind is Kind.DISPENSE
            and pack.status is Status.DISPENSED
            and pack.changed_feed != step.feed
        ):
            step.breach(
                Code.SUSPECTED_CLONE,
                pack.uri,
                f"pack {pack.uri} was already dispensed by {pack.changed_feed}; a second dispense "
                f"by {step.feed} suggests a cloned serial",
                pack.changed_by or "",
            )
        step.breach(
            Code.ALREADY_INACTIVE,
            pack.uri,
            f"expected pack {pack.uri} to be active for {step.kind.value}, found it {pack.status.value}",
            *([pack.changed_by] if pack.changed_by else []),
        )
    if not returning and step.day > pack.expiry:
        step.breach(
            Code.EXPIRED, pack.uri, f"pack {pack.uri} expired on {pack.expiry}", pack.commissioned
        )
    if custody and not step.holds(pack.custodian):
        custody_breach(
            step,
            pack,
            f"expected {step.feed} to hold pack {pack.uri} for {step.kind.value}, found it held by "
            f"{pack.custodian}",
        )


def not_final(step: Step, pack: PackState) -> None:
    """Nothing happens to a destroyed, stolen or dispensed pack any more."""
    if pack.status in TERMINAL or pack.status is Status.DISPENSED:
        inactive_breach(step, pack, f"pack {pack.uri} is already {pack.status.value}")


def held_by_writer_or_regulator(step: Step, pack: PackState, what: str) -> None:
    if step.role is not Role.REGULATOR and not step.holds(pack.custodian):
        custody_breach(
            step,
            pack,
            f"expected {step.feed} to hold pack {pack.uri} to {what} it, found {pack.custodian}",
        )
