"""EPCIS 2.0 REST bindings under ``/epcis`` (docs/spec/epcis.md, ADR 0009).

* ``POST /epcis/capture``: an EPCISDocument (JSON / JSON-LD, or XML: read safely into JSON-LD by
  ``ledger.epcis.xml_read``) is validated by
  ``ledger.epcis.validate`` (400 naming the path of the first problem, nothing captured), each
  event planned by ``ledger.epcis.mapping`` and signed into this node's feed by
  ``NodeService``: all events or none (``GS1-Capture-Error-Behaviour: rollback``, the default),
  or each on its own (``proceed``). An event already held (same ``eventID`` or CBV 2.0 hash) is
  not stored again: the job lists it in ``alreadyHeld``. A broken rule answers 403/409/422
  naming it; otherwise 202 with ``Location`` of the capture job, which is complete by the time
  the 202 is sent.
* ``GET /epcis/capture/{captureID}``: the job (kept in the store's ``meta`` table, so every
  worker of the node sees it).
* ``GET /epcis/events``, ``/epcis/epcs/{epc}/events``, ``/epcis/events/{eventID}``: the
  SimpleEventQuery over every entry this node holds (captured events as captured, native
  entries rendered), as an EPCISQueryDocument, paged with ``perPage`` / ``nextPageToken`` and a
  ``Link: <…>; rel="next"`` header (a relative reference: the ``Host`` a client sent is never
  written back); in the XML binding when the client asks ``Accept: application/xml``. A verifier asks about one pack or container only (``api/epcis_scope.py``).
* ``GET /epcis/context/medtrace.jsonld``: the JSON-LD context of medtrace's extension terms.
* ``OPTIONS /epcis/capture`` and ``/epcis/events``: the limits and versions, as headers.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, request

from api.actions import notify_peers
from api.body import read_body
from api.call import Call
from api.context import NodeContext, node_context
from api.epcis_index import event_index
from api.epcis_scope import check_scope, may_ask_anything, named_epc, named_instances
from api.harvest import note_unknown
from api.problems import Problem
from api.refusals import refused
from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.capture.plan import Held, Planned, plan_each
from ledger.epcis.capture.reader import MappingRefused
from ledger.epcis.hash import events_of
from ledger.epcis.query import Query, QueryError, Record, query_document
from ledger.epcis.render import render
from ledger.epcis.validate.checker import EpcisInvalid
from ledger.epcis.validate.document import DOCUMENT, QUERY_DOCUMENT, validate_document
from ledger.epcis.vocab import medtrace_context
from ledger.epcis.xml_read import XmlRefused, read_xml
from ledger.epcis.xml_write import write_xml
from ledger.errors import (
    GtinOutsidePrefixes,
    IdentifierError,
    KindNotAllowed,
    LedgerError,
    MalformedEntry,
)
from ledger.kinds import Kind
from ledger.timefmt import now_ts
from node.tokens import TokenRole
from scanner.disclosure import disclose, redact_event

#: Events one capture may carry (advertised as GS1-EPCIS-Capture-Limit).
CAPTURE_LIMIT = 1000
#: Bytes one capture document may have (GS1-EPCIS-Capture-File-Size-Limit); below the node's
#: overall request limit, so an over-limit document gets this module's 413 with the headers.
FILE_SIZE_LIMIT = 4 * 1024 * 1024
BEHAVIOURS = ("rollback", "proceed")
JSON_LD = "application/ld+json"
#: The XML binding's media types (capture and ``Accept`` on queries).
XML_TYPES = ("application/xml", "text/xml")
_JOB_KEY = "epcis-job:"


def version_headers() -> dict[str, str]:
    return {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}


def capture_headers() -> dict[str, str]:
    return {
        **version_headers(),
        "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
        "GS1-EPCIS-Capture-File-Size-Limit": str(FILE_SIZE_LIMIT),
        "GS1-EPCIS-Capture-Error-Behaviour": ",".join(BEHAVIOURS),
    }


# -- capture ------------------------------------------------------------------------------------


def _event_path(planned: Sequence[Planned], exc: LedgerError) -> str | None:
    """Which event of the document a refusal is about: the first naming the error's subject
    (a pack, container, lot or product), the GTIN it refused, or the kind it refused."""
    for item in planned:
        if isinstance(exc, GtinOutsidePrefixes):
            about = item.kind is Kind.COMMISSION and item.body.get("gtin") == exc.gtin
        elif isinstance(exc, KindNotAllowed):
            about = item.kind is exc.kind
        else:
            about = exc.subject is not None and exc.subject in item.named
        if about:
            return f"$.epcisBody.eventList[{item.index}]"
    return None


def _refusal(ctx: NodeContext, exc: LedgerError, planned: Sequence[Planned]) -> Problem:
    """A refused step as a problem: the rule it broke (``code``) and the event's ``path``."""
    if isinstance(exc, MappingRefused):
        custody = exc.code == "custody_violation"
        return Problem(
            "rule-violation" if custody else "unprocessable",
            str(exc),
            status=409 if custody else 422,
            extra={"code": exc.code, "path": exc.path},
        )
    if isinstance(exc, MalformedEntry | IdentifierError):
        # The document passed validation, so this is an event medtrace cannot process (422),
        # not a malformed request body (400, as a malformed entry is on /api/v1).
        problem = Problem("unprocessable", str(exc), extra={"code": "malformed"})
    else:
        problem = refused(ctx, exc)
    path = _event_path(planned, exc)
    if path is not None:
        problem.extra["path"] = path
    return problem


