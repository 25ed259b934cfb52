"""The one table of routes: path, method, roles, parameters, body schema, view.

Everything else is derived from it: the Flask rules (``blueprint``), authentication, rate
limiting and validation (``_dispatch``), and the OpenAPI document (``api/openapi.py``). A test
checks that the document's paths and methods equal the application's URL map exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flask import Blueprint, Response, request

from api import actions, epcis, harvest, ops, queries, replication, web, web_scan
from api.auth import HINTERS, OPERATOR, READERS, REPLICATORS, VERIFIER, WRITERS, require
from api.call import Call
from api.context import NodeContext, node_context
from api.problems import Problem
from api.ratelimit import retry_after_header
from api.schema import Invalid, Schema, check_body, parse_json, validate
from ledger.alerts import Code
from ledger.kinds import Kind
from node.tokens import TokenInfo, TokenRole

API = "/api/v1"
MAX_SUBJECTS = 100_000
MAX_SERIALS = 100_000
MAX_REFS = 1_000
PAGE_MAX = 1_000
PAGE_DEFAULT = 500
#: Who may scan: a pharmacist's or customs officer's device, or an operator.
SCANNERS = frozenset({OPERATOR, VERIFIER})

View = Callable[[NodeContext, Call], Response]


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: Schema
    description: str
    default: Any = None


@dataclass(frozen=True)
class Route:
    path: str  # a Flask rule
    method: str
    endpoint: str  # the Flask endpoint and the OpenAPI operationId
    view: View
    summary: str
    tag: str
    roles: frozenset[TokenRole] | None  # None: no authentication
    request: Schema | None = None
    response: Schema | None = None
    status: int = 200
    params: tuple[Param, ...] = ()
    rate_limited: bool = False
    kind: Kind | None = None  # a write of this kind: refused early if the feed may not write it
    media_type: str = "application/json"
    description: str = ""
    #: Also accepted instead of the JSON ``request``: a multipart/form-data body with these
    #: fields (the view reads it; ``call.body`` is then ``None``).
    uploads: Schema | None = None
    #: Problem statuses this route answers beyond those derived from its other fields.
    problems: tuple[int, ...] = ()


# -- schemas -------------------------------------------------------------------------------------

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
ACTION_SUMMARIES: dict[Kind, str] = {
    Kind.PACK: "Aggregate: put packs or containers into a container (first subject: the SSCC).",
    Kind.UNPACK: "Disaggregate: take packs or containers out (first subject: the SSCC).",
    Kind.SHIP: "Ship packs or containers to a member organisation (body.destination).",
    Kind.RETURN: "Return packs or containers to a member organisation (body.destination).",
    Kind.RECEIVE: "Receive packs or containers (refs: the ship or return entry).",
    Kind.INSPECT: "Customs inspection: release, hold or detain (body.decision, body.reasons).",
    Kind.DISPENSE: "Dispense (decommission) packs at a pharmacy.",
    Kind.UNDO: "Undo a decommissioning within 10 days, same feed (refs: that entry).",
    Kind.DESTROY: "Destroy packs.",
    Kind.STOLEN: "Report packs stolen.",
    Kind.EXPORT: "Export packs out of the market.",
    Kind.SAMPLE: "Take packs as samples (body.free: a free sample).",
    Kind.LOCK: "Lock packs pending investigation.",
    Kind.UNLOCK: "Unlock locked packs.",
    Kind.RECALL: "Recall a lot (subject: /01/{gtin}/10/{lot}); irreversible.",
    Kind.WITHDRAW: "Withdraw a product (subject: /01/{gtin}); irreversible.",
}
# ``event`` entries are written by EPCIS capture (api/epcis.py), not by an action route.
assert set(ACTION_SCHEMAS) == set(Kind) - {Kind.COMMISSION, Kind.EVENT}

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
        "children": {"type": "array", "items": {"type": "string"}},
        "packs": {"type": "integer"},
        "alerts": {"type": "array", "items": ALERT},
    },
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
                    "size": {"type": "integer"},
                    "head": {"type": ["string", "null"]},
                    "frozen_at": {"type": ["integer", "null"]},
                },
            },
        },
    },
}
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

SCAN_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
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
SCAN_RESULT = {
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
        "reasons": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
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
                },
            },
        },
        "alerts": {"type": "array", "items": ALERT},
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
EPCIS_QUERY_PARAMS = (
    Param("eventType", "query", {"type": "string"}, "ObjectEvent, AggregationEvent, …"),
    Param("GE_eventTime", "query", {"type": "string", "format": "date-time"}, "eventTime ≥."),
    Param("LT_eventTime", "query", {"type": "string", "format": "date-time"}, "eventTime <."),
    Param("EQ_bizStep", "query", {"type": "string"}, "CBV bizStep, bare word or URI."),
    Param("EQ_disposition", "query", {"type": "string"}, "CBV disposition, bare word or URI."),
    Param("EQ_bizLocation", "query", {"type": "string"}, "SGLN URN or Digital Link."),
    Param("EQ_action", "query", {"type": "string"}, "OBSERVE, ADD or DELETE."),
    Param("EQ_eventID", "query", {"type": "string"}, "eventID or event hash."),
    Param("MATCH_epc", "query", {"type": "string"}, "EPC in epcList / childEPCs (patterns ok)."),
    Param("MATCH_anyEPC", "query", {"type": "string"}, "EPC anywhere in the event."),
    Param(
        "perPage",
        "query",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        "Events per page (default 100).",
    ),
    Param("nextPageToken", "query", {"type": "string"}, "From the previous page's Link."),
)

GTIN_PARAM = Param("gtin", "path", {"type": "string", "format": "gtin"}, "GTIN-8/12/13/14.")
SERIAL_PARAM = Param(
    "serial",
    "path",
    {"type": "string", "format": "gs1-cset82"},
    "The serial (percent-encoded; a '/' in a serial may also be sent as is).",
)


# -- the table -----------------------------------------------------------------------------------


def _routes() -> tuple[Route, ...]:
    writes: list[Route] = [
        Route(
            f"{API}/commission",
            "POST",
            "commission",
            actions.commission,
            "Commission a batch of packs: serials generated (count) or supplied (serials).",
            "writes",
            WRITERS,
            request=COMMISSION,
            response=COMMISSIONED,
            status=201,
            kind=Kind.COMMISSION,
        )
    ]
    for kind, schema in ACTION_SCHEMAS.items():
        writes.append(
            Route(
                f"{API}/actions/{kind.value}",
                "POST",
                f"action_{kind.value}",
                actions.action(kind),
                ACTION_SUMMARIES[kind],
                "writes",
                WRITERS,
                request=schema,
                response=ENTRY_CREATED,
                status=201,
                kind=kind,
            )
        )
    reads = [
        Route(
            f"{API}/packs/<gtin>/<path:serial>",
            "GET",
            "pack_state",
            queries.pack_state,
            "A pack's state: status, effective status, custodian, container, lot, expiry, alerts.",
            "verification",
            READERS,
            response=PACK,
            params=(GTIN_PARAM, SERIAL_PARAM),
            rate_limited=True,
        ),
        Route(
            f"{API}/packs/<gtin>/<path:serial>/provenance",
            "GET",
            "pack_provenance",
            queries.provenance,
            "Every signed entry about a pack and the membership to verify them with.",
            "verification",
            READERS,
            response=PROVENANCE,
            params=(GTIN_PARAM, SERIAL_PARAM),
            rate_limited=True,
        ),
        Route(
            f"{API}/scan",
            "POST",
            "scan",
            web_scan.scan,
            "Read a pack's code (a photo, or the scanned text) and verify its provenance here: "
            "RELEASE, HOLD or REJECT with reasons and the custody timeline.",
            "verification",
            SCANNERS,
            request=SCAN_REQUEST,
            uploads=SCAN_UPLOAD,
            response=SCAN_RESULT,
            rate_limited=True,
            problems=(422,),
        ),
        Route(
            f"{API}/containers/<sscc>",
            "GET",
            "container",
            queries.container,
            "A container (case, pallet): status, custodian, parent, contents.",
            "verification",
            READERS,
            response=CONTAINER,
            params=(Param("sscc", "path", {"type": "string", "format": "sscc"}, "18-digit SSCC."),),
            rate_limited=True,
        ),
        Route(
            f"{API}/alerts",
            "GET",
            "alerts",
            queries.alerts,
            "Alerts with their evidence entries, filtered by code and subject.",
            "queries",
            READERS,
            response={
                "type": "object",
                "properties": {
                    "count": {"type": "integer"},
                    "alerts": {"type": "array", "items": ALERT},
                },
            },
            params=(
                Param(
                    "code",
                    "query",
                    {"type": "string", "enum": [c.value for c in Code]},
                    "Only alerts with this code.",
                ),
                Param(
                    "subject",
                    "query",
                    {"type": "string", "maxLength": 200},
                    "Only alerts about this subject URI (a pack, container, lot or feed id).",
                ),
                Param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 5_000},
                    "At most this many (the most recent); default 1000.",
                    default=1_000,
                ),
            ),
        ),
    ]
    feeds = [
        Route(
            f"{API}/feeds",
            "GET",
            "feeds",
            replication.feeds,
            "Every feed held here: size, head id, fork point; and the digest over all heads.",
            "replication",
            REPLICATORS,
            response=HEADS,
        ),
        Route(
            f"{API}/feeds/<org>/<site>/entries",
            "GET",
            "feed_entries",
            replication.entries,
            "A page of a feed's entries, from a sequence number on, as signed bytes.",
            "replication",
            REPLICATORS,
            response={
                "type": "object",
                "properties": {
                    "feed": {"type": "string"},
                    "entries": {"type": "array", "items": WIRE},
                },
            },
            params=(
                Param("org", "path", {"type": "string", "pattern": ORG_ID}, "Organisation id."),
                Param("site", "path", {"type": "string", "pattern": ORG_ID}, "Site name."),
                Param(
                    "from",
                    "query",
                    {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
                    "First sequence number (default 0).",
                    default=0,
                ),
                Param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                    f"Entries per page, at most {PAGE_MAX} (default {PAGE_DEFAULT}).",
                    default=PAGE_DEFAULT,
                ),
            ),
        ),
        Route(
            f"{API}/membership",
            "GET",
            "membership",
            replication.membership,
            "The pinned genesis id and every signed membership version held.",
            "replication",
            REPLICATORS,
            response={
                "type": "object",
                "properties": {
                    "genesis": {"type": "string"},
                    "versions": {"type": "array", "items": MEMBERSHIP_WIRE},
                },
            },
        ),
        Route(
            f"{API}/replication/hint",
            "POST",
            "replication_hint",
            replication.hint,
            "A peer appended: pull from it soon.",
            "replication",
            HINTERS,
            request={
                "type": "object",
                "additionalProperties": False,
                "properties": {"peer": {"type": "string", "maxLength": 64}},
            },
            response={"type": "object", "properties": {"accepted": {"type": "boolean"}}},
            status=202,
        ),
        Route(
            f"{API}/replication/sync",
            "POST",
            "replication_sync",
            replication.sync,
            "Pull from every peer now and report what was added.",
            "replication",
            WRITERS,
            response=SYNC_REPORT,
        ),
    ]
    public = [
        Route(
            "/healthz",
            "GET",
            "healthz",
            ops.healthz,
            "Liveness and a glance at the ledger: node, feed, digest, entries.",
            "operations",
            None,
            response={
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "node": {"type": "string"},
                    "feed": {"type": "string"},
                    "digest": {"type": "string"},
                    "entries": {"type": "integer"},
                },
            },
        ),
        Route(
            "/metrics",
            "GET",
            "metrics",
            ops.metrics,
            "Prometheus metrics (text format 0.0.4).",
            "operations",
            None,
            media_type="text/plain",
            response={"type": "string"},
        ),
        Route(
            "/openapi.json",
            "GET",
            "openapi",
            ops.openapi,
            "This document (OpenAPI 3.1).",
            "operations",
            None,
            response={"type": "object"},
        ),
    ]
    epcis_routes = [
        Route(
            "/epcis/capture",
            "POST",
            "epcis_capture",
            epcis.capture,
            "EPCIS 2.0 capture: an EPCISDocument (JSON / JSON-LD) becomes entries of this node's "
            "feed; 202 with Location of the capture job (docs/spec/epcis.md).",
            "epcis",
            WRITERS,
            response=EPCIS_CAPTURE_JOB,
            status=202,
            description="Header GS1-Capture-Error-Behaviour: rollback (default, all events or "
            "none) or proceed (each event on its own). The body is an EPCIS 2.0 EPCISDocument (application/json or "
            "application/ld+json), validated by medtrace (400 names the JSON path of the first "
            "problem; nothing is captured). Limits: GS1-EPCIS-Capture-Limit events, "
            "GS1-EPCIS-Capture-File-Size-Limit bytes (413 beyond). A broken lifecycle rule: "
            "403/409/422 with `code` naming it.",
            problems=(400, 409, 413, 415, 422),
        ),
        Route(
            "/epcis/capture/<capture_id>",
            "GET",
            "epcis_capture_job",
            epcis.capture_job,
            "An EPCIS capture job: finished, success, errors, the entries written.",
            "epcis",
            READERS,
            response=EPCIS_CAPTURE_JOB,
            params=(
                Param("capture_id", "path", {"type": "string", "maxLength": 40}, "captureID."),
            ),
            problems=(404,),
        ),
        Route(
            "/epcis/events",
            "GET",
            "epcis_events",
            epcis.events,
            "EPCIS 2.0 SimpleEventQuery over every entry held here, as an EPCISQueryDocument.",
            "epcis",
            READERS,
            response=EPCIS_QUERY_DOCUMENT,
            params=EPCIS_QUERY_PARAMS,
            media_type="application/ld+json",
        ),
        Route(
            "/epcis/epcs/<path:epc>/events",
            "GET",
            "epcis_epc_events",
            epcis.epc_events,
            "The events naming one EPC (EPC URN or GS1 Digital Link, percent-encoded).",
            "epcis",
            READERS,
            response=EPCIS_QUERY_DOCUMENT,
            params=(
                Param("epc", "path", {"type": "string"}, "An EPC URN or GS1 Digital Link URI."),
                *(p for p in EPCIS_QUERY_PARAMS if p.name != "MATCH_anyEPC"),
            ),
            media_type="application/ld+json",
        ),
        Route(
            "/epcis/events/<path:event_id>",
            "GET",
            "epcis_event",
            epcis.event_by_id,
            "The events with this eventID (an event and its error declaration share one).",
            "epcis",
            READERS,
            response=EPCIS_QUERY_DOCUMENT,
            params=(
                Param("event_id", "path", {"type": "string"}, "eventID or CBV 2.0 event hash."),
            ),
            media_type="application/ld+json",
            problems=(404,),
        ),
        Route(
            "/epcis/context/medtrace.jsonld",
            "GET",
            "epcis_context",
            epcis.context_document,
            "The JSON-LD context of medtrace's extension terms (mt:) (docs/spec/vocabulary.md).",
            "epcis",
            None,
            response={"type": "object"},
            media_type="application/ld+json",
        ),
    ]
    return (*writes, *reads, *feeds, *public, *epcis_routes)


ROUTES: tuple[Route, ...] = _routes()


# -- dispatch ------------------------------------------------------------------------------------


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _params(route: Route, path_args: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in route.params:
        raw = path_args.get(param.name) if param.where == "path" else request.args.get(param.name)
        if raw is None:
            if param.default is not None:
                values[param.name] = param.default
            continue
        value: Any = raw
        if param.schema.get("type") == "integer":
            try:
                value = int(raw, 10)
            except ValueError:
                raise Problem(
                    "invalid-request",
                    f"{param.name}: expected an integer, found {raw!r}"[:300],
                    extra={"parameter": param.name},
                ) from None
        try:
            validate(value, param.schema, param.name)
        except Invalid as exc:
            raise Problem(
                "invalid-request", f"{exc.message}"[:400], extra={"parameter": param.name}
            ) from None
        values[param.name] = value
    return values


def _body(route: Route) -> Any:
    if route.request is None:
        return None
    if route.uploads is not None and request.mimetype == "multipart/form-data":
        return None  # the view reads the form (and sets its own size limit)
    if not _is_json(request.mimetype):
        expected = "application/json" + (
            " or multipart/form-data" if route.uploads is not None else ""
        )
        raise Problem(
            "unsupported-media-type",
            f"expected Content-Type: {expected}, found {request.mimetype or 'none'!r}",
        )
    value = parse_json(request.get_data(cache=False))
    check_body(value, route.request)
    return value


def _rate_limit(ctx: NodeContext, route: Route, token: TokenInfo) -> None:
    wait = ctx.limiter.take(f"token:{token.id}")
    if wait > 0:
        ctx.metrics.rate_limited(route.path)
        seconds = retry_after_header(wait)
        raise Problem(
            "rate-limited",
            f"expected at most {ctx.config.verify_rate_per_minute} verification queries per "
            f"minute for this token; retry in {seconds} s",
            extra={"retry_after": int(seconds)},
            headers={"Retry-After": seconds},
        )


def _may_write(ctx: NodeContext, kind: Kind) -> None:
    spec = ctx.membership.feed(ctx.feed)
    if kind not in spec.kinds:
        raise Problem(
            "kind-not-allowed",
            f"feed {ctx.feed} may not write {kind.value!r} entries; it may write "
            f"{sorted(k.value for k in spec.kinds)}",
            extra={"code": "unauthorised_kind"},
        )


def _dispatch(route: Route) -> Callable[..., Response]:
    def view(**path_args: str) -> Response:
        ctx = node_context()
        token = require(ctx, route.roles) if route.roles is not None else None
        guarded = route.rate_limited and token is not None and ctx.harvest.enabled
        if route.rate_limited and token is not None:
            _rate_limit(ctx, route, token)
            if guarded:
                harvest.check(ctx, route.path, token)
        args = _params(route, path_args)
        if route.roles is not None:
            ctx.refresh_membership()
        if route.kind is not None:
            _may_write(ctx, route.kind)
        if not guarded or token is None:
            return route.view(ctx, Call(args, _body(route), token))
        try:
            response = route.view(ctx, Call(args, _body(route), token))
        except Problem as problem:
            harvest.after(ctx, token, problem)
            raise
        harvest.after(ctx, token, None)
        return response

    view.__name__ = route.endpoint
    return view


def blueprint() -> Blueprint:
    """The API's rules, and (nested, outside the OpenAPI document) the web pages."""
    bp = Blueprint("api", __name__)
    bp.register_blueprint(web.blueprint())
    bp.register_blueprint(epcis.blueprint())  # OPTIONS /epcis/…: advertised limits only
    for route in ROUTES:
        bp.add_url_rule(
            route.path,
            endpoint=route.endpoint,
            view_func=_dispatch(route),
            methods=[route.method],
            provide_automatic_options=False,
        )
    return bp
