"""EPCIS 2.0 REST bindings under ``/epcis`` (docs/spec/epcis.md, ADR 0009).

* ``POST /epcis/capture``: an EPCISDocument (JSON / JSON-LD) is validated by
  ``ledger.epcis.validate`` (400 naming the path of the first problem, nothing captured), each
  event planned by ``ledger.epcis.mapping`` and signed into this node's feed by
  ``NodeService``: all events or none (``GS1-Capture-Error-Behaviour: rollback``, the default),
  or each on its own (``proceed``). A broken rule answers 403/409/422 naming it; otherwise 202
  with ``Location`` of the capture job, which is complete by the time the 202 is sent.
* ``GET /epcis/capture/{captureID}``: the job (kept in the store's ``meta`` table, so every
  worker of the node sees it).
* ``GET /epcis/events``, ``/epcis/epcs/{epc}/events``, ``/epcis/events/{eventID}``: the
  SimpleEventQuery over every entry this node holds (captured events as captured, native
  entries rendered), as an EPCISQueryDocument, paged with ``perPage`` / ``nextPageToken`` and a
  ``Link: <…>; rel="next"`` header.
* ``GET /epcis/context/medtrace.jsonld``: the JSON-LD context of medtrace's extension terms.
* ``OPTIONS /epcis/capture`` and ``/epcis/events``: the limits and versions, as headers.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from api.actions import notify_peers
from api.call import Call
from api.context import NodeContext, node_context
from api.problems import TYPE_ROOT, TYPES, UNPROCESSABLE_CODES, Problem
from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.hash import events_of
from ledger.epcis.mapping import MappingRefused, Planned, plan_each, render
from ledger.epcis.query import Query, QueryError, Record, query_document
from ledger.epcis.validate import DOCUMENT, QUERY_DOCUMENT, EpcisInvalid, validate_document
from ledger.epcis.vocab import medtrace_context
from ledger.errors import (
    ChainError,
    GtinOutsidePrefixes,
    IdentifierError,
    KindNotAllowed,
    LedgerError,
    MalformedEntry,
    MembershipError,
    RuleViolation,
)
from ledger.identifiers import DL_ROOT
from ledger.kinds import Kind
from ledger.timefmt import now_ts
from node.store.view import DbStateView, Ids

#: Events one capture may carry (advertised as GS1-EPCIS-Capture-Limit).
CAPTURE_LIMIT = 1000
#: Bytes one capture document may have (GS1-EPCIS-Capture-File-Size-Limit); below the node's
#: overall request limit, so an over-limit document gets this module's 413 with the headers.
FILE_SIZE_LIMIT = 4 * 1024 * 1024
BEHAVIOURS = ("rollback", "proceed")
JSON_LD = "application/ld+json"
_JOB_KEY = "epcis-job:"
_INDEX = "medtrace-epcis-index"


def version_headers() -> dict[str, str]:
    return {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}


def capture_headers() -> dict[str, str]:
    return {
        **version_headers(),
        "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
        "GS1-EPCIS-Capture-File-Size-Limit": str(FILE_SIZE_LIMIT),
        "GS1-EPCIS-Capture-Error-Behaviour": ",".join(BEHAVIOURS),
    }


# -- the event index ----------------------------------------------------------------------------


@dataclass
class EventIndex:
    """Every stored entry as an EPCIS query record, in ledger order; read incrementally from
    the store (feeds only grow), one per application."""

    sizes: dict[str, int] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    by_event_id: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, ctx: NodeContext) -> list[Record]:
        with self.lock:
            for feed, head in sorted(ctx.store.heads().items()):
                start = self.sizes.get(feed, 0)
                while start < head.size:
                    batch = ctx.store.entries(feed, start, 1000)
                    if not batch:
                        break
                    for entry in batch:
                        self._add(ctx, entry)
                    start = batch[-1].payload.seq + 1
                self.sizes[feed] = start
            return list(self.records)

    def _add(self, ctx: NodeContext, entry: SignedEntry) -> None:
        try:
            record = Record.of(render(entry, ctx.membership))
        except (LedgerError, ValueError, KeyError, TypeError) as exc:
            # A replicated entry whose EPCIS body cannot be read is still a signed fact; it
            # is only left out of the EPCIS view (the ledger's own checks report it).
            ctx.log.event("epcis: entry not indexed", level=logging.WARNING, error=str(exc)[:200])
            return
        bisect.insort(self.records, record, key=lambda r: r.order)
        for key in {record.event_id, record.hash} - {None}:
            assert key is not None
            self.by_event_id.setdefault(key, []).append(entry.id)

    def entries_of_event(self, event_id: str) -> list[str]:
        return list(self.by_event_id.get(event_id, []))


def event_index(ctx: NodeContext) -> EventIndex:
    index = current_app.extensions.get(_INDEX)
    if not isinstance(index, EventIndex):
        index = current_app.extensions[_INDEX] = EventIndex()
    index.refresh(ctx)
    return index


# -- capture ------------------------------------------------------------------------------------


def _problem_json(
    slug: str, detail: str, status: int | None = None, **extra: Any
) -> dict[str, Any]:
    default_status, title = TYPES[slug]
    return {
        "type": TYPE_ROOT + slug,
        "title": title,
        "status": status or default_status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }


def _event_path(planned: Sequence[Planned], exc: LedgerError) -> str | None:
    """Which event of the document a refusal is about (the lifecycle names subjects)."""
    text = str(exc)
    for item in planned:
        names = list(item.subjects)
        if item.kind is Kind.COMMISSION:
            gtin = item.body.get("gtin", "")
            names = [f"{DL_ROOT}/01/{gtin}/21/" + str(s) for s in item.body.get("serials", [])]
            names.append(f"{DL_ROOT}/01/{gtin}")
            if isinstance(exc, GtinOutsidePrefixes) and repr(gtin) in text:
                return f"$.epcisBody.eventList[{item.index}]"
        if isinstance(exc, KindNotAllowed) and repr(item.kind.value) in text:
            return f"$.epcisBody.eventList[{item.index}]"
        if any(name in text for name in names):
            return f"$.epcisBody.eventList[{item.index}]"
    return None


def _refusal(exc: LedgerError, planned: Sequence[Planned]) -> dict[str, Any]:
    """A refused step as problem details: the rule it broke (``code``) and the event's path."""
    if isinstance(exc, MappingRefused):
        status = 409 if exc.code == "custody_violation" else 422
        slug = "rule-violation" if status == 409 else "unprocessable"
        return _problem_json(slug, str(exc), status, code=exc.code, path=exc.path)
    path = _event_path(planned, exc)
    if isinstance(exc, RuleViolation):
        status = 422 if exc.code in UNPROCESSABLE_CODES else 409
        slug = "unprocessable" if status == 422 else "rule-violation"
        evidence = [e for e in exc.evidence if e]
        return _problem_json(slug, str(exc), status, code=exc.code, evidence=evidence, path=path)
    if isinstance(exc, KindNotAllowed | GtinOutsidePrefixes):
        code = "foreign_gtin" if isinstance(exc, GtinOutsidePrefixes) else "unauthorised_kind"
        return _problem_json("kind-not-allowed", str(exc), code=code, path=path)
    if isinstance(exc, MalformedEntry | IdentifierError):
        return _problem_json("unprocessable", str(exc), code="malformed", path=path)
    if isinstance(exc, ChainError):
        return _problem_json("feed-conflict", str(exc), path=path)
    if isinstance(exc, MembershipError):
        return _problem_json("kind-not-allowed", str(exc), code="not_authorised", path=path)
    return _problem_json("unprocessable", str(exc), path=path)


