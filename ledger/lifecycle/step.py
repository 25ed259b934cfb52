"""One entry being applied, and how a broken rule is reported: raised before anything changes
when the entry is a local submission (strict), an alert next to the applied effect when it is
a replicated fact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import MalformedEntry, RuleViolation
from ledger.kinds import Kind, Role
from ledger.membership import Membership
from ledger.state import PackState, StateView


class Blocked(Exception):
    """A rule whose breach means the effect on this target is skipped."""


@dataclass
class Step:
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
    def subjects(self) -> tuple[str, ...]:
        """What the entry is about: its subjects and the packs opened beside a v2 entry."""
        return self.entry.about

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
            raise RuleViolation(code, message, proof, subject=subject)
        self.alerts.append(Alert(code, subject, message, proof))
        if blocking:
            raise Blocked


def guard(fn: Callable[..., None], *args: object, **kwargs: object) -> bool:
    """Run a breach; ``False`` when it blocks (replicated mode), so the caller skips the target."""
    try:
        fn(*args, **kwargs)
    except Blocked:
        return False
    return True


Rules = Callable[[Step, PackState], None]


def each(step: Step, packs: list[PackState], check: Rules) -> list[PackState]:
    """The packs that pass ``check``: strict mode raises on the first breach before any change."""
    return [pack for pack in packs if guard(check, step, pack)]
