"""Holding packs in place: a lock by the custodian or a regulator, and a customs inspection that
quarantines goods or releases them."""

from __future__ import annotations

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.lifecycle.rules import held_by_writer_or_regulator
from ledger.lifecycle.step import Step, each
from ledger.lifecycle.targets import set_status, targets, touch, transition
from ledger.state import PackState
from ledger.status import TERMINAL, Status

INSPECT_DECISIONS = ("release", "hold", "detain")


def lock(step: Step) -> None:
    def rules(step: Step, pack: PackState) -> None:
        if pack.status is not Status.ACTIVE:
            step.breach(
                Code.ALREADY_INACTIVE,
                pack.uri,
                f"expected pack {pack.uri} active to lock, found {pack.status.value}",
                pack.changed_by or "",
            )
        held_by_writer_or_regulator(step, pack, "lock")

    transition(step, rules, lambda pack: (Status.LOCKED, Status.ACTIVE))


def unlock(step: Step) -> None:
    def rules(step: Step, pack: PackState) -> None:
        if pack.status is not Status.LOCKED:
            step.breach(
                Code.ALREADY_INACTIVE,
                pack.uri,
                f"expected pack {pack.uri} locked, found {pack.status.value}",
                pack.changed_by or "",
            )
        held_by_writer_or_regulator(step, pack, "unlock")

    transition(step, rules, lambda pack: (pack.prior or Status.ACTIVE, None))


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
        step.breach(
            Code.ALREADY_INACTIVE,
            pack.uri,
            f"release of pack {pack.uri}: it is {pack.status.value}",
            pack.changed_by or "",
        )


def _no_rules(step: Step, pack: PackState) -> None:
    """A hold or a detention has no precondition: any pack may be stopped for inspection."""


def inspect(step: Step) -> None:
    decision = step.body_str("decision")
    if decision not in INSPECT_DECISIONS:
        raise MalformedEntry(
            f"inspect body: expected decision in {list(INSPECT_DECISIONS)}, found {decision!r}"
        )
    containers, packs = targets(step, step.entry.payload.subjects)
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
