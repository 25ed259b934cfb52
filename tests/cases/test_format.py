"""docs/spec/cases.md and ``ledger/cases.py`` say the same: the members of a case file, the
refusal codes, the problem types (ADR 0029)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.cases import FORMAT, MEMBERS, CaseCode, CaseRefused, photo_json, verify_case

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "cases.md"


def _example(name: str) -> Any:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("```json", text.index(f"<!-- example: {name} -->")) + len("```json")
    return json.loads(text[start : text.index("```", start)])


def test_the_spec_example_has_exactly_the_members() -> None:
    example = _example("case-file")
    assert set(example) == MEMBERS
    assert example["format"] == FORMAT


def test_the_spec_names_every_refusal_code() -> None:
    text = SPEC.read_text(encoding="utf-8")
    for code in CaseCode:
        assert f"`{code.value}`" in text, code


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        ([], CaseCode.MALFORMED),
        ({"format": "medtrace-proof/1"}, CaseCode.MALFORMED),
        ({"format": FORMAT}, CaseCode.MALFORMED),
    ],
    ids=["not an object", "a proof file", "members missing"],
)
def test_what_is_not_a_case_file_is_refused_as_malformed(doc: Any, code: CaseCode) -> None:
    with pytest.raises(CaseRefused) as refused:
        verify_case(doc, "0" * 64)
    assert refused.value.code is code
    assert "\n" not in str(refused.value)


def test_a_photo_over_the_limit_or_of_another_type_is_refused() -> None:
    with pytest.raises(CaseRefused) as big:
        photo_json("big.png", "image/png", b"\0" * (1024 * 1024 + 1))
    assert big.value.code is CaseCode.PHOTO
    with pytest.raises(CaseRefused) as svg:
        photo_json("x.svg", "image/svg+xml", b"<svg/>")
    assert svg.value.code is CaseCode.PHOTO
