"""medtrace's verdicts onto the standard's answer (docs/spec/verification-messaging.md): the
table in the document is the table the node answers with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.vrs_mapping import ADDITIONAL_INFO, FAILURE_REASONS, answer_for

#: (decision, medtrace reason codes) -> (verified, verificationFailureReason, additionalInfo)
TABLE: dict[str, tuple[str, tuple[str, ...], tuple[bool, str | None, str | None]]] = {
    "release": ("RELEASE", ("authentic",), (True, None, None)),
    "unknown serial": ("HOLD", ("unknown_pack",), (False, "No_match_GTIN_Serial", None)),
    "lot": ("REJECT", ("lot_mismatch",), (False, "No_match_GTIN_Serial_Lot", None)),
    "expiry": ("REJECT", ("expiry_mismatch",), (False, "No_match_GTIN_Serial_Expiry", None)),
    "both": (
        "REJECT",
        ("lot_mismatch", "expiry_mismatch"),
        (False, "No_match_GTIN_Serial_Lot_Expiry", None),
    ),
    "mismatch of a recalled lot": (
        "REJECT",
        ("lot_mismatch", "recalled"),
        (False, "No_match_GTIN_Serial_Lot", "Recalled"),
    ),
    "recalled": ("REJECT", ("recalled",), (False, "Not_for_re-distribution", "Recalled")),
    "withdrawn": ("REJECT", ("withdrawn",), (False, "Not_for_re-distribution", "Recalled")),
    "expired": ("REJECT", ("expired",), (False, "Not_for_re-distribution", "Expired")),
    "dispensed": ("REJECT", ("already_dispensed",), (False, "Not_for_re-distribution", "Suspect")),
    "stolen": ("REJECT", ("stolen",), (False, "Not_for_re-distribution", "Suspect")),
    "clone": ("REJECT", ("suspected_clone",), (False, "Not_for_re-distribution", "Illegitimate")),
    "gravest wins": (
        "REJECT",
        ("expired", "recalled", "stolen"),
        (False, "Not_for_re-distribution", "Suspect"),
    ),
    "locked": ("HOLD", ("locked",), (False, "No_reason_provided", "Suspect")),
    "custody": ("HOLD", ("custody_violation",), (False, "No_reason_provided", None)),
    "history withheld": ("HOLD", ("legacy_entries_withheld",), (False, "No_reason_provided", None)),
}


@pytest.mark.parametrize(("decision", "codes", "expected"), TABLE.values(), ids=TABLE.keys())
def test_each_verdict_maps_to_the_standard(
    decision: str, codes: tuple[str, ...], expected: tuple[bool, str | None, str | None]
) -> None:
    answer = answer_for(decision, codes)
    assert (answer.verified, answer.failure_reason, answer.additional_info) == expected


def test_the_document_lists_every_value_of_the_standard() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs/spec/verification-messaging.md").read_text()
    for value in (*FAILURE_REASONS, *ADDITIONAL_INFO):
        assert re.search(rf"`{re.escape(value)}`", text), value
