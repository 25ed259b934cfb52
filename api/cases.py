"""Cases between authorities (issue 17, ADR 0029, docs/spec/cases.md).

``GET /api/v1/cases/{alert_id}`` and ``POST /api/v1/cases/export`` build a signed case file at
a customs or regulator node: an alert (or a declaration) with its evidence entries, their
inclusion proofs under witnessed checkpoints, the membership, the declaration's opened seal
and photos, signed by the node's feed key. ``POST /api/v1/cases`` imports another
consortium's case: verified offline against the foreign root the membership pins
(``ledger.cases.verify_case``), kept once by its id (201 the first time, 200
``alreadyHeld`` after), listed by ``GET /api/v1/alerts`` as ``foreign_case``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from flask import Response

from api.alert_filters import AlertFilter
from api.auth import LEDGER_READERS, WRITERS
from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem
from api.route import Param, Route
from api.validation import Schema
from ledger.cases import MAX_PHOTOS, PHOTO_TYPES, CaseCode, CaseRefused, encode_case, photo_json
from ledger.cases import verify_case as verify
from ledger.kinds import Role
from ledger.lifecycle.declarations import REFERENCE
from ledger.timefmt import now_ts
from node.case_export import CaseNotFound, CaseNotReady, build_case
from node.case_import import alert_json, foreign_case
from node.replication.protocol import API_PREFIX

#: The organisations whose nodes export and import cases.
AUTHORITY_ROLES = frozenset({Role.CUSTOMS, Role.REGULATOR})

PHOTO: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "mediaType", "data"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
        "mediaType": {"type": "string", "enum": list(PHOTO_TYPES)},
        "data": {"type": "string", "maxLength": 1_400_000, "description": "base64, ≤ 1 MiB"},
    },
}
EXPORT_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "alert": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "declaration": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9/-]{0,34}$"},
        "photos": {"type": "array", "maxItems": MAX_PHOTOS, "items": PHOTO},
    },
}
CASE_FILE: Schema = {
    "type": "object",
    "description": "A case file, format medtrace-case/1 (docs/spec/cases.md).",
}
IMPORTED: Schema = {
    "type": "object",
    "properties": {
        "case": {"type": "string"},
        "alreadyHeld": {"type": "boolean"},
        "alert": {"type": "object"},
    },
}


def _authority(ctx: NodeContext) -> None:
    org = ctx.membership.organisations.get(ctx.config.org)
    if org is None or org.role not in AUTHORITY_ROLES:
        raise Problem(
            "not-an-authority",
            "expected a customs or regulator node: only authorities export and import cases",
        )


def _export(
    ctx: NodeContext,
    *,
    alert: str | None = None,
    declaration: str | None = None,
    photos: list[dict[str, Any]] | None = None,
) -> Response:
    _authority(ctx)
    try:
        content = build_case(
            ctx.store,
            ctx.membership,
            ctx.config.genesis_id,
            ctx.config.org,
            alert=alert,
            declaration=declaration,
            photos=photos or [],
            now=datetime.now(UTC),
        )
    except CaseNotFound as exc:
        raise Problem("not-found", str(exc)) from None
    except CaseNotReady as exc:
        raise Problem("case-not-ready", str(exc), headers={"Retry-After": "2"}) from None
    doc = ctx.service.sign_case(content)
    try:
        verify(doc, ctx.config.genesis_id)  # what the receiver will check, checked here first
    except CaseRefused as exc:
        raise Problem("case-not-ready", f"the case would not verify: {exc}") from None
    return Response(encode_case(doc), 200, mimetype="application/json")


def export_alert(ctx: NodeContext, call: Call) -> Response:
    alert = call.text("alert_id")
    if len(alert) != 64 or any(c not in "0123456789abcdef" for c in alert):
        raise Problem(
            "invalid-request",
            f"alert_id: expected an alert id of 64 lower-case hex, found {alert[:70]!r}",
            extra={"parameter": "alert_id"},
        )
    return _export(ctx, alert=alert)


def export(ctx: NodeContext, call: Call) -> Response:
    body: dict[str, Any] = call.body
    if ("alert" in body) == ("declaration" in body):
        raise Problem(
            "invalid-request", "expected one of 'alert' and 'declaration', found both or neither"
        )
    if "declaration" in body and not REFERENCE.match(body["declaration"]):
        raise Problem("invalid-request", "$.declaration: expected a declaration reference")
    photos = []
    for n, raw in enumerate(body.get("photos", [])):
        try:
            data = base64.b64decode(raw["data"], validate=True)
        except ValueError:  # binascii.Error, or a string that is not ASCII
            raise Problem(
                "invalid-request",
                f"$.photos[{n}].data: expected the photo's bytes in base64",
                extra={"path": f"$.photos[{n}].data"},
            ) from None
        try:
            photos.append(photo_json(raw["name"], raw["mediaType"], data))
        except CaseRefused as exc:
            raise Problem(
                "invalid-request",
                f"$.photos[{n}]: {exc}",
                extra={"path": f"$.photos[{n}]"},
            ) from None
    return _export(ctx, alert=body.get("alert"), declaration=body.get("declaration"), photos=photos)


def import_case(ctx: NodeContext, call: Call) -> Response:
    _authority(ctx)
    doc = call.body
    genesis = doc.get("genesis") if isinstance(doc, dict) else None
    root = ctx.membership.foreign_root_for_genesis(genesis) if isinstance(genesis, str) else None
    if root is None:
        code = CaseCode.UNTRUSTED_CONSORTIUM if isinstance(genesis, str) else CaseCode.MALFORMED
        raise Problem(
            "untrusted-consortium" if code is CaseCode.UNTRUSTED_CONSORTIUM else "case-refused",
            f"{code.value}: the case is of the consortium {str(genesis)[:16]}…, which this "
            "node's membership pins no foreign root for"
            if code is CaseCode.UNTRUSTED_CONSORTIUM
            else f"{code.value}: expected a case file naming its consortium's genesis",
            extra={"code": code.value},
        )
    try:
        case = verify(doc, root.genesis)
    except CaseRefused as exc:
        raise Problem("case-refused", str(exc), extra={"code": exc.code.value}) from None
    table = ctx.store.foreign_case_table()
    added = table.add(foreign_case(case, root, encode_case(doc), now_ts()))
    held = table.get(case.id)
    assert held is not None
    ctx.log.event("case imported" if added else "case already held", detail=case.id[:16])
    return json_response(
        {"case": case.id, "alreadyHeld": not added, "alert": alert_json(held, with_entries=False)},
        201 if added else 200,
    )


def foreign_alerts(
    ctx: NodeContext, subject: str | None, code: str | None, wanted: AlertFilter
) -> list[dict[str, Any]]:
    """The imported cases ``GET /api/v1/alerts`` lists (operator and auditor tokens)."""
    if code is not None and code != "foreign_case":
        return []
    if wanted.organisation is not None:
        return []
    found = []
    for case in ctx.store.foreign_case_table().find(subject):
        shown = alert_json(case)
        if wanted.level is not None and shown["level"] != wanted.level:
            continue
        if wanted.gtin is not None and f"/01/{wanted.gtin}/" not in f"{case.subject}/":
            continue
        if wanted.country is not None and case.details.get("country") != wanted.country:
            continue
        if wanted.declaration is not None and wanted.declaration not in {
            d.get("reference") for d in case.details.get("declarations", [])
        } | {case.details.get("subject", {}).get("declaration")}:
            continue
        found.append(shown)
    return found


def case_routes() -> list[Route]:
    """Export, verify-and-import cases (docs/spec/cases.md)."""
    return [
        Route(
            f"{API_PREFIX}/cases/<alert_id>",
            "GET",
            "case_export_alert",
            export_alert,
            "A signed case file about an alert this node holds (a customs or regulator node).",
            "cases",
            LEDGER_READERS,
            response=CASE_FILE,
            params=(Param("alert_id", "path", {"type": "string"}, "The alert's id (64 hex)."),),
            problems=(404, 409),
        ),
        Route(
            f"{API_PREFIX}/cases/export",
            "POST",
            "case_export",
            export,
            "A signed case file about an alert or a declaration, with photos.",
            "cases",
            LEDGER_READERS,
            request=EXPORT_REQUEST,
            response=CASE_FILE,
            problems=(404, 409),
        ),
        Route(
            f"{API_PREFIX}/cases",
            "POST",
            "case_import",
            import_case,
            "Import another consortium's case: verified against the foreign root the "
            "membership pins, kept once (201; 200 alreadyHeld), listed as a foreign_case alert.",
            "cases",
            WRITERS,
            request=CASE_FILE,
            response=IMPORTED,
            status=201,
            problems=(403, 422),
        ),
    ]
