"""Customs decisions and inspection outcomes about a declared consignment (ADR 0022,
docs/spec/customs.md).

A ``decide`` entry records what a customs post decided about a consignment it took the
declaration of: ``release``, ``hold``, ``detain`` or ``seize``. An ``outcome`` entry records
what an inspection of it found: ``found_falsified``, ``found_compliant`` or ``not_inspected``,
with optional findings. Both name the declaration by its reference in the body and by its
``declare`` entry in ``refs``; both have no subjects (the packs' own state changes through an
``inspect`` step written beside a hold, detention or seizure, ``api/decisions.py``). Every
version is kept as a record keyed ``org/reference`` (``node/store/records.py``): the newest is
in force, the others are the history. A seizure is final: a later decision about the same
consignment breaks ``decision_after_seizure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.action import Action
from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.kinds import Kind
from ledger.lifecycle.declarations import REFERENCE
from ledger.lifecycle.step import Step, guard
from ledger.state import Record

DECISIONS = ("release", "hold", "detain", "seize")
OUTCOMES = ("found_falsified", "found_compliant", "not_inspected")
#: What an ``inspect`` step over the declared packages records for each decision (its own
#: decisions are release, hold and detain: a seizure holds the goods as a detention does).
INSPECT_FOR = {"release": "release", "hold": "hold", "detain": "detain", "seize": "detain"}
MAX_NOTE = 500
MAX_FINDINGS = 2_000
#: The text member and its length, the choice member and its choices, of each kind.
_FORM = {
    Kind.DECIDE: ("decision", DECISIONS, "note", MAX_NOTE),
    Kind.OUTCOME: ("outcome", OUTCOMES, "findings", MAX_FINDINGS),
}


def declaration_subject(org: str, reference: str) -> str:
    """The subject of an alert about a declared consignment."""
    return f"urn:medtrace:declaration:{org}/{reference}"


def check_form(kind: Kind, body: Mapping[str, Any], path: str = "$") -> dict[str, Any]:
    """The body of a ``decide`` or ``outcome``, checked (``MalformedEntry`` naming the path)."""
    choice, choices, text, longest = _FORM[kind]
    extra = sorted(set(body) - {"declaration", choice, text})
    if extra:
        raise MalformedEntry(f"{path}.{extra[0][:40]}: expected no such member")
    reference = body.get("declaration")
    if not (isinstance(reference, str) and REFERENCE.match(reference)):
        raise MalformedEntry(
            f"{path}.declaration: expected a declaration reference (UCR), found {reference!r}"
        )
    value = body.get(choice)
    if value not in choices:
        raise MalformedEntry(
            f"{path}.{choice}: expected one of {', '.join(choices)}, found {str(value)[:40]!r}"
        )
    checked = {"declaration": reference, choice: value}
    note = body.get(text)
    if note is not None:
        if not (isinstance(note, str) and note.strip() and len(note) <= longest):
            raise MalformedEntry(
                f"{path}.{text}: expected a text of 1 to {longest} characters, found "
                f"{str(note)[:40]!r}{'…' if len(str(note)) > 40 else ''}"
            )
        checked[text] = note
    return checked


def record_step(kind: Kind, body: Mapping[str, Any], declared_by: str) -> Action:
    """The ``decide`` or ``outcome`` entry about the declaration signed as ``declared_by``."""
    return Action(kind, (), (declared_by,), check_form(kind, body))


def _record(step: Step) -> tuple[Record, dict[str, Any]]:
    p = step.entry.payload
    body = check_form(p.kind, p.body, f"{p.kind.value} body")
    if step.subjects:
        raise MalformedEntry(f"{p.kind.value}: expected no subjects, found {list(step.subjects)}")
    if len(p.refs) != 1:
        raise MalformedEntry(f"{p.kind.value}: expected refs naming the declare entry")
    key = f"{p.org}/{body['declaration']}"
    data = {**body, "refs": list(p.refs)}
    return Record(p.kind.value, key, step.entry.id, p.feed, p.order_key, data), body


def decide(step: Step) -> None:
    """Keep the decision; a decision after a seizure of the same consignment is a breach."""
    record, body = _record(step)
    held = step.view.record_of(Kind.DECIDE.value, record.key, record.order)
    if held is not None and held.data.get("decision") == "seize":
        allowed = guard(
            step.breach,
            Code.DECISION_AFTER_SEIZURE,
            declaration_subject(step.org, body["declaration"]),
            f"{body['decision']} of declaration {body['declaration']}: the consignment was "
            "seized, a seizure is final",
            held.entry_id,
        )
        if not allowed:
            return
    step.view.put_record(record)


def outcome(step: Step) -> None:
    """Keep the inspection outcome (every version: the newest is in force)."""
    record, _body = _record(step)
    step.view.put_record(record)


__all__ = [
    "DECISIONS",
    "INSPECT_FOR",
    "OUTCOMES",
    "check_form",
    "decide",
    "declaration_subject",
    "outcome",
    "record_step",
]
