"""The specs quote real values: keep them true when the code or the golden vectors change."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.alerts import Code
from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.serials import guess_probability
from ledger.status import DISPOSITION, Status
from tests.vectors import golden

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec"


def spec(name: str) -> str:
    return (SPEC / name).read_text(encoding="utf-8")


def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(golden.GOLDEN_PATH.read_text(encoding="utf-8"))
    return data


def test_entry_spec_quotes_the_golden_dispense_entry() -> None:
    row = vectors()["entries"][-1]
    entry = SignedEntry.from_bytes(row["payload"].encode(), base64.b64decode(row["signature"]))
    text = spec("entry.md")
    for quoted in (row["payload"], row["id"], row["signature"], entry.to_wire()["payload"]):
        assert quoted in text
    assert f"{len(entry.payload_bytes)} bytes" in text
    assert vectors()["keys"]["feeds"][golden.PHARMACY]["public"] in text


def test_membership_spec_quotes_the_golden_genesis() -> None:
    data = vectors()["membership"]
    text = spec("membership.md")
    assert data["id"] in text
    assert f"({len(data['document'].encode())} bytes)" in text
    for signature in data["wire"]["signatures"].values():
        assert signature[:8] in text


@pytest.mark.parametrize("packs", [10_000, 1_000_000, 10_000_000], ids=["10k", "1M", "10M"])
def test_serials_spec_states_the_guess_probability(packs: int) -> None:
    mantissa, exponent = f"{guess_probability(packs):.2e}".split("e")
    superscript = str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    assert f"{mantissa} \u00d7 10{superscript}" in spec("serials.md")


def test_lifecycle_spec_names_every_code_status_disposition_and_kind() -> None:
    text = spec("lifecycle.md")
    for name in [*(c.value for c in Code), *(s.value for s in Status), *(k.value for k in Kind)]:
        assert f"`{name}`" in text, name
    for status, term in DISPOSITION.items():
        assert f"| `{status.value}` | " in text
        assert f"`{term}`" in text, term
