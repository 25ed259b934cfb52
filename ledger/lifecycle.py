"""The pack lifecycle: how one verified entry changes pack and container state.

``apply`` is the single place the business rules live. A *local* submission is applied with
``strict=True``: the first broken rule raises ``RuleViolation`` before anything changes, so a
refused request leaves no trace. An entry *replicated* from a peer is a signed fact that is
already stored; with ``strict=False`` every broken rule becomes an ``Alert`` carrying the entry
ids that prove it, and the effect is applied unless the rule says the pack could not have been
in that step (an already dispensed pack is not dispensed again).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError, LedgerError, MalformedEntry, RuleViolation
from ledger.identifiers import (
    DL_ROOT,
    SubjectType,
    check_cset82,
    gtin14,
    gtin_in_prefixes,
    lot_uri,
    parse_subject,
)
from ledger.kinds import Kind, Role
from ledger.membership import Membership
from ledger.state import ContainerState, PackState, StateView
from ledger.status import TERMINAL, UNDOABLE, Status
from ledger.timefmt import parse_ts

UNDO_WINDOW = timedelta(days=10)
INSPECT_DECISIONS = ("release", "hold", "detain")


class _Blocked(Exception):
    """A rule whose breach means the effect on this target is skipped."""


@dataclass
class _Step:
    view: StateView
    entry: SignedEntry
    membership: Membership
    strict: bool
    alerts: list[Alert] = field(default_factory=list)

    @property
    def kind(self) -> Kind:
        return self.entry.payload.kind

    @property
    def feed(self) -> str:
        return self.entry.payload.feed

    @property
    def org(self) -> str:
        return self.entry.payload.org

    @property
    def role(self) -> Role:
        return self.membership.organisations[self.org].role

    @property
    def day(self) -> str:
        return self.entry.payload.ts[:10]

    def body_str(self, key: str, *, required: bool = True) -> str | None:
        value = self.entry.payload.body.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise MalformedEntry(
                f"{self.kind.value} body: expected a non-empty string {key!r}, found {value!r}"
            )
        return value

    def holds(self, custodian: str) -> bool:
        """Custody belongs to the organisation: any of its sites may act on what it received."""
        return custodian.split("/", 1)[0] == self.org

    def breach(
        self, code: Code, subject: str, message: str, *evidence: str, blocking: bool = True
    ) -> None:
        proof = (*evidence, self.entry.id)
        if self.strict:
            raise RuleViolation(code.value, message, proof)
        self.alerts.append(Alert(code, subject, message, proof))
        if blocking:
            raise _Blocked


def apply(
    view: StateView, entry: SignedEntry, membership: Membership, *, strict: bool
) -> list[Alert]:
    """Apply one verified entry; return the alerts it raised (always empty when strict)."""
    step = _Step(view, entry, membership, strict)
    try:
        _HANDLERS[entry.payload.kind](step)
    except (MalformedEntry, IdentifierError) as exc:
        if strict:
            raise
        step.alerts.append(Alert(Code.MALFORMED, entry.payload.feed, str(exc), (entry.id,)))
    return step.alerts


# -- targets: the packs (and containers) an entry is about -------------------------------------


def _descendants(
    view: StateView, container: ContainerState
) -> tuple[list[ContainerState], list[str]]:
    containers, packs, todo = [container], [], list(container.children)
    seen = {container.uri}
    while todo:
        uri = todo.pop()
        if uri in seen:
            continue  # a cycle can only come from a corrupt store: never loop on it
        seen.add(uri)
        if uri.startswith(f"{DL_ROOT}/00/"):
            child = view.get_container(uri)
            if child is not None:
                containers.append(child)
                todo.extend(child.children)
        else:
            packs.append(uri)
    return containers, packs


def _enclosing(view: StateView, uri: str) -> set[str]:
    """``uri`` and every container it is inside."""
    chain: set[str] = set()
    current: str | None = uri
    while current is not None and current not in chain:
        chain.add(current)
        container = view.get_container(current)
        current = container.parent if container is not None else None
    return chain


def _targets(step: _Step, subjects: Iterable[str]) -> tuple[list[ContainerState], list[PackState]]:
    """Containers and packs named by ``subjects``; a container brings everything inside it."""
    containers: list[ContainerState] = []
    pack_uris: list[str] = []
    for uri in subjects:
        subject = parse_subject(uri)
        if subject.type is SubjectType.CONTAINER:
            container = step.view.get_container(uri)
            if container is None:
                _guard(
                    step.breach, Code.UNKNOWN_CONTAINER, uri, f"container {uri} was never packed"
                )
                continue
            inner, packs = _descendants(step.view, container)
            containers.extend(inner)
            pack_uris.extend(packs)
        elif subject.type is SubjectType.PACK:
            pack_uris.append(uri)
        else:
            raise MalformedEntry(
                f"{step.kind.value}: expected pack or container subjects, found {uri}"
            )
    found = step.view.get_packs(pack_uris)
    for uri in pack_uris:
        if uri not in found:
            _guard(step.breach, Code.UNKNOWN_PACK, uri, f"pack {uri} was never commissioned")
    return containers, [found[uri] for uri in dict.fromkeys(pack_uris) if uri in found]


def _guard(fn: Callable[..., None], *args: object, **kwargs: object) -> bool:
    """Run a breach; ``False`` when it blocks (replicated mode), so the caller skips the target."""
    try:
        fn(*args, **kwargs)
    except _Blocked:
        return False
    return True


def _each(
    step: _Step, packs: list[PackState], check: Callable[[_Step, PackState], None]
) -> list[PackState]:
    """The packs that pass ``check``: strict mode raises on the first breach before any change."""
    return [pack for pack in packs if _guard(check, step, pack)]


def _supply_rules(step: _Step, pack: PackState, *, custody: bool = True) -> None:
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
        step.breach(
            Code.CUSTODY_VIOLATION,
            pack.uri,
            f"expected {step.feed} to hold pack {pack.uri} for {step.kind.value}, found it held by "
            f"{pack.custodian}",
            pack.changed_by or pack.commissioned,
            blocking=False,
        )


def _set(step: _Step, pack: PackState, status: Status, *, prior: Status | None = None) -> None:
    pack.prior = prior
    pack.status = status
    pack.changed_by = step.entry.id
    pack.changed_feed = step.feed
    pack.changed_ts = step.entry.payload.ts


def _touch(
    step: _Step, packs: Iterable[PackState], containers: Iterable[ContainerState] = ()
) -> None:
    key = step.entry.payload.order_key
    packs = list(packs)
    for pack in packs:
        pack.last = key
    step.view.put_packs(packs)
    for container in containers:
        container.last = key
        step.view.put_container(container)


# -- handlers ----------------------------------------------------------------------------------


Rules = Callable[[_Step, PackState], None]


def _transition(
    step: _Step, rules: Rules, to: Callable[[PackState], tuple[Status, Status | None]]
) -> None:
    """The common shape of a status change: the packs named (containers expanded), those that
    pass ``rules``, each moved to ``to(pack)`` = (new status, the status an undo returns to)."""
    containers, packs = _targets(step, step.entry.payload.subjects)
    done = _each(step, packs, rules)
    for pack in done:
        status, prior = to(pack)
        _set(step, pack, status, prior=prior)
    _touch(step, done, containers)


def _not_final(step: _Step, pack: PackState) -> None:
    """Nothing happens to a destroyed, stolen or dispensed pack any more."""
    if pack.status in TERMINAL or pack.status is Status.DISPENSED:
        step.breach(
            Code.ALREADY_INACTIVE,
            pack.uri,
            f"pack {pack.uri} is already {pack.status.value}",
            pack.changed_by or "",
        )


def _held_by_writer_or_regulator(step: _Step, pack: PackState, what: str) -> None:
    if step.role is not Role.REGULATOR and not step.holds(pack.custodian):
        step.breach(
            Code.CUSTODY_VIOLATION,
            pack.uri,
            f"expected {step.feed} to hold pack {pack.uri} to {what} it, found {pack.custodian}",
            pack.changed_by or pack.commissioned,
            blocking=False,
        )


#: RFC 3986 unreserved characters: ``quote`` leaves them as they are.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def _commission(step: _Step) -> None:
    body = step.entry.payload.body
    gtin = gtin14(step.body_str("gtin") or "")
    ilmd = body.get("ilmd")
    if not isinstance(ilmd, dict):
        raise MalformedEntry(
            "commission body: expected an 'ilmd' object with lotNumber and itemExpirationDate"
        )
    lot = ilmd.get("lotNumber")
    expiry = ilmd.get("itemExpirationDate")
    if not isinstance(lot, str):
        raise MalformedEntry(f"commission body: expected ilmd.lotNumber, found {lot!r}")
    check_cset82(lot, "lot")
    expiry = _iso_date(expiry, "commission body: ilmd.itemExpirationDate")
    serials = body.get("serials")
    if not isinstance(serials, list) or not serials or not all(isinstance(s, str) for s in serials):
        raise MalformedEntry("commission body: expected a non-empty list of serial strings")
    if len(set(serials)) != len(serials):
        raise MalformedEntry(
            "commission body: expected distinct serials, found a serial listed twice"
        )
    expected_subjects = (lot_uri(gtin, lot),)
    if step.entry.payload.subjects != expected_subjects:
        raise MalformedEntry(
            f"commission: expected subjects {list(expected_subjects)}, found {list(step.entry.payload.subjects)}"
        )
    for serial in serials:
        check_cset82(serial, "serial")
    prefix = f"{DL_ROOT}/01/{gtin}/21/"
    if _UNRESERVED.fullmatch("".join(serials)):  # random serials always are: nothing to encode
        uris = [prefix + serial for serial in serials]
    else:
        uris = [prefix + quote(serial, safe="") for serial in serials]
    existing = step.view.get_packs(uris)
    entry_id, feed, ts = step.entry.id, step.feed, step.entry.payload.ts
    fresh = []
    for uri, serial in zip(uris, serials, strict=True):
        if uri in existing and not _guard(
            step.breach,
            Code.DUPLICATE_COMMISSION,
            uri,
            f"serial {serial} of {gtin} is already commissioned",
            existing[uri].commissioned,
        ):
            continue
        # Positional: keyword arguments made this call twice as slow, a million times a batch.
        fresh.append(
            PackState(
                uri,
                gtin,
                serial,
                lot,
                expiry,
                entry_id,  # commissioned
                feed,  # custodian
                Status.ACTIVE,
                None,  # destination
                None,  # container
                None,  # prior
                entry_id,  # changed_by
                feed,  # changed_feed
                ts,  # changed_ts
            )
        )
    _touch(step, fresh)


def _iso_date(value: object, what: str) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise MalformedEntry(f"{what}: expected a date YYYY-MM-DD, found {value!r}")


def _ship(step: _Step) -> None:
    """ship and return: custody leaves the feed for a named organisation."""
    destination = step.body_str("destination") or ""
    if destination not in step.membership.organisations:
        raise MalformedEntry(
            f"{step.kind.value} body: expected a member organisation as destination, found {destination!r}"
        )
    containers, packs = _targets(step, step.entry.payload.subjects)
    for container in containers:
        if not step.holds(container.custodian):
            _guard(
                step.breach,
                Code.CUSTODY_VIOLATION,
                container.uri,
                f"expected {step.feed} to hold container {container.uri}, found {container.custodian}",
                blocking=False,
            )
    moving = _each(step, packs, _supply_rules)
    for pack in moving:
        _set(step, pack, Status.IN_TRANSIT, prior=Status.ACTIVE)
        pack.destination = destination
    for container in containers:
        container.status, container.destination = Status.IN_TRANSIT, destination
    _touch(step, moving, containers)


def _receive(step: _Step) -> None:
    if step.strict and not step.entry.payload.refs:
        raise MalformedEntry("receive: expected refs naming the ship or return entry")
    containers, packs = _targets(step, step.entry.payload.subjects)

    def rules(step: _Step, pack: PackState) -> None:
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
                    f" towards {pack.destination}"
                    if pack.destination
                    else f" held by {pack.custodian}"
                ),
                pack.changed_by or pack.commissioned,
                blocking=False,
            )

    arriving = _each(step, packs, rules)
    for pack in arriving:
        _set(step, pack, Status.ACTIVE)
        pack.custodian, pack.destination = step.feed, None
    for container in containers:
        container.status, container.destination, container.custodian = (
            Status.ACTIVE,
            None,
            step.feed,
        )
    _touch(step, arriving, containers)


def _decommission(status: Status) -> Callable[[_Step], None]:
    def handler(step: _Step) -> None:
        target = status
        if status is Status.SAMPLE and step.entry.payload.body.get("free") is True:
            target = Status.FREE_SAMPLE
        _transition(step, _supply_rules, lambda pack: (target, pack.status))

    return handler


def _destroy(step: _Step) -> None:
    def rules(step: _Step, pack: PackState) -> None:
        _not_final(step, pack)
        seized = step.role is Role.CUSTOMS and pack.status is Status.QUARANTINED
        if not seized and not step.holds(pack.custodian):
            step.breach(
                Code.CUSTODY_VIOLATION,
                pack.uri,
                f"expected {step.feed} to hold pack {pack.uri} to destroy it, found {pack.custodian}",
                pack.changed_by or pack.commissioned,
                blocking=False,
            )

    _transition(step, rules, lambda pack: (Status.DESTROYED, None))


def _stolen(step: _Step) -> None:
    def rules(step: _Step, pack: PackState) -> None:
        _not_final(step, pack)
        owner = step.membership.organisations[step.org].company_prefixes
        if not step.holds(pack.custodian) and not gtin_in_prefixes(pack.gtin, owner):
            step.breach(
                Code.CUSTODY_VIOLATION,
                pack.uri,
                f"expected the custodian or the manufacturer to report pack {pack.uri} stolen, found {step.feed}",
                pack.changed_by or pack.commissioned,
                blocking=False,
            )

    _transition(step, rules, lambda pack: (Status.STOLEN, None))


def _inspect(step: _Step) -> None:
    decision = step.body_str("decision")
    if decision not in INSPECT_DECISIONS:
        raise MalformedEntry(
            f"inspect body: expected decision in {list(INSPECT_DECISIONS)}, found {decision!r}"
        )
    containers, packs = _targets(step, step.entry.payload.subjects)

    def rules(step: _Step, pack: PackState) -> None:
        if decision != "release":
            return
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

    done = _each(step, packs, rules)
    for pack in done:
        if decision == "release":
            if pack.status is Status.QUARANTINED:
                _set(step, pack, pack.prior or Status.ACTIVE)
        elif pack.status is not Status.QUARANTINED:
            _set(step, pack, Status.QUARANTINED, prior=pack.status)
    for container in containers:
        if decision == "release" and container.status is Status.QUARANTINED:
            container.status, container.prior = container.prior or Status.ACTIVE, None
        elif decision != "release" and container.status is not Status.QUARANTINED:
            container.status, container.prior = Status.QUARANTINED, container.status
    _touch(step, done, containers)


def _undo(step: _Step) -> None:
    refs = step.entry.payload.refs
    if len(refs) != 1:
        raise MalformedEntry(
            f"undo: expected refs naming exactly the entry to undo, found {len(refs)}"
        )
    target = refs[0]
    now = parse_ts(step.entry.payload.ts)

    def rules(step: _Step, pack: PackState) -> None:
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

    _transition(step, rules, lambda pack: (pack.prior or Status.ACTIVE, None))


def _lock(step: _Step) -> None:
    def rules(step: _Step, pack: PackState) -> None:
        if pack.status is not Status.ACTIVE:
            step.breach(
                Code.ALREADY_INACTIVE,
                pack.uri,
                f"expected pack {pack.uri} active to lock, found {pack.status.value}",
                pack.changed_by or "",
            )
        _held_by_writer_or_regulator(step, pack, "lock")

    _transition(step, rules, lambda pack: (Status.LOCKED, Status.ACTIVE))


def _unlock(step: _Step) -> None:
    def rules(step: _Step, pack: PackState) -> None:
        if pack.status is not Status.LOCKED:
            step.breach(
                Code.ALREADY_INACTIVE,
                pack.uri,
                f"expected pack {pack.uri} locked, found {pack.status.value}",
                pack.changed_by or "",
            )
        _held_by_writer_or_regulator(step, pack, "unlock")

    _transition(step, rules, lambda pack: (pack.prior or Status.ACTIVE, None))


def _class_subject(step: _Step, expected: SubjectType) -> tuple[str, str | None]:
    subjects = step.entry.payload.subjects
    parsed = [parse_subject(uri) for uri in subjects]
    if len(parsed) != 1 or parsed[0].type is not expected:
        raise MalformedEntry(
            f"{step.kind.value}: expected one {expected.value} subject, found {list(subjects)}"
        )
    subject = parsed[0]
    assert subject.gtin is not None
    org = step.membership.organisations[step.org]
    if step.role is not Role.REGULATOR and not gtin_in_prefixes(subject.gtin, org.company_prefixes):
        step.breach(
            Code.FOREIGN_GTIN,
            subject.uri,
            f"expected a regulator or the owner of {subject.gtin} to {step.kind.value} it, found {step.org}",
        )
    return subject.gtin, subject.lot


def _recall(step: _Step) -> None:
    try:
        gtin, lot = _class_subject(step, SubjectType.LOT)
    except _Blocked:
        return
    assert lot is not None
    step.view.put_recall(gtin, lot, step.entry.id)


def _withdraw(step: _Step) -> None:
    try:
        gtin, _ = _class_subject(step, SubjectType.PRODUCT)
    except _Blocked:
        return
    step.view.put_withdrawal(gtin, step.entry.id)


def _aggregate(step: _Step, adding: bool) -> None:
    subjects = step.entry.payload.subjects
    if not subjects or parse_subject(subjects[0]).type is not SubjectType.CONTAINER:
        raise MalformedEntry(
            f"{step.kind.value}: expected the container (SSCC) as the first subject"
        )
    parent_uri, child_uris = subjects[0], subjects[1:]
    parent = step.view.get_container(parent_uri)
    if parent is None:
        if not adding:
            _guard(
                step.breach,
                Code.UNKNOWN_CONTAINER,
                parent_uri,
                f"container {parent_uri} was never packed",
            )
            return
        parent = ContainerState(parent_uri, step.feed)
    elif not step.holds(parent.custodian):
        _guard(
            step.breach,
            Code.CUSTODY_VIOLATION,
            parent_uri,
            f"expected {step.feed} to hold container {parent_uri}, found {parent.custodian}",
            blocking=False,
        )
    if not adding and not child_uris:
        child_uris = tuple(sorted(parent.children))
    child_containers: list[ContainerState] = []
    pack_uris: list[str] = []
    enclosing = _enclosing(step.view, parent_uri) if adding else set()
    for uri in child_uris:
        if parse_subject(uri).type is SubjectType.CONTAINER:
            if uri in enclosing:
                raise MalformedEntry(
                    f"pack: expected container {uri} to go into another container, found it is "
                    f"{parent_uri} or encloses it"
                )
            child = step.view.get_container(uri)
            if child is None:
                _guard(
                    step.breach, Code.UNKNOWN_CONTAINER, uri, f"container {uri} was never packed"
                )
                continue
            child_containers.append(child)
        else:
            pack_uris.append(uri)
    found = step.view.get_packs(pack_uris)
    for uri in pack_uris:
        if uri not in found:
            _guard(step.breach, Code.UNKNOWN_PACK, uri, f"pack {uri} was never commissioned")
    packs = [found[uri] for uri in pack_uris if uri in found]
    if adding:
        packs = _each(step, packs, _supply_rules)
    changed: list[ContainerState] = [parent]
    for pack in packs:
        if adding:
            if (
                pack.container
                and pack.container != parent_uri
                and (old := step.view.get_container(pack.container))
            ):
                old.children.discard(pack.uri)
                changed.append(old)
            pack.container = parent_uri
            parent.children.add(pack.uri)
        elif pack.container == parent_uri:
            pack.container = None
            parent.children.discard(pack.uri)
    for child in child_containers:
        if adding:
            if (
                child.parent
                and child.parent != parent_uri
                and (old := step.view.get_container(child.parent))
            ):
                old.children.discard(child.uri)
                changed.append(old)
            child.parent = parent_uri
            parent.children.add(child.uri)
        elif child.parent == parent_uri:
            child.parent = None
            parent.children.discard(child.uri)
        changed.append(child)
    _touch(step, packs, changed)


_EVENT_HASH = re.compile(r"\Ani:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0\Z")


def _event(step: _Step) -> None:
    """An EPCIS event recorded as a signed fact (ADR 0009): no rule and no state change, only
    the form: ``body.epcis.event`` the event's JSON text, ``body.epcis.hash`` its CBV 2.0 hash."""
    epcis = step.entry.payload.body.get("epcis")
    if not isinstance(epcis, dict):
        raise MalformedEntry("event body: expected an 'epcis' object with the event and its hash")
    text = epcis.get("event")
    if not isinstance(text, str) or not text.startswith("{"):
        raise MalformedEntry("event body: expected epcis.event to be the event's JSON text")
    digest = epcis.get("hash")
    if not isinstance(digest, str) or not _EVENT_HASH.match(digest):
        raise MalformedEntry(
            f"event body: expected epcis.hash 'ni:///sha-256;<64 hex>?ver=CBV2.0', found {digest!r}"
        )


