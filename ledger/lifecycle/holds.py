"""Holding packs in place: a lock by the custodian or a regulator, and a customs inspection that
quarantines goods or releases them."""

from __future__ import annotations

from collections.abc import Callable

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.lifecycle.rules import held_by_writer_or_regulator, inactive_breach
from ledger.lifecycle.step import Step, each
from ledger.lifecycle.targets import set_status, targets, touch, transition
from ledger.state import PackState
from ledger.status import TERMINAL, Status

INSPECT_DECISIONS = ("release", "hold", "detain")


def lock(step: Step) -> None:
    _lock_change(
        step, Status.ACTIVE, "active to lock", "lock", lambda pack: (Status.LOCKED, Status.ACTIVE)
    )


def unlock(step: Step) -> None:
    _lock_change(
        step, Status.LOCKED, "locked", "unlock", lambda pack: (pack.prior or Status.ACTIVE, None)
    )


def _lock_change(
    step: Step,
    before: Status,
    expected: str,
    what: str,
    to: Callable[[PackState], tuple[Status, Status | None]],
) -> None:
    """A lock or an unlock: the pack must be ``before`` (``expected`` says so in the alert) and
    held by the writer, unless a regulator writes."""

    def rules(step: Step, pack: PackState) -> None:
        if pack.status is not before:
            inactive_breach(
                step, pack, f"expected pack {pack.uri} {expected}, found {pack.status.value}"
            )
        held_by_writer_or_regulator(step, pack, what)

    transition(step, rules, to)


def _release_rules(step: Step, pack: PackState) -> None:
    if (recall := step.view.recall_of(pack.gtin, pack.lot)) is not None:
        step.breach(
            Code.RECALLED,
            pack.uri,
            f"release of pack {pack.uri}: lot {pack.lot} is recalled",
            recall,
        )
    if (withdrawal := step.view.withdrawal_of(pack.gtin)) is not None:
        step.breach(
            Code.WITHDRAWN,
            pack.uri,
            f"release of pack {pack.uri}: product {pack.gtin} is withdrawn",
            withdrawal,
        )
    if pack.status in TERMINAL or pack.status is Status.DISPENSED:
        inactive_breach(step, pack, f"release of pack {pack.uri}: it is {pack.status.value}")


def _no_rules(step: Step, pack: PackState) -> None:
    """A hold or a detention has no precondition: any pack may be stopped for inspection."""


def inspect(step: Step) -> None:
    decision = step.body_str("decision")
    if decision not in INSPECT_DECISIONS:
        raise MalformedEntry(
            f"inspect body: expected decision in {list(INSPECT_DECISIONS)}, found {decision!r}"
        )
    containers, packs = targets(step, step.subjects)
    release = decision == "release"
    done = each(step, packs, _release_rules if release else _no_rules)
    for pack in done:
        if release:
            if pack.status is Status.QUARANTINED:
                set_status(step, pack, pack.prior or Status.ACTIVE)
        elif pack.status is not Status.QUARANTINED:
            set_status(step, pack, Status.QUARANTINED, prior=pack.status)
    for container in containers:
        if release and container.status is Status.QUARANTINED:
            container.status, container.prior = container.prior or Status.ACTIVE, None
        elif not release and container.status is not Status.QUARANTINED:
            container.status, container.prior = Status.QUARANTINED, container.status
    touch(step, done, containers)
