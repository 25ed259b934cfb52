"""The JSON schemas of customs decisions, inspection outcomes and failed-check reports
(ADR 0022, docs/spec/customs.md). The ledger's checks (``ledger/lifecycle/customs_decisions.py``
and ``checks.py``) hold the same bounds; the schemas refuse a bad request before it is read."""

from __future__ import annotations

from api.validation import Schema
from ledger.lifecycle.checks import CONTEXTS, MAX_REASONS, MAX_SUBJECTS
from ledger.lifecycle.customs_decisions import DECISIONS, MAX_FINDINGS, MAX_NOTE, OUTCOMES

DECISION: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["decision"],
    "properties": {
        "decision": {"type": "string", "enum": list(DECISIONS)},
        "note": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE},
    },
}
INSPECTION: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["outcome"],
    "properties": {
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "findings": {"type": "string", "minLength": 1, "maxLength": MAX_FINDINGS},
    },
}
RECORDED: Schema = {
    "type": "object",
    "properties": {
        "reference": {"type": "string"},
        "decision": {"type": "string"},
        "outcome": {"type": "string"},
        "entry": {"type": "string", "description": "The decide or outcome entry's id."},
        "inspect": {
            "type": ["string", "null"],
            "description": "The inspect entry holding or releasing the declared packages.",
        },
    },
}
CHECK_REPORT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["packs", "verdict", "reasons", "context"],
    "properties": {
        "packs": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SUBJECTS,
            "items": {"type": "string", "maxLength": 200},
            "description": "Pack URIs (and SSCC URIs) the verdict is about; one for a verifier.",
        },
        "verdict": {"type": "string", "enum": ["REJECT", "HOLD"]},
        "reasons": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_REASONS,
            "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
        },
        "context": {"type": "string", "enum": list(CONTEXTS)},
        "declaration": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9/-]{0,34}$"},
        "lot": {"type": "string", "pattern": "^[!-~]{1,20}$"},
        "expiry": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    },
}
CHECK_RECORDED: Schema = {
    "type": "object",
    "properties": {
        "entries": {"type": "array", "items": {"type": "string"}},
        "alerts": {"type": "integer", "description": "Alerts raised (one per pack named)."},
    },
}