def _pack(step: _Step) -> None:
    _aggregate(step, adding=True)


def _unpack(step: _Step) -> None:
    _aggregate(step, adding=False)


_HANDLERS: dict[Kind, Callable[[_Step], None]] = {
    Kind.COMMISSION: _commission,
    Kind.PACK: _pack,
    Kind.UNPACK: _unpack,
    Kind.SHIP: _ship,
    Kind.RETURN: _ship,
    Kind.RECEIVE: _receive,
    Kind.INSPECT: _inspect,
    Kind.DISPENSE: _decommission(Status.DISPENSED),
    Kind.EXPORT: _decommission(Status.EXPORTED),
    Kind.SAMPLE: _decommission(Status.SAMPLE),
    Kind.UNDO: _undo,
    Kind.DESTROY: _destroy,
    Kind.STOLEN: _stolen,
    Kind.LOCK: _lock,
    Kind.UNLOCK: _unlock,
    Kind.RECALL: _recall,
    Kind.WITHDRAW: _withdraw,
    Kind.EVENT: _event,
}

assert set(_HANDLERS) == set(Kind), "every kind needs a handler"


def fold(entries: Iterable[SignedEntry], membership: Membership, view: StateView) -> list[Alert]:
    """Apply verified entries in their total order (see ADR 0003): delivery order is irrelevant."""
    alerts: list[Alert] = []
    for entry in sorted(entries, key=lambda e: e.payload.order_key):
        alerts.extend(apply(view, entry, membership, strict=False))
    return alerts


__all__ = ["UNDO_WINDOW", "LedgerError", "apply", "fold"]
