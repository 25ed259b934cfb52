"""The vocabulary of the GS1 Lightweight Messaging Standard for Verification of Product
Identifiers (the DSCSA "VRS" interface) and how medtrace's verdicts map onto it.

Pure data and functions (no Flask): the node's views (``api/vrs.py``) answer with it and
``medtrace verify-remote`` (``medtrace/cli/vrs.py``) reads an answer back with it. The values
are the standard's own spelling (``No_match_GTIN_Serial``, not ``No_Match_…``); the table and
the reasons for each choice are in docs/spec/verification-messaging.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

#: The standard's linkType value for a verification service (GS1 Web Vocabulary).
LINK_TYPE: Final = "verificationService"
#: The one context value the standard defines (a DSCSA saleable return); also the default.
CONTEXT_SALEABLE_RETURN: Final = "dscsaSaleableReturn"
CONTEXTS: Final = (CONTEXT_SALEABLE_RETURN,)

# -- data.verificationFailureReason ---------------------------------------------------------------
NO_MATCH_GTIN_SERIAL: Final = "No_match_GTIN_Serial"
NO_MATCH_GTIN_SERIAL_LOT: Final = "No_match_GTIN_Serial_Lot"
NO_MATCH_GTIN_SERIAL_EXPIRY: Final = "No_match_GTIN_Serial_Expiry"
NO_MATCH_GTIN_SERIAL_LOT_EXPIRY: Final = "No_match_GTIN_Serial_Lot_Expiry"
NO_REASON_PROVIDED: Final = "No_reason_provided"
NOT_FOR_REDISTRIBUTION: Final = "Not_for_re-distribution"
MANUFACTURER_POLICY: Final = "Manufacturer_policy"
FAILURE_REASONS: Final = (
    NO_MATCH_GTIN_SERIAL,
    NO_MATCH_GTIN_SERIAL_LOT,
    NO_MATCH_GTIN_SERIAL_EXPIRY,
    NO_MATCH_GTIN_SERIAL_LOT_EXPIRY,
    NO_REASON_PROVIDED,
    NOT_FOR_REDISTRIBUTION,
    MANUFACTURER_POLICY,
)

# -- data.additionalInfo --------------------------------------------------------------------------
EXPIRED: Final = "Expired"
EXPIRATION_EXTENDED: Final = "ExpirationExtended"
RECALLED: Final = "Recalled"
SUSPECT: Final = "Suspect"
ILLEGITIMATE: Final = "Illegitimate"
ADDITIONAL_INFO: Final = (EXPIRED, EXPIRATION_EXTENDED, RECALLED, SUSPECT, ILLEGITIMATE)

#: What each value tells the person who asked (``medtrace verify-remote``'s table).
MEANINGS: Final[dict[str, str]] = {
    NO_MATCH_GTIN_SERIAL: "no pack with this GTIN and serial number is known",
    NO_MATCH_GTIN_SERIAL_LOT: "the GTIN and serial are known, with another lot",
    NO_MATCH_GTIN_SERIAL_EXPIRY: "the GTIN and serial are known, with another expiry date",
    NO_MATCH_GTIN_SERIAL_LOT_EXPIRY: "the GTIN and serial are known, with another lot and expiry",
    NO_REASON_PROVIDED: "not verified; the responder gave no reason",
    NOT_FOR_REDISTRIBUTION: "the pack must not be distributed again",
    MANUFACTURER_POLICY: "not verified under the responder's policy",
    EXPIRED: "the pack's expiry date has passed",
    EXPIRATION_EXTENDED: "the expiry date was extended",
    RECALLED: "the pack was recalled or withdrawn",
    SUSPECT: "the responder considers the pack suspect",
    ILLEGITIMATE: "the responder considers the pack illegitimate",
}

# -- medtrace's reason codes (scanner/verdict.py) onto the standard ----------------------------------
_MISMATCH = {"lot_mismatch", "expiry_mismatch"}
#: medtrace reason code -> the standard's additionalInfo it implies.
_INFO: Final[dict[str, str]] = {
    "recalled": RECALLED,
    "withdrawn": RECALLED,
    "expired": EXPIRED,
    "already_dispensed": SUSPECT,
    "destroyed": SUSPECT,
    "stolen": SUSPECT,
    "exported": SUSPECT,
    "sample": SUSPECT,
    "free_sample": SUSPECT,
    "locked": SUSPECT,
    "quarantined": SUSPECT,
    "suspected_clone": ILLEGITIMATE,
    "duplicate_commission": ILLEGITIMATE,
    "forged": ILLEGITIMATE,
}
#: When several reasons apply, the one additionalInfo sent is the gravest.
_GRAVITY: Final = (ILLEGITIMATE, SUSPECT, RECALLED, EXPIRED)


@dataclass(frozen=True)
class Answer:
    """``data`` of the standard's response: ``verified``, and why not."""

    verified: bool
    failure_reason: str | None = None
    additional_info: str | None = None

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verified": self.verified}
        if self.failure_reason is not None:
            data["verificationFailureReason"] = self.failure_reason
        if self.additional_info is not None:
            data["additionalInfo"] = self.additional_info
        return data


