"""``medtrace customs decide`` and ``medtrace customs inspected`` against a real customs node
process (ADR 0022): --json for machines, one error line for people."""

from __future__ import annotations

import json

import pytest

from tests.customs.conftest import doc_example
from tests.customs.test_cli import Site, one_error_line, sites  # noqa: F401 (fixture)

REF = "DE-2026-000123"


@pytest.fixture(scope="module")
def border(sites: dict[str, Site]) -> Site:  # noqa: F811 (the fixture imported above)
    site = sites["border"]
    lodged = site.run(
        "customs", "declare", "-", "--json", stdin=json.dumps(doc_example("declaration-request"))
    )
    assert lodged.returncode == 0, lodged.stderr
    return site


def test_decide_and_inspected_record_entries(border: Site) -> None:
    held = border.run("customs", "decide", REF, "--hold", "--note", "seal broken", "--json")
    assert held.returncode == 0, held.stderr
    answer = json.loads(held.stdout)
    assert answer["decision"] == "hold"
    assert answer["reference"] == REF
    assert len(answer["entry"]) == 64
    found = border.run(
        "customs", "inspected", REF, "--outcome", "found_falsified", "--findings", "no hologram"
    )
    assert found.returncode == 0, found.stderr
    assert "Outcome found_falsified of declaration DE-2026-000123 recorded" in found.stdout
    seized = border.run("customs", "decide", REF, "--seize")
    assert seized.returncode == 0, seized.stderr
    line = one_error_line(border.run("customs", "decide", REF, "--release"))
    assert "seiz" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("decide", "DE-2026-999999", "--hold"), "no declaration DE-2026-999999"),
        (("decide", REF), "expected one of --release, --hold, --detain or --seize"),
        (("decide", REF, "--hold", "--seize"), "found --hold, --seize"),
        (("decide", "lower-case", "--hold"), "expected a declaration reference"),
        (("decide", REF, "--hold", "--note", "x" * 501), "--note"),
        (("inspected", REF, "--outcome", "found_compliant", "--findings", " "), "--findings"),
    ],
    ids=["unknown", "no-decision", "two-decisions", "bad-reference", "long-note", "empty"],
)
def test_bad_decision_is_one_error_line(border: Site, args: tuple[str, ...], words: str) -> None:
    assert words in one_error_line(border.run("customs", *args))