def _read_document() -> Any:
    if request.mimetype not in ("application/json", JSON_LD, *XML_TYPES):
        raise Problem(
            "unsupported-media-type",
            "expected Content-Type: application/json or application/ld+json (an EPCIS 2.0 "
            "JSON-LD document) or application/xml (the XML binding), found "
            f"{request.mimetype or 'none'!r}",
            headers=capture_headers(),
        )
    data = read_body(FILE_SIZE_LIMIT, capture_headers())
    if not data.strip():
        raise Problem("malformed-json", "expected an EPCIS document, found an empty body")
    if request.mimetype in XML_TYPES:
        try:
            # Parsed safely (no entities, no DTD, nothing fetched) and turned into the JSON-LD
            # document the rest of the capture path takes (ledger/epcis/xml_read.py).
            return jsontext.loads(jsontext.dumps(read_xml(data, FILE_SIZE_LIMIT)))
        except (XmlRefused, jsontext.JsonTextError) as exc:
            raise Problem("malformed-xml", str(exc)[:1000], headers=capture_headers()) from None
    try:
        return jsontext.loads(data)
    except jsontext.JsonTextError as exc:
        raise Problem("malformed-json", str(exc), headers=capture_headers()) from None


def _too_large(detail: str) -> Problem:
    return Problem("body-too-large", detail, headers=capture_headers())


def _job_response(job: Mapping[str, Any], status: int) -> Response:
    response = Response(
        json.dumps(job, separators=(",", ":")), status=status, mimetype="application/json"
    )
    for name, value in capture_headers().items():
        response.headers[name] = value
    response.headers["Location"] = f"/epcis/capture/{job['captureID']}"
    response.headers["GS1-Capture-Error-Behaviour"] = str(job["captureErrorBehaviour"])
    return response


def _behaviour() -> str:
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback").strip().lower()
    if behaviour not in BEHAVIOURS:
        raise Problem(
            "invalid-request",
            f"GS1-Capture-Error-Behaviour: expected rollback or proceed, found {behaviour!r}",
            extra={"parameter": "GS1-Capture-Error-Behaviour"},
            headers=capture_headers(),
        )
    return behaviour


def _events(document: Any) -> list[Mapping[str, Any]]:
    """The document's events, once it is valid EPCIS and within the capture limit."""
    try:
        # A query document is captured too: its events, e.g. another repository's answer.
        validate_document(document, allowed=(DOCUMENT, QUERY_DOCUMENT))
    except EpcisInvalid as exc:
        raise Problem(
            "invalid-request", str(exc)[:1000], extra={"path": exc.path}, headers=capture_headers()
        ) from None
    events = events_of(document)
    if len(events) > CAPTURE_LIMIT:
        raise _too_large(
            f"expected at most {CAPTURE_LIMIT} events in one capture (GS1-EPCIS-Capture-Limit), "
            f"found {len(events)}"
        )
    return events


def _store_all(
    ctx: NodeContext, planned: Sequence[Planned | Held | MappingRefused]
) -> list[SignedEntry]:
    """``rollback``: every event or none (one transaction); the first refusal is raised."""
    refused = next((p for p in planned if isinstance(p, MappingRefused)), None)
    if refused is not None:
        raise refused
    steps = [p.step for p in planned if isinstance(p, Planned)]
    return ctx.service.submit_many(steps) if steps else []


def _store_each(
    ctx: NodeContext, planned: Sequence[Planned | Held | MappingRefused]
) -> tuple[list[SignedEntry], list[dict[str, Any]]]:
    """``proceed``: each event on its own; a refused one is an error, the others are stored."""
    stored: list[SignedEntry] = []
    errors: list[dict[str, Any]] = []
    for item in planned:
        if isinstance(item, Held):
            continue
        try:
            if isinstance(item, MappingRefused):
                raise item
            stored.extend(ctx.service.submit_many([item.step]))
        except LedgerError as exc:
            problem = _refusal(ctx, exc, [] if isinstance(item, MappingRefused) else [item])
            if problem.unknown is not None:
                note_unknown(problem.unknown)  # serial harvesting (ADR 0012), one per event
            errors.append(problem.body())
    return stored, errors


