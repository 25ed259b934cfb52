"""The schemas of ``POST /api/v1/scan``: a pack's code or a photo of it, or a case, pallet or
declaration (a consignment, ADR 0026); the answer is a pack's verdict or a consignment's."""

from __future__ import annotations

from api import consignment, web_scan
from api.schemas import ALERT
from api.validation import Schema

_REASON: Schema = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
}
_VERDICT: Schema = {"type": "string", "enum": ["RELEASE", "HOLD", "REJECT"]}

SCAN_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    **consignment.TEXT_OR_DECLARATION,  # a code, or a declaration: api/consignment.py
    "properties": {
        "declaration": consignment.DECLARATION_FIELD,
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": web_scan.MAX_TEXT,
            "description": "What a keyboard-wedge scanner typed (GS1 element string, with or "
            "without ']d2', GS as \\u001d or '<GS>') or a GS1 Digital Link URI.",
        },
        "context": {
            "type": "string",
            "enum": list(web_scan.CONTEXTS),
            "description": "counter (default): a pack in transit is held; border: a pack in "
            "transit is fine (customs).",
        },
    },
}
SCAN_UPLOAD = {
    "type": "object",
    "required": [web_scan.IMAGE_FIELD],
    "properties": {
        web_scan.IMAGE_FIELD: {
            "type": "string",
            "contentMediaType": "image/png, image/jpeg, image/webp",
            "description": f"A photo of the code: PNG, JPEG or WebP, at most "
            f"{web_scan.MAX_IMAGE_BYTES} bytes.",
        },
        "context": {"type": "string", "enum": list(web_scan.CONTEXTS)},
    },
}
PACK_RESULT = {
    "type": "object",
    "required": ["verdict", "pack", "gtin", "serial", "reasons", "timeline", "alerts", "scan"],
    "properties": {
        "verdict": {"type": "string", "enum": ["RELEASE", "HOLD", "REJECT"]},
        "pack": {"type": "string"},
        "gtin": {"type": "string"},
        "serial": {"type": "string"},
        "lot": {"type": ["string", "null"], "description": "As printed on the pack."},
        "expiry": {"type": ["string", "null"], "description": "As printed, an ISO date."},
        "context": {"type": "string", "enum": list(web_scan.CONTEXTS)},
        "node": {"type": "string"},
        "status": {"type": ["string", "null"], "description": "Null for an unknown pack."},
        "custodian": {"type": ["string", "null"]},
        "reasons": {"type": "array", "items": _REASON},
        "timeline": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "ts": {"type": "string"},
                    "feed": {"type": "string"},
                    "seq": {"type": "integer"},
                    "kind": {"type": "string"},
                    "entry": {"type": "string"},
                    "detail": {
                        "type": "string",
                        "description": "What the step decided or did, as `medtrace scan` shows "
                        "it: an inspection's release/hold/detain, a shipment's destination.",
                    },
                },
            },
        },
        "alerts": {"type": "array", "items": ALERT},
        "product": {
            "type": ["object", "null"],
            "description": "The GTIN's registered product (public master data and the entry "
            "that registered it); null when none is registered (docs/spec/customs.md).",
        },
        "warnings": {
            "type": "array",
            "items": _REASON,
            "description": "What the person scanning should know that did not change the "
            "verdict (an unregistered product at a counter).",
        },
        "ledger_country": {
            "type": "string",
            "description": "A pack of a foreign root only (docs/spec/cross-border.md): the "
            "ISO 3166-1 alpha-2 country whose consortium's ledger answered.",
        },
        "answered_by": {
            "type": "object",
            "description": "A pack of a foreign root only: which ledger answered.",
            "properties": {
                "consortium": {"type": "string"},
                "genesis": {"type": "string"},
                "url": {"type": "string"},
                "membership_version": {"type": ["integer", "null"]},
            },
        },
        "checkpoint_age_s": {
            "type": ["integer", "null"],
            "description": "A pack of a foreign root only: seconds since the newest "
            "cosignature of the checkpoints the verdict rests on.",
        },
        "asked_at": {"type": ["string", "null"]},
        "checkpoints": {"type": "object"},
        "scan": {
            "type": "object",
            "properties": {
                "symbology": {"type": "string"},
                "decoder": {"type": ["string", "null"]},
                "raw": {"type": "string"},
                "recovered": {
                    "type": "boolean",
                    "description": "Lost group separators were put back (one reading only).",
                },
                "notes": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
CONSIGNMENT_RESULT = {
    "type": "object",
    "required": ["kind", "verdict", "checked", "total", "counts", "reasons", "offending"],
    "properties": {
        "kind": {"const": "consignment"},
        "verdict": _VERDICT,
        "containers": {"type": "array", "items": {"type": "string"}},
        "declaration": {"type": ["string", "null"]},
        "checked": {"type": "integer", "description": "Packs judged: all of them, or HOLD."},
        "total": {"type": "integer"},
        "counts": {
            "type": "object",
            "description": "Packs per verdict.",
            "additionalProperties": {"type": "integer"},
        },
        "reasons": {
            "type": "object",
            "description": "Packs per reason code.",
            "additionalProperties": {"type": "integer"},
        },
        "findings": {"type": "array", "items": _REASON},
        "listed": {
            "type": "boolean",
            "description": "Whether the offending packs are named (docs/spec/api.md).",
        },
        "offending": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pack": {"type": "string"},
                    "gtin": {"type": "string"},
                    "serial": {"type": "string"},
                    "verdict": _VERDICT,
                    "reasons": {"type": "array", "items": _REASON},
                },
            },
        },
        "offending_more": {"type": "integer"},
        "products": {"type": "array", "items": {"type": "object"}},
        "unknown_containers": {"type": "array", "items": {"type": "string"}},
        "declaration_check": {
            "type": "object",
            "properties": {
                "agrees": {"type": "boolean"},
                "findings": {"type": "array", "items": _REASON},
            },
        },
        "elapsed_ms": {"type": "integer"},
    },
}
SCAN_RESULT = {"anyOf": [PACK_RESULT, CONSIGNMENT_RESULT]}