def answer_for(decision: str, reason_codes: Iterable[str]) -> Answer:
    """The standard's ``data`` for a medtrace verdict (RELEASE / HOLD / REJECT and its reason
    codes): only a RELEASE is ``verified``; a mismatch of what the pack carries names the
    standard's No_match reason, any other refusal is Not_for_re-distribution (a REJECT) or
    No_reason_provided (a HOLD: look at the pack again before it moves), with the gravest
    additionalInfo the reasons imply."""
    codes = set(reason_codes)
    if decision == "RELEASE":
        return Answer(True)
    info = _gravest(codes)
    if "unknown_pack" in codes:
        return Answer(False, NO_MATCH_GTIN_SERIAL)
    mismatched = codes & _MISMATCH
    if mismatched == _MISMATCH:
        return Answer(False, NO_MATCH_GTIN_SERIAL_LOT_EXPIRY, info)
    if mismatched == {"lot_mismatch"}:
        return Answer(False, NO_MATCH_GTIN_SERIAL_LOT, info)
    if mismatched == {"expiry_mismatch"}:
        return Answer(False, NO_MATCH_GTIN_SERIAL_EXPIRY, info)
    if decision == "REJECT":
        return Answer(False, NOT_FOR_REDISTRIBUTION, info)
    return Answer(False, NO_REASON_PROVIDED, info)


def _gravest(codes: set[str]) -> str | None:
    implied = {_INFO[code] for code in codes if code in _INFO}
    return next((info for info in _GRAVITY if info in implied), None)


# -- the response, as a JSON Schema (the OpenAPI document shows it) ---------------------------------
GLN_PATTERN: Final = r"^[0-9]{13}$"
UUID_PATTERN: Final = (
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)

VERIFICATION_RESPONSE: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The standard's verification response (GS1 Lightweight Messaging Standard "
    "for Verification of Product Identifiers).",
    "required": ["verificationTimestamp", "responderGLN", "data"],
    "additionalProperties": False,
    "properties": {
        "verificationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "When the responder verified (UTC, ISO 8601 with milliseconds).",
        },
        "responderGLN": {
            "type": "string",
            "pattern": GLN_PATTERN,
            "description": "The GLN of the organisation whose node answered (its membership).",
        },
        "data": {
            "type": "object",
            "required": ["verified"],
            "additionalProperties": False,
            "properties": {
                "verified": {"type": "boolean"},
                "verificationFailureReason": {"type": "string", "enum": list(FAILURE_REASONS)},
                "additionalInfo": {"type": "string", "enum": list(ADDITIONAL_INFO)},
            },
        },
        "corrUUID": {
            "type": "string",
            "pattern": UUID_PATTERN,
            "description": "The request's corrUUID, echoed (absent when the request had none).",
        },
    },
}

CONNECTIVITY_RESPONSE: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The connectivity check: this verification service answers, as this GLN.",
    "required": ["responderGLN"],
    "additionalProperties": False,
    "properties": {"responderGLN": {"type": "string", "pattern": GLN_PATTERN}},
}