def _refused(ctx: NodeContext, job: dict[str, Any], problem: Problem) -> Problem:
    """A ``rollback`` capture refused: the job is kept with its one error, and the answer is
    the problem, naming the job."""
    job["errors"] = [problem.body()]
    job["finishedAt"] = now_ts()
    _save_job(ctx, job)
    ctx.log.event("epcis capture refused", level=logging.INFO, error=problem.extra.get("code"))
    problem.extra["captureID"] = job["captureID"]
    problem.headers.update(capture_headers())
    problem.headers["Location"] = f"/epcis/capture/{job['captureID']}"
    return problem


def capture(ctx: NodeContext, call: Call) -> Response:
    behaviour = _behaviour()
    document = _read_document()
    events = _events(document)
    index = event_index(ctx)
    with ctx.store.state_view() as view:
        planned = plan_each(
            document,
            ctx.membership,
            ctx.service.org,
            view,
            index.entries_of_event,
            events,
            index.entries_holding,
        )
    ready = [p for p in planned if isinstance(p, Planned)]
    held = [p for p in planned if isinstance(p, Held)]
    job: dict[str, Any] = {
        "captureID": str(uuid.uuid4()),
        "createdAt": now_ts(),
        "running": False,
        "success": False,
        "captureErrorBehaviour": behaviour,
        "errors": [],
        "eventCount": len(events),
        "entries": [],
        "eventHashes": [p.hash for p in planned if isinstance(p, Planned | Held)],
        "alreadyHeld": [_held_member(h) for h in held],
    }
    if behaviour == "rollback":
        try:
            stored = _store_all(ctx, planned)
        except LedgerError as exc:
            raise _refused(ctx, job, _refusal(ctx, exc, ready)) from None
    else:
        stored, job["errors"] = _store_each(ctx, planned)
    job["entries"] = [e.id for e in stored]
    job["success"] = not job["errors"]
    job["finishedAt"] = now_ts()
    _save_job(ctx, job)
    if stored:
        notify_peers(ctx)
    return _job_response(job, 202)


def _held_member(held: Held) -> dict[str, Any]:
    """An event of the document the ledger already holds: where it is in the document, its
    ``eventID`` (if it has one), its hash, and the entries holding it."""
    member: dict[str, Any] = {"path": f"$.epcisBody.eventList[{held.index}]", "hash": held.hash}
    if held.event_id is not None:
        member["eventID"] = held.event_id
    member["entries"] = held.entries
    return member


def _save_job(ctx: NodeContext, job: Mapping[str, Any]) -> None:
    ctx.store.set_meta(_JOB_KEY + str(job["captureID"]), json.dumps(job, separators=(",", ":")))


def capture_job(ctx: NodeContext, call: Call) -> Response:
    capture_id = call.text("capture_id")
    text = ctx.store.meta(_JOB_KEY + capture_id) if len(capture_id) <= 40 else None
    if text is None:
        raise Problem("not-found", f"no capture job {capture_id!r} is known at this node")
    return _job_response(json.loads(text), 200)


# -- queries ------------------------------------------------------------------------------------


def _query_params(extra: Mapping[str, list[str]] | None = None) -> dict[str, list[str]]:
    params = {name: request.args.getlist(name) for name in request.args}
    for name, values in (extra or {}).items():
        params[name] = [*params.get(name, []), *values]
    return params


def _answer(
    records: Sequence[Record], token: str | None, params: Mapping[str, list[str]]
) -> Response:
    document = query_document(records, now_ts())
    if _wants_xml():
        response = Response(write_xml(document), status=200, mimetype="application/xml")
        response.headers["Vary"] = "Accept"
    else:
        response = Response(jsontext.dumps(document), status=200, mimetype=JSON_LD)
    for name, value in version_headers().items():
        response.headers[name] = value
    if token is not None:
        query = [(k, v) for k, values in params.items() if k != "nextPageToken" for v in values]
        # Relative: an absolute URL would be built from the Host header the client sent.
        path = quote(request.root_path + request.path, safe="/:;=@!$&'()*+,~")
        link = f"{path}?{urlencode([*query, ('nextPageToken', token)])}"
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


def _wants_xml() -> bool:
    """The client prefers the XML binding (``Accept: application/xml``) to JSON-LD; without an
    ``Accept`` or with ``*/*`` the answer is JSON-LD."""
    offered = [JSON_LD, "application/json", *XML_TYPES]
    return request.accept_mimetypes.best_match(offered, default=JSON_LD) in XML_TYPES


