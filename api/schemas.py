"""The JSON schemas of the API's bodies: what requests must be, what responses are (a table).

The route table (``api/routes.py``) names them; from there they are both published in the
OpenAPI document (``api/openapi.py``) and checked against every request body
(``api/validation.py``), so the two cannot drift. ``x-optional`` marks a member of a free-form
body a client may leave out; it only decides ``required`` and is never published.
"""

from __future__ import annotations

from api.validation import Schema
from ledger.alerts import Code
from ledger.kinds import RECORD_KINDS, Kind

MAX_SUBJECTS = 100_000
MAX_SERIALS = 100_000
MAX_REFS = 1_000

ORG_ID = r"^[a-z0-9][a-z0-9-]{0,31}$"
ENTRY_ID = {"type": "string", "format": "entry-id", "pattern": "^[0-9a-f]{64}$"}
WIRE = {
    "type": "object",
    "description": "A signed entry: the payload bytes exactly as signed, base64, and the "
    "Ed25519 signature, base64 (docs/spec/entry.md).",
    "required": ["id", "payload", "signature"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "payload": {"type": "string", "contentEncoding": "base64"},
        "signature": {"type": "string", "contentEncoding": "base64"},
    },
}
MEMBERSHIP_WIRE = {
    "type": "object",
    "description": "A signed membership version (docs/spec/membership.md).",
}
SUBJECTS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_SUBJECTS,
    "items": {"type": "string", "maxLength": 200, "format": "gs1-subject"},
    "description": "Canonical GS1 Digital Link URIs of packs (SGTIN) or containers (SSCC); "
    "recall names one lot (/01/{gtin}/10/{lot}), withdraw one product (/01/{gtin}).",
}
REFS = {"type": "array", "maxItems": MAX_REFS, "items": ENTRY_ID}
FREE_BODY = {
    "type": "object",
    "maxProperties": 64,
    "x-ledger-json": True,
    "description": "EPCIS 2.0 / CBV 2.0 shaped event fields (bizStep, readPoint, bizLocation …): "
    "JSON without numbers with a fraction.",
}
ALERT = {
    "type": "object",
    "required": ["id", "code", "level", "subject", "message", "evidence"],
    "properties": {
        "id": {"type": "string"},
        "code": {"type": "string", "enum": [c.value for c in Code]},
        "level": {"type": "string", "enum": ["warning", "critical"]},
        "subject": {"type": "string"},
        "message": {"type": "string"},
        "evidence": {"type": "array", "items": {"type": "string"}},
        "entries": {"type": "array", "items": WIRE},
        "details": {
            "type": "object",
            "description": "Node-local alerts only (serial_harvesting, ADR 0012): what the node "
            "observed (token_id, user, organisation, count, window_s, sample of probed keys).",
        },
        "ts": {"type": "string", "description": "Node-local alerts only: when it was raised."},
    },
}
ALERTS = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "alerts": {"type": "array", "items": ALERT},
    },
}


def _body_schema(**members: Schema) -> Schema:
    """The free-form body, with some members required and typed."""
    return {
        **FREE_BODY,
        "required": sorted(name for name, s in members.items() if not s.get("x-optional")),
        "properties": {
            name: {k: v for k, v in s.items() if k != "x-optional"} for name, s in members.items()
        },
    }


def _action_schema(
    *, refs: Schema = REFS, body: Schema = FREE_BODY, max_subjects: int = MAX_SUBJECTS
) -> Schema:
    required = ["subjects"]
    if body is not FREE_BODY and body.get("required"):
        required.append("body")
    if refs.get("minItems"):
        required.append("refs")
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {
            "subjects": {**SUBJECTS, "maxItems": max_subjects},
            "refs": refs,
            "body": body,
        },
    }


