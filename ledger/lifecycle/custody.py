"""Custody moving between organisations: ship and return send goods to a named member, receive
takes them in."""

from __future__ import annotations

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.lifecycle.rules import supply_rules
from ledger.lifecycle.step import Step, each, guard
from ledger.lifecycle.targets import set_status, targets, touch
from ledger.state import PackState
from ledger.status import TERMINAL, UNDOABLE, Status


def ship(step: Step) -> None:
    """ship and return: custody leaves the feed for a named organisation."""
    destination = step.body_str("destination") or ""
    if destination not in step.membership.organisations:
        raise MalformedEntry(
            f"{step.kind.value} body: expected a member organisation as destination, found {destination!r}"
        )
    containers, packs = targets(step, step.subjects)
    for container in containers:
        if not step.holds(container.custodian):
            guard(
                step.breach,
                Code.CUSTODY_VIOLATION,
                container.uri,
                f"expected {step.feed} to hold container {container.uri}, found {container.custodian}",
                blocking=False,
            )
    moving = each(step, packs, supply_rules)
    for pack in moving:
        set_status(step, pack, Status.IN_TRANSIT, prior=Status.ACTIVE)
        pack.destination = destination
    for container in containers:
        container.status, container.destination = Status.IN_TRANSIT, destination
    touch(step, moving, containers)


def _arrival_rules(step: Step, pack: PackState) -> None:
    if pack.status in TERMINAL or pack.status in UNDOABLE or pack.status is Status.LOCKED:
        # decommissioned or locked: receiving it must not bring it back to active
        code = Code.STOLEN if pack.status is Status.STOLEN else Code.ALREADY_INACTIVE
        step.breach(
            code,
            pack.uri,
            f"expected pack {pack.uri} in transit, found it {pack.status.value}",
            pack.changed_by or "",
        )
    if pack.status is Status.QUARANTINED:
        step.breach(
            Code.CUSTODY_VIOLATION,
            pack.uri,
            f"pack {pack.uri} is held by customs",
            pack.changed_by or "",
        )
    if pack.status is not Status.IN_TRANSIT or pack.destination != step.org:
        step.breach(
            Code.CUSTODY_VIOLATION,
            pack.uri,
            f"expected pack {pack.uri} in transit to {step.org}, found it {pack.status.value}"
            + (
                f" towards {pack.destination}" if pack.destination else f" held by {pack.custodian}"
            ),
            pack.changed_by or pack.commissioned,
            blocking=False,
        )


def receive(step: Step) -> None:
    if step.strict and not step.entry.payload.refs:
        raise MalformedEntry("receive: expected refs naming the ship or return entry")
    containers, packs = targets(step, step.subjects)
    arriving = each(step, packs, _arrival_rules)
    for pack in arriving:
        set_status(step, pack, Status.ACTIVE)
        pack.custodian, pack.destination = step.feed, None
    for container in containers:
        container.status, container.destination, container.custodian = (
            Status.ACTIVE,
            None,
            step.feed,
        )
    touch(step, arriving, containers)