def _run(
    ctx: NodeContext,
    call: Call,
    params: Mapping[str, list[str]],
    shown: Mapping[str, list[str]],
    *,
    epc_in_path: bool = False,
) -> Response:
    """The query ``params`` asks (``shown``: the parameters the client sent, for the Link)."""
    try:
        query = Query.parse(params)
    except QueryError as exc:
        raise Problem(
            "invalid-request",
            str(exc),
            extra={"parameter": exc.parameter},
            headers=version_headers(),
        ) from None
    check_scope(call.token, params, epc_in_path=epc_in_path)
    epc = named_epc(params)
    if not may_ask_anything(call.token):
        # A verifier asks about one EPC (check_scope): answered from the store's subject index,
        # at the cost of that EPC's few entries, never from an index of the whole ledger.
        assert epc is not None
        candidates = _records_naming(ctx, epc)
        known = any(epc in record.any_epcs for record in candidates)
    else:
        index = event_index(ctx)
        candidates = index.records
        known = epc is None or index.names(epc)
    records, token = query.page(candidates)
    if epc is not None and not known:
        note_unknown(epc)  # serial harvesting (ADR 0012), as a 404 on /api/v1/packs
    return _answer(_as_seen_by(call, records, named_instances(params)), token, shown)


def _as_seen_by(call: Call, records: Sequence[Record], asked: set[str]) -> Sequence[Record]:
    """``records`` as ``call``'s token may see them: an auditor audits across events (the
    filters ran on whole events) but learns no serial it did not name, so each event's EPC
    lists are cut to ``asked`` (issue 14); operators see whole lists."""
    if call.token is None or call.token.role is not TokenRole.AUDITOR:
        return records
    return [
        Record.of(replace(r.source, event=redact_event(r.source.event, asked))) for r in records
    ]


def _records_naming(ctx: NodeContext, epc: str) -> list[Record]:
    """The query records of the entries naming ``epc``, in ledger order, as a verifier may see
    them: each entry with the leaf of ``epc`` alone disclosed (never its sidecar), and each
    event's EPC lists cut to ``epc`` (a captured event is kept as captured: its lists are
    redacted, and the redacted event no longer hashes to its eventID; docs/spec/epcis.md)."""
    records = []
    for entry in ctx.store.entries_naming(epc):
        try:
            source = render(disclose(entry, {epc}), ctx.membership)
            shown = replace(source, event=redact_event(source.event, epc))
            records.append(Record.of(shown))
        except (LedgerError, ValueError, KeyError, TypeError):
            continue  # unreadable as EPCIS: left out of the EPCIS view, as the index does
    return sorted(records, key=lambda r: r.order)


def events(ctx: NodeContext, call: Call) -> Response:
    params = _query_params()
    return _run(ctx, call, params, params)


def epc_events(ctx: NodeContext, call: Call) -> Response:
    epc = call.text("epc")
    own = _query_params()
    if "MATCH_anyEPC" in own:
        raise Problem(
            "invalid-request",
            "MATCH_anyEPC: expected the EPC in the path only",
            extra={"parameter": "MATCH_anyEPC"},
        )
    return _run(ctx, call, _query_params({"MATCH_anyEPC": [epc]}), own, epc_in_path=True)


def event_by_id(ctx: NodeContext, call: Call) -> Response:
    event_id = call.text("event_id")
    found = [r for r in event_index(ctx).records if event_id in (r.event_id, r.hash)]
    if not found:
        raise Problem(
            "not-found", f"no event {event_id!r} is known at this node", headers=version_headers()
        )
    return _answer(_as_seen_by(call, found, set()), None, {})


def context_document(ctx: NodeContext, call: Call) -> Response:
    response = Response(json.dumps(medtrace_context(), indent=2), status=200, mimetype=JSON_LD)
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# -- OPTIONS (outside the route table: not an API operation, only the advertised limits) -------


def _options(allow: str) -> Response:
    response = Response(status=204)
    response.headers["Allow"] = allow
    for name, value in capture_headers().items():
        response.headers[name] = value
    return response


def blueprint() -> Blueprint:
    bp = Blueprint("epcis", __name__)

    @bp.route("/epcis/capture", methods=["OPTIONS"], provide_automatic_options=False)
    def capture_options() -> Response:
        node_context()  # the node must be up to answer
        return _options("OPTIONS, POST")

    @bp.route("/epcis/events", methods=["OPTIONS"], provide_automatic_options=False)
    def events_options() -> Response:
        node_context()
        return _options("OPTIONS, GET")

    return bp


__all__ = [
    "CAPTURE_LIMIT",
    "FILE_SIZE_LIMIT",
    "blueprint",
    "capture",
    "capture_job",
    "context_document",
    "epc_events",
    "event_by_id",
    "events",
]
