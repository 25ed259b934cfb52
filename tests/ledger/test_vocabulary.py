"""Statuses and kinds speak CBV 2.0 where it has a term, and ``mt:`` only where it has none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.kinds import BIZ_STEP, ROLE_KINDS, Kind, Role
from ledger.status import DISPOSITION, SUPPLY_STATUSES, TERMINAL, UNDOABLE, Status

SCHEMAS = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "testdata"
    / "gs1-epcis"
    / "JSON-Schema"
    / "schemas"
)


def cbv_terms(vocabulary: str) -> set[str]:
    path = SCHEMAS / f"{vocabulary}-JSON-Schema.json"
    if not path.is_file():
        pytest.skip(f"CBV 2.0 schema not found at {path} (clone shared/ beside main/)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    (options,) = schema["definitions"].values()
    terms: set[str] = set()
    for option in options["anyOf"]:
        terms.update(option.get("enum", []))
    return terms


@pytest.mark.parametrize("status", list(Status), ids=[s.value for s in Status])
def test_disposition_is_cbv_or_a_medtrace_extension(status: Status) -> None:
    cbv = cbv_terms("disposition")
    term = DISPOSITION[status]
    if term.startswith("mt:"):
        assert term.removeprefix("mt:") not in cbv, f"{term}: CBV 2.0 has this term, use it"
    else:
        assert term in cbv, f"{term} is not a CBV 2.0 disposition: publish it as mt:{term}"


@pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
def test_biz_step_is_cbv_or_a_medtrace_extension(kind: Kind) -> None:
    cbv = cbv_terms("bizStep")
    term = BIZ_STEP[kind]
    if term is None:
        return
    if term.startswith("mt:"):
        assert term.removeprefix("mt:") not in cbv
    else:
        assert term in cbv


def test_every_status_and_kind_is_mapped() -> None:
    assert set(DISPOSITION) == set(Status)
    assert set(BIZ_STEP) == set(Kind)
    assert set(ROLE_KINDS) == set(Role)


def test_status_groups_do_not_overlap() -> None:
    assert {Status.ACTIVE} == SUPPLY_STATUSES
    assert not UNDOABLE & TERMINAL
    assert Status.LOCKED not in UNDOABLE | TERMINAL
