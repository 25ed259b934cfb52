"""The one table of routes: path, method, roles, guard, parameters, body schema, view.

Everything else is derived from it: the Flask rules, authentication, rate limiting, the
serial-harvesting guard and validation (``api/dispatch.py``), and the OpenAPI document
(``api/openapi.py``). What a route is (and the rule of its guard) is ``api/route.py``; the body
schemas it names are in ``api/schemas.py``. A test checks that the document's paths and methods
equal the application's URL map exactly.
"""

from __future__ import annotations

from api import actions, epcis, network, ops, peer_endpoints, queries, web_scan
from api.alert_filters import FILTER_PARAMS
from api.auth import (
    AUDITOR,
    HINTERS,
    LEDGER_READERS,
    OPERATOR,
    PEER,
    READERS,
    REPLICATORS,
    VERIFIER,
    WRITERS,
)
from api.cases import case_routes
from api.checkpoint_routes import checkpoint_routes
from api.customs_routes import customs_routes
from api.foreign_auth import foreign_auth_routes
from api.risk_routes import risk_routes
from api.route import Guard, Param, Route
from api.scan_schemas import SCAN_REQUEST, SCAN_RESULT, SCAN_UPLOAD
from api.schemas import (
    ACTION_SCHEMAS,
    ALERTS,
    COMMISSION,
    COMMISSIONED,
    CONTAINER,
    ENTRY_CREATED,
    EPCIS_CAPTURE_JOB,
    EPCIS_QUERY_DOCUMENT,
    FEED_PAGE,
    HEADS,
    HEALTH,
    HINT,
    HINT_ACCEPTED,
    MEMBERSHIP_VERSIONS,
    ORG_ID,
    PACK,
    PROVENANCE,
    SYNC_REPORT,
)
from api.vrs import vrs_routes
from ledger.alerts import Code
from ledger.kinds import Kind
from node.replication.protocol import (
    API_PREFIX,
    ENTRIES_RULE,
    FEEDS_PATH,
    FROM_PARAM,
    HINT_PATH,
    LIMIT_PARAM,
    MAX_JSON_INT,
    MEMBERSHIP_PATH,
    PAGE_DEFAULT,
    PAGE_MAX,
    SYNC_PATH,
)

