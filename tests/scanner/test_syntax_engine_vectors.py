"""The GS1 Barcode Syntax Engine's own cases, through the scanner's read path.

Our scope is narrower than the engine's: ``read_text`` returns only serialised pack codes
(GTIN + serial). So for a case the engine accepts, ``read_text`` must either return the pack, or
refuse it as *out of scope* (``not_gs1``: plain data; ``not_a_pack``: GS1 data without GTIN and
serial; ``container``: an SSCC) - never as a syntax error - and the AI data the scanner parsed
(``parse_text`` / ``parse_digital_link``, what ``read_text`` builds on) must equal the engine's.
For a case the engine rejects, ``read_text`` must raise, and not call it a well-formed code that
merely is no pack (``not_a_pack``).

Subset: vectors run with non-default engine options (convenience alphas, zero-suppressed GTINs,
unknown AIs) are not ours: the scanner follows the engine's defaults. One deviation is known and
asserted below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.reading import ScanError, read_text
from scanner.reading.digital_link import parse_digital_link
from scanner.reading.element_strings import fnc1_form
from scanner.reading.scan_data import SCOPE_CODES
from scanner.reading.text import parse_text
from tests.scanner.conftest import TESTDATA, shared_data

ENGINE = TESTDATA / "gs1-syntax-engine"

#: URI → why we differ from the engine (asserted, so a change in behaviour is noticed).
KNOWN_DEVIATIONS = {
    "https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123": (
        "biip lists /22/, /10/, /21/ and /235/ as one qualifier sequence of /01/, so a lot in "
        "the query string counts as a misplaced key qualifier even beside /235/ (TPX), where the "
        "engine's sequences (22,10,21 | 235) allow it; TPX is no pack identifier for us"
    ),
}


def _vectors(name: str) -> list[dict[str, Any]]:
    path = ENGINE / name
    if not path.exists():
        return []
    vectors: list[dict[str, Any]] = json.loads(path.read_text())["vectors"]
    return vectors


def _id(vector: dict[str, Any]) -> str:
    return str(vector["src"]).rsplit("/", 1)[-1]


SCAN_DATA = _vectors("scan_data_process.json")
DL_URIS = [v for v in _vectors("dl_parse_uri.json") if not v.get("options")]


def _outcome(text: str) -> tuple[str, str]:
    try:
        read_text(text)
    except ScanError as exc:
        return "error", exc.code
    return "pack", ""


@pytest.mark.parametrize("vector", SCAN_DATA, ids=[_id(v) for v in SCAN_DATA])
def test_scan_data_gives_the_engines_outcome(vector: dict[str, Any]) -> None:
    shared_data("gs1-syntax-engine", "scan_data_process.json")
    text = vector["scan_data"]
    outcome, code = _outcome(text)
    if not vector["should_succeed"]:
        assert outcome == "error", f"{text!r} must be refused"
        assert code != "not_a_pack", f"{text!r} is invalid, not merely no pack"
        return
    assert outcome == "pack" or code in SCOPE_CODES, f"{text!r}: refused as {code}"
    expected = vector.get("expected_dl_ai_data")
    if expected is None and vector["expected_data_str"].startswith("^"):
        expected = vector["expected_data_str"]
    if expected:  # the engine found AI data: so must we, the same
        parsed = parse_text(text)
        assert parsed.kind in ("gs1", "dl")
        assert fnc1_form(parsed.elements) == expected
    elif expected == "":  # a URI the engine does not take for a Digital Link
        assert parse_text(text).kind == "text"


@pytest.mark.parametrize("vector", DL_URIS, ids=[_id(v) for v in DL_URIS])
def test_digital_link_uris_give_the_engines_outcome(vector: dict[str, Any]) -> None:
    shared_data("gs1-syntax-engine", "dl_parse_uri.json")
    uri = vector["uri"]
    if uri in KNOWN_DEVIATIONS:
        with pytest.raises(ScanError) as caught:
            parse_digital_link(uri)
        assert caught.value.code == "digital_link"
        return
    outcome, code = _outcome(uri)
    if not vector["should_succeed"]:
        with pytest.raises(ScanError):
            parse_digital_link(uri)
        assert outcome == "error"
        assert code != "not_a_pack"
        return
    assert fnc1_form(parse_digital_link(uri)) == vector["expected_ai_data"]
    assert outcome == "pack" or code in SCOPE_CODES


def test_the_vectors_are_all_there() -> None:
    shared_data("gs1-syntax-engine")
    assert len(SCAN_DATA) == 54
    assert len(DL_URIS) == 100  # 118 less the 18 run with non-default options


def test_every_known_deviation_is_a_vector() -> None:
    shared_data("gs1-syntax-engine")
    assert set(KNOWN_DEVIATIONS) <= {v["uri"] for v in DL_URIS}


def test_the_engine_data_lives_outside_the_repository() -> None:
    assert not (Path(__file__).resolve().parents[2] / "testdata").exists()
