"""Rules about a whole lot or product: a recall or a withdrawal, by a regulator or the owner of
the GTIN."""

from __future__ import annotations

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.identifiers import SubjectType, gtin_in_prefixes, parse_subject
from ledger.kinds import Role
from ledger.lifecycle.step import Blocked, Step


def _class_subject(step: Step, expected: SubjectType) -> tuple[str, str | None]:
    subjects = step.subjects
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


def recall(step: Step) -> None:
    try:
        gtin, lot = _class_subject(step, SubjectType.LOT)
    except Blocked:
        return
    assert lot is not None
    step.view.put_recall(gtin, lot, step.entry.id)


def withdraw(step: Step) -> None:
    try:
        gtin, _ = _class_subject(step, SubjectType.PRODUCT)
    except Blocked:
        return
    step.view.put_withdrawal(gtin, step.entry.id)
