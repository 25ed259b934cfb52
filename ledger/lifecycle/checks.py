"""Failed checks (ADR 0022, docs/spec/customs.md): a verification that answered REJECT, or
HOLD on evidence about the pack, recorded on the checking node's feed so that every node (the
regulator's first) raises the same alert about it.

A ``check`` entry names the packs (and containers) it is about, as any step does: one pack is a
listed subject, two or more are committed to (``ledger/openings.py``), so a verifier asking
about one of them learns no other. Its body holds only bounded, checked fields: the verdict,
the reason codes (not their messages), where it was checked, the declaration it was checked
against, and what the code printed (lot, expiry). The alert's message is written here from
those fields, so a reporter cannot write free text into other nodes' alerts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.action import Action
from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import MalformedEntry
from ledger.identifiers import SubjectType, parse_subject
from ledger.kinds import Kind
from ledger.lifecycle.declarations import REFERENCE
from ledger.lifecycle.step import Step

VERDICTS = {"REJECT": Code.CHECK_REJECTED, "HOLD": Code.CHECK_HELD}
CONTEXTS = ("counter", "border", "warehouse")
REASON = re.compile(r"\A[a-z][a-z0-9_]{0,39}\Z")
MAX_REASONS = 16
#: At most this many packs and containers per entry (an alert each); more are several entries.
MAX_SUBJECTS = 1_000
#: GS1 AI (10): up to 20 characters of the GS1 AI encodable set 82 (no spaces).
LOT = re.compile(r"\A[!-~]{1,20}\Z")
DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
FIELDS = {"verdict", "reasons", "context", "declaration", "lot", "expiry", "country"}


def _bad(path: str, expected: str, found: Any) -> MalformedEntry:
    shown = found if not isinstance(found, str) else found[:60]
    return MalformedEntry(f"{path}: expected {expected}, found {shown!r}")


def check_body(body: Mapping[str, Any], path: str = "$") -> dict[str, Any]:
    """The body of a ``check``, every field bounded (``MalformedEntry`` naming the path)."""
    extra = sorted(set(body) - FIELDS)
    if extra:
        raise MalformedEntry(f"{path}.{extra[0][:40]}: expected no such member")
    verdict = body.get("verdict")
    if verdict not in VERDICTS:
        raise _bad(f"{path}.verdict", "'REJECT' or 'HOLD'", verdict)
    reasons = body.get("reasons")
    if not (isinstance(reasons, list) and 1 <= len(reasons) <= MAX_REASONS):
        raise _bad(f"{path}.reasons", f"a list of 1 to {MAX_REASONS} reason codes", reasons)
    for i, code in enumerate(reasons):
        if not (isinstance(code, str) and REASON.match(code)):
            raise _bad(f"{path}.reasons[{i}]", "a reason code like 'lot_mismatch'", code)
    if len(set(reasons)) != len(reasons):
        raise MalformedEntry(f"{path}.reasons: expected each reason code once")
    context = body.get("context")
    if context not in CONTEXTS:
        raise _bad(f"{path}.context", f"one of {', '.join(CONTEXTS)}", context)
    checked: dict[str, Any] = {"verdict": verdict, "reasons": list(reasons), "context": context}
    for name, pattern, expected in (
        ("declaration", REFERENCE, "a declaration reference (UCR)"),
        ("lot", LOT, "the printed lot, 1 to 20 characters"),
        ("expiry", DATE, "the printed expiry as YYYY-MM-DD"),
        ("country", COUNTRY, "an ISO 3166-1 alpha-2 code like 'DE'"),
    ):
        value = body.get(name)
        if value is None:
            continue
        if not (isinstance(value, str) and pattern.match(value)):
            raise _bad(f"{path}.{name}", expected, value)
        checked[name] = value
    return checked


def check_step(
    subjects: Sequence[str], body: Mapping[str, Any], refs: Sequence[str] = ()
) -> Action:
    """The ``check`` entry reporting a failed verdict about ``subjects`` (packs, containers)."""
    checked = check_body(body)
    _check_subjects(list(subjects), "$.packs")
    return Action(Kind.CHECK, list(subjects), list(refs), checked)


def _check_subjects(subjects: list[str], path: str) -> None:
    if not 1 <= len(subjects) <= MAX_SUBJECTS:
        raise _bad(path, f"1 to {MAX_SUBJECTS} packs or containers", f"{len(subjects)}")
    if len(set(subjects)) != len(subjects):
        raise MalformedEntry(f"{path}: expected each pack once, found one listed twice")
    for uri in subjects:
        if parse_subject(uri).type not in (SubjectType.PACK, SubjectType.CONTAINER):
            raise _bad(path, "packs and SSCCs only", uri)


def message(org: str, body: Mapping[str, Any]) -> str:
    """The alert's words, from the checked fields only."""
    where = f" against declaration {body['declaration']}" if "declaration" in body else ""
    return (
        f"{body['verdict']} at a {body['context']} check by {org}{where}: "
        f"{', '.join(body['reasons'])}"
    )


def alerts_of(entry: SignedEntry) -> list[Alert]:
    """The alerts a ``check`` entry raises: one about each pack and container it names (the
    packs opened beside a v2 entry included). ``MalformedEntry`` when its form is wrong."""
    signed = entry.payload.body
    body = check_body({k: v for k, v in signed.items() if k != "commitment"}, "check body")
    subjects = list(entry.about)
    _check_subjects(subjects, "check subjects")
    code = VERDICTS[body["verdict"]]
    text = message(entry.payload.org, body)
    return [Alert(code, uri, text, (entry.id,)) for uri in subjects]


def check(step: Step) -> None:
    """Raise the check's alerts (a local write keeps them through ``Store.keep_alerts``: the
    strict rules of a local write store no alert)."""
    step.alerts.extend(alerts_of(step.entry))