def _read_document() -> Any:
    if request.mimetype not in ("application/json", JSON_LD):
        raise Problem(
            "unsupported-media-type",
            "expected Content-Type: application/json or application/ld+json (an EPCIS 2.0 "
            f"JSON-LD document), found {request.mimetype or 'none'!r}",
            headers=capture_headers(),
        )
    if request.content_length is not None and request.content_length > FILE_SIZE_LIMIT:
        raise _too_large(
            f"expected at most {FILE_SIZE_LIMIT} bytes, found {request.content_length}"
        )
    data = request.get_data(cache=False)
    if len(data) > FILE_SIZE_LIMIT:
        raise _too_large(f"expected at most {FILE_SIZE_LIMIT} bytes, found {len(data)}")
    if not data.strip():
        raise Problem("malformed-json", "expected an EPCIS document, found an empty body")
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


def capture(ctx: NodeContext, call: Call) -> Response:
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback").strip().lower()
    if behaviour not in BEHAVIOURS:
        raise Problem(
            "invalid-request",
            f"GS1-Capture-Error-Behaviour: expected rollback or proceed, found {behaviour!r}",
            extra={"parameter": "GS1-Capture-Error-Behaviour"},
            headers=capture_headers(),
        )
    document = _read_document()
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
    index = event_index(ctx)
    with ctx.store.reader.connect() as conn:
        planned = plan_each(
            document,
            ctx.membership,
            ctx.service.org,
            DbStateView(conn, Ids(conn)),
            index.entries_of_event,
            events,
        )
    job: dict[str, Any] = {
        "captureID": str(uuid.uuid4()),
        "createdAt": now_ts(),
        "running": False,
        "success": False,
        "captureErrorBehaviour": behaviour,
        "errors": [],
        "eventCount": len(events),
        "entries": [],
        "eventHashes": [p.hash for p in planned if isinstance(p, Planned)],
    }
    ready = [p for p in planned if isinstance(p, Planned)]
    stored: list[SignedEntry] = []
    if behaviour == "rollback":
        refused = next((p for p in planned if isinstance(p, MappingRefused)), None)
        try:
            if refused is not None:
                raise refused
            stored = ctx.service.submit_many([p.step for p in ready]) if ready else []
        except LedgerError as exc:
            problem = _refusal(exc, ready)
            job["errors"] = [problem]
            job["finishedAt"] = now_ts()
            _save_job(ctx, job)
            ctx.log.event("epcis capture refused", level=logging.INFO, error=problem.get("code"))
            headers = {
                **capture_headers(),
                "Location": f"/epcis/capture/{job['captureID']}",
            }
            raise Problem(
                problem["type"].removeprefix(TYPE_ROOT),
                problem["detail"],
                status=problem["status"],
                extra={
                    k: v
                    for k, v in problem.items()
                    if k not in ("type", "title", "status", "detail")
                }
                | {"captureID": job["captureID"]},
                headers=headers,
            ) from None
    else:
        for item in planned:
            if isinstance(item, MappingRefused):
                job["errors"].append(_refusal(item, ready))
                continue
            try:
                stored.extend(ctx.service.submit_many([item.step]))
            except LedgerError as exc:
                job["errors"].append(_refusal(exc, [item]))
    job["entries"] = [e.id for e in stored]
    job["success"] = not job["errors"]
    job["finishedAt"] = now_ts()
    _save_job(ctx, job)
    if stored:
        notify_peers(ctx)
    return _job_response(job, 202)


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
    response = Response(jsontext.dumps(document), status=200, mimetype=JSON_LD)
    for name, value in version_headers().items():
        response.headers[name] = value
    if token is not None:
        query = [(k, v) for k, values in params.items() if k != "nextPageToken" for v in values]
        link = f"{request.base_url}?{urlencode([*query, ('nextPageToken', token)])}"
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


def _run(ctx: NodeContext, params: Mapping[str, list[str]]) -> Response:
    try:
        query = Query.parse(params)
    except QueryError as exc:
        raise Problem(
            "invalid-request",
            str(exc),
            extra={"parameter": exc.parameter},
            headers=version_headers(),
        ) from None
    records, token = query.page(event_index(ctx).records)
    return _answer(records, token, params)


def events(ctx: NodeContext, call: Call) -> Response:
    return _run(ctx, _query_params())


def epc_events(ctx: NodeContext, call: Call) -> Response:
    epc = call.text("epc")
    own = _query_params()
    if "MATCH_anyEPC" in own:
        raise Problem(
            "invalid-request",
            "MATCH_anyEPC: expected the EPC in the path only",
            extra={"parameter": "MATCH_anyEPC"},
        )
    return _run(ctx, _query_params({"MATCH_anyEPC": [epc]}))


def event_by_id(ctx: NodeContext, call: Call) -> Response:
    event_id = call.text("event_id")
    found = [r for r in event_index(ctx).records if event_id in (r.event_id, r.hash)]
    if not found:
        raise Problem(
            "not-found", f"no event {event_id!r} is known at this node", headers=version_headers()
        )
    return _answer(found, None, {})


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