DESTINATION = _body_schema(
    destination={
        "type": "string",
        "pattern": ORG_ID,
        "description": "The member organisation the goods go to.",
    }
)
ACTION_SCHEMAS: dict[Kind, Schema] = {
    Kind.PACK: _action_schema(),
    Kind.UNPACK: _action_schema(),
    Kind.SHIP: _action_schema(body=DESTINATION),
    Kind.RETURN: _action_schema(body=DESTINATION),
    Kind.RECEIVE: _action_schema(refs={**REFS, "minItems": 1}),
    Kind.INSPECT: _action_schema(
        body=_body_schema(
            decision={"type": "string", "enum": ["release", "hold", "detain"]},
            reasons={
                "type": "array",
                "maxItems": 50,
                "items": {"type": "string", "maxLength": 500},
                "x-optional": True,
            },
        ),
    ),
    Kind.DISPENSE: _action_schema(),
    Kind.UNDO: _action_schema(refs={**REFS, "minItems": 1, "maxItems": 1}),
    Kind.DESTROY: _action_schema(),
    Kind.STOLEN: _action_schema(),
    Kind.EXPORT: _action_schema(),
    Kind.SAMPLE: _action_schema(body=_body_schema(free={"type": "boolean", "x-optional": True})),
    Kind.LOCK: _action_schema(),
    Kind.UNLOCK: _action_schema(),
    Kind.RECALL: _action_schema(max_subjects=1),
    Kind.WITHDRAW: _action_schema(max_subjects=1),
}
# ``event`` entries are written by EPCIS capture (api/epcis.py), not by an action route; the
# records (``kinds.RECORD_KINDS``) by their own routes (api/customs_routes.py; ADR 0020, 0022).
_RECORDS: set[Kind] = set().union(*RECORD_KINDS.values())
assert set(ACTION_SCHEMAS) == set(Kind) - {Kind.COMMISSION, Kind.EVENT, *_RECORDS}

