"""The body format of the ``decide``, ``outcome`` and ``check`` entries, pinned to
docs/spec/customs.md (ADR 0022): a change to any is a format change made on purpose, in the
docs; the documented requests are the ones the API takes."""

from __future__ import annotations

from typing import Any

import pytest

from api.decision_schemas import CHECK_REPORT, DECISION, INSPECTION
from api.validation import Schema, check_body
from ledger.action import Action
from ledger.canonical import canonical_bytes
from ledger.kinds import Kind
from ledger.lifecycle.checks import check_step
from ledger.lifecycle.customs_decisions import record_step
from tests.customs.conftest import EXAMPLES, doc_example

DECLARE_ID = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
REF = "DE-2026-000123"


def _decision(request: dict[str, Any]) -> Action:
    return record_step(Kind.DECIDE, {"declaration": REF, **request}, DECLARE_ID)


def _outcome(request: dict[str, Any]) -> Action:
    return record_step(Kind.OUTCOME, {"declaration": REF, **request}, DECLARE_ID)


def _check(request: dict[str, Any]) -> Action:
    fields = {k: v for k, v in request.items() if k != "packs"}
    return check_step(request["packs"], fields, [DECLARE_ID])


@pytest.mark.parametrize(
    ("request_name", "entry_name", "schema", "build"),
    [
        ("decision-request", "decision-entry", DECISION, _decision),
        ("outcome-request", "outcome-entry", INSPECTION, _outcome),
        ("check-request", "check-entry", CHECK_REPORT, _check),
    ],
    ids=["decide", "outcome", "check"],
)
def test_entry_body_format_is_the_documented_one(
    request_name: str, entry_name: str, schema: Schema, build: Any
) -> None:
    request = doc_example(request_name)
    check_body(request, schema)
    step: Action = build(request)
    made = {
        "kind": step.kind.value,
        "subjects": list(step.subjects),
        "refs": list(step.refs),
        "body": dict(step.body),
    }
    documented = doc_example(entry_name)
    assert made == documented
    assert canonical_bytes(documented).decode() in EXAMPLES.read_text(encoding="utf-8")