#: Who may scan: a pharmacist's or customs officer's device, or an operator.
SCANNERS = frozenset({OPERATOR, VERIFIER})
#: Who may see the node's view of the network: its operator and the regulator's auditors.
NETWORK_VIEWERS = frozenset({OPERATOR, AUDITOR})
#: Any token of this node: ``whoami`` tells its holder its own role.
TOKEN_HOLDERS = frozenset({OPERATOR, VERIFIER, AUDITOR, PEER})

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
            f"{API_PREFIX}/commission",
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
                f"{API_PREFIX}/actions/{kind.value}",
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
            f"{API_PREFIX}/packs/<gtin>/<path:serial>",
            "GET",
            "pack_state",
            queries.pack_state,
            "A pack's state: status, effective status, custodian, container, lot, expiry, alerts.",
            "verification",
            READERS,
            response=PACK,
            params=(GTIN_PARAM, SERIAL_PARAM),
            reads_pack=queries.pack_key,
        ),
        Route(
            f"{API_PREFIX}/packs/<gtin>/<path:serial>/provenance",
            "GET",
            "pack_provenance",
            queries.provenance,
            "Every signed entry about a pack and the membership to verify them with.",
            "verification",
            READERS,
            response=PROVENANCE,
            params=(GTIN_PARAM, SERIAL_PARAM),
        ),
        Route(
            f"{API_PREFIX}/scan",
            "POST",
            "scan",
            web_scan.scan,
            "Read a pack's code (a photo, or the scanned text) and verify its provenance here: "
            "RELEASE, HOLD or REJECT with reasons and the custody timeline. A case's or pallet's "
            "code, or a declaration, checks the whole consignment, every pack (api/consignment.py).",
            "verification",
            SCANNERS,
            request=SCAN_REQUEST,
            uploads=SCAN_UPLOAD,
            response=SCAN_RESULT,
            problems=(422,),
        ),
        Route(
            f"{API_PREFIX}/containers/<sscc>",
            "GET",
            "container",
            queries.container,
            "A container (case, pallet): status, custodian, parent, contents.",
            "verification",
            READERS,
            response=CONTAINER,
            params=(Param("sscc", "path", {"type": "string", "format": "sscc"}, "18-digit SSCC."),),
        ),
        Route(
            f"{API_PREFIX}/alerts",
            "GET",
            "alerts",
            queries.alerts,
            "Alerts with their evidence entries, filtered by code and subject.",
            "queries",
            READERS,
            response=ALERTS,
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
                *FILTER_PARAMS,  # level, product, organisation, declaration, country
            ),
        ),
        Route(
            f"{API_PREFIX}/network",
            "GET",
            "network",
            network.network,
            "Every peer, reachable or not: its feed heads and lag against ours, last contact, "
            "frozen feeds and forks, and whether its ledger digest agrees with ours.",
            "operations",
            NETWORK_VIEWERS,
            response=network.NETWORK,
        ),
        Route(
            f"{API_PREFIX}/whoami",
            "GET",
            "whoami",
            network.whoami,
            "The token's own user and role at this node (the web pages check a token with it).",
            "operations",
            TOKEN_HOLDERS,
            response=network.WHOAMI,
        ),
    ]
    feeds = [
        Route(
            FEEDS_PATH,
            "GET",
            "feeds",
            peer_endpoints.feeds,
            "Every feed held here: size, head id, fork point; and the digest over all heads.",
            "replication",
            REPLICATORS,
            guard=Guard.OPEN,  # peers page through every feed; no verifier may call it
            response=HEADS,
        ),
        Route(
            ENTRIES_RULE,
            "GET",
            "feed_entries",
            peer_endpoints.entries,
            "A page of a feed's entries, from a sequence number on, as signed bytes.",
            "replication",
            REPLICATORS,
            guard=Guard.OPEN,  # peers page through every feed; no verifier may call it
            response=FEED_PAGE,
            params=(
                Param("org", "path", {"type": "string", "pattern": ORG_ID}, "Organisation id."),
                Param("site", "path", {"type": "string", "pattern": ORG_ID}, "Site name."),
                Param(
                    FROM_PARAM,
                    "query",
                    {"type": "integer", "minimum": 0, "maximum": MAX_JSON_INT},
                    "First sequence number (default 0).",
                    default=0,
                ),
                Param(
                    LIMIT_PARAM,
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                    f"Entries per page, at most {PAGE_MAX} (default {PAGE_DEFAULT}).",
                    default=PAGE_DEFAULT,
                ),
            ),
        ),
        Route(
            MEMBERSHIP_PATH,
            "GET",
            "membership",
            peer_endpoints.membership,
            "The pinned genesis id and every signed membership version held.",
            "replication",
            REPLICATORS,
            guard=Guard.OPEN,  # peers page through every feed; no verifier may call it
            response=MEMBERSHIP_VERSIONS,
        ),
        Route(
            HINT_PATH,
            "POST",
            "replication_hint",
            peer_endpoints.hint,
            "A peer appended: pull from it soon.",
            "replication",
            HINTERS,
            request=HINT,
            guard=Guard.OPEN,  # peers page through every feed; no verifier may call it
            response=HINT_ACCEPTED,
            status=202,
        ),
        Route(
            SYNC_PATH,
            "POST",
            "replication_sync",
            peer_endpoints.sync,
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
            response=HEALTH,
        ),
        Route(
            "/metrics",
            "GET",
            "metrics",
            ops.metrics,
            "Prometheus metrics (text format 0.0.4): an auditor or operator token, or none from "
            "the node's own machine (loopback).",
            "operations",
            LEDGER_READERS,
            guard=Guard.OPEN,  # a scraper every few seconds; the volumes are what it is for
            loopback_open=True,
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
            "application/ld+json, or GS1's XML binding as application/xml), validated by medtrace (400 names the JSON path of the first "
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
            LEDGER_READERS,
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
            "EPCIS 2.0 SimpleEventQuery over every entry held here, as an EPCISQueryDocument "
            "(a verifier: about one pack or container, MATCH_epc or MATCH_anyEPC).",
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
            LEDGER_READERS,
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
    return (
        *writes,
        *reads,
        *feeds,
        *checkpoint_routes(),
        *customs_routes(),
        *risk_routes(),
        *vrs_routes(),
        *case_routes(),
        *foreign_auth_routes(),
        *public,
        *epcis_routes,
    )


ROUTES: tuple[Route, ...] = _routes()