COMMISSION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["gtin", "lot", "expiry"],
    "properties": {
        "gtin": {"type": "string", "format": "gtin", "description": "GTIN-8/12/13/14."},
        "lot": {"type": "string", "format": "gs1-cset82"},
        "expiry": {"type": "string", "format": "date", "description": "YYYY-MM-DD."},
        "count": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SERIALS,
            "description": "How many fresh random serials to generate.",
        },
        "serials": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SERIALS,
            "uniqueItems": True,
            "items": {"type": "string", "format": "gs1-cset82"},
            "description": "The serials to commission, as printed.",
        },
        "chunk": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000,
            "description": "Serials per signed entry (default 1000).",
        },
        "body": {
            **FREE_BODY,
            "maxProperties": 32,
            "description": "Extra EPCIS fields for the commissioning entries (not gtin, ilmd "
            "or serials: the node sets those).",
        },
    },
    "oneOf": [{"required": ["count"]}, {"required": ["serials"]}],
    "x-oneOf-message": "expected exactly one of 'count' and 'serials'",
}
COMMISSIONED = {
    "type": "object",
    "properties": {
        "gtin": {"type": "string"},
        "lot": {"type": "string"},
        "expiry": {"type": "string"},
        "count": {"type": "integer"},
        "serials": {"type": "array", "items": {"type": "string"}},
        "entries": {"type": "array", "items": {"type": "string"}},
    },
}
ENTRY_CREATED = {"type": "object", "required": ["entry"], "properties": {"entry": WIRE}}
PACK = {
    "type": "object",
    "properties": {
        "pack": {"type": "string"},
        "gtin": {"type": "string"},
        "serial": {"type": "string"},
        "lot": {"type": "string"},
        "expiry": {"type": "string"},
        "status": {"type": "string"},
        "effective_status": {"type": "string"},
        "expired": {"type": "boolean"},
        "custodian": {"type": "string"},
        "destination": {"type": ["string", "null"]},
        "container": {"type": ["string", "null"]},
        "commissioned": {"type": "string"},
        "changed_by": {"type": ["string", "null"]},
        "changed_at": {"type": ["string", "null"]},
        "recalled_by": {"type": ["string", "null"]},
        "withdrawn_by": {"type": ["string", "null"]},
        "alerts": {"type": "array", "items": ALERT},
    },
}
PROVENANCE = {
    "type": "object",
    "properties": {
        "pack": {"type": "string"},
        "genesis": {"type": "string"},
        "entries": {"type": "array", "items": WIRE},
        "withheld": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Ids of entries not shown to this token because their signed bytes "
            "list other packs (docs/spec/api.md, per-pack answers).",
        },
        "memberships": {"type": "array", "items": MEMBERSHIP_WIRE},
    },
}
CONTAINER = {
    "type": "object",
    "properties": {
        "container": {"type": "string"},
        "sscc": {"type": "string"},
        "status": {"type": "string"},
        "custodian": {"type": "string"},
        "destination": {"type": ["string", "null"]},
        "parent": {"type": ["string", "null"]},
        "children": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "The members, to the operators and auditors of the custodian, the "
            "destination and the regulator only; null to every other token (docs/spec/api.md).",
        },
        "listed": {"type": "boolean"},
        "packs": {"type": "integer"},
        "containers": {"type": "integer"},
        "alerts": {"type": "array", "items": ALERT},
    },
}
#: A feed's head as a node holds it, in HEADS and in api/network.py's NETWORK.
FEED_HEAD: dict[str, Schema] = {
    "size": {"type": "integer"},
    "head": {"type": ["string", "null"]},
    "frozen_at": {"type": ["integer", "null"]},
}
HEADS = {
    "type": "object",
    "properties": {
        "digest": {"type": "string"},
        "node": {"type": "string"},
        "feeds": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    **FEED_HEAD,
                    "before_fork": {"type": ["string", "null"]},
                    "fork_entries": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "forks": {
            "type": "array",
            "items": {"type": "array", "items": WIRE, "minItems": 2, "maxItems": 2},
        },
    },
}
FEED_PAGE = {
    "type": "object",
    "properties": {
        "feed": {"type": "string"},
        "entries": {"type": "array", "items": WIRE},
    },
}
MEMBERSHIP_VERSIONS = {
    "type": "object",
    "properties": {
        "genesis": {"type": "string"},
        "versions": {"type": "array", "items": MEMBERSHIP_WIRE},
    },
}
#: Checkpoints of feeds (docs/spec/proofs.md): C2SP notes as text.
CHECKPOINT_NOTE = {"type": "string", "maxLength": 16384}
CHECKPOINTS = {
    "type": "object",
    "properties": {
        "node": {"type": "string"},
        "checkpoints": {"type": "array", "items": CHECKPOINT_NOTE},
        "evidence": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "feed": {"type": "string"},
                    "size": {"type": "integer"},
                    "reason": {"type": "string"},
                    "notes": {"type": "array", "items": CHECKPOINT_NOTE},
                },
            },
        },
    },
}
COSIGNATURES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["notes"],
    "properties": {"notes": {"type": "array", "maxItems": 10000, "items": CHECKPOINT_NOTE}},
}
COSIGNATURES_TAKEN = {
    "type": "object",
    "properties": {
        "taken": {"type": "integer"},
        "refused": {"type": "array", "items": {"type": "string"}},
    },
}
_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
INCLUSION_PROOF = {
    "type": "object",
    "properties": {
        "feed": {"type": "string"},
        "seq": {"type": "integer"},
        "size": {"type": "integer"},
        "entry": _HEX,
        "leaf": _HEX,
        "path": {"type": "array", "items": _HEX},
        "checkpoint": {"type": ["string", "null"]},
    },
}
CONSISTENCY_PROOF = {
    "type": "object",
    "properties": {
        "feed": {"type": "string"},
        "from": {"type": "integer"},
        "to": {"type": "integer"},
        "proof": {"type": "array", "items": _HEX},
    },
}
HINT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"peer": {"type": "string", "maxLength": 64}},
}
HINT_ACCEPTED = {"type": "object", "properties": {"accepted": {"type": "boolean"}}}
SYNC_REPORT = {
    "type": "object",
    "properties": {
        "added": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "alerts": {"type": "array", "items": {"type": "string"}},
        "rejected": {"type": "integer"},
        "forks": {"type": "integer"},
        "digest": {"type": "string"},
    },
}
HEALTH = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok"]},
        "node": {"type": "string"},
        "feed": {"type": "string"},
        "digest": {"type": "string"},
        "entries": {"type": "integer"},
    },
}

EPCIS_CAPTURE_JOB = {
    "type": "object",
    "description": "An EPCIS 2.0 capture job (REST bindings), plus the entries it wrote.",
    "required": ["captureID", "running", "success", "captureErrorBehaviour", "errors"],
    "properties": {
        "captureID": {"type": "string"},
        "createdAt": {"type": "string", "format": "date-time"},
        "finishedAt": {"type": "string", "format": "date-time"},
        "running": {"type": "boolean"},
        "success": {"type": "boolean"},
        "captureErrorBehaviour": {"type": "string", "enum": ["rollback", "proceed"]},
        "errors": {"type": "array", "items": {"type": "object"}},
        "eventCount": {"type": "integer"},
        "entries": {"type": "array", "items": ENTRY_ID},
        "eventHashes": {"type": "array", "items": {"type": "string"}},
    },
}
EPCIS_QUERY_DOCUMENT = {
    "type": "object",
    "description": "An EPCIS 2.0 EPCISQueryDocument (JSON-LD); validates against GS1's schema.",
}
