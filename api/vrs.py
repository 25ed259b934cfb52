"""GS1 Lightweight Verification Messaging at a node: ``GET /vrs/v1/gtin/{gtin}/lot/{lot}/ser/
{serial}?exp=YYMMDD…`` and ``GET /vrs/v1/checkConnectivity`` (docs/spec/verification-messaging.md).

A partner that speaks the standard (a DSCSA verification router, another consortium's node)
asks whether a product identifier is one the consortium commissioned, and gets the standard's
answer: ``verified``, the standard's failure reason and additional information, the responder's
GLN (this node's organisation, from the membership), the request's ``corrUUID``. The node judges
the pack exactly as ``POST /api/v1/scan`` judges it for a verifier: its per-pack view (never a
list naming other packs, ADR 0019), ``scanner.verdict.decide`` over it, ``hold_withheld``; the
verdict is then mapped by ``api.vrs_mapping``. The routes sit in the one table (``vrs_routes``,
spliced into ``api/routes.py``), so the dispatcher's guard applies: a verifier's or a peer's
token, the query bucket, and the serial-harvesting guard, which counts an unknown serial here
as it does on every other route (ADR 0012, ADR 0016).
"""

from __future__ import annotations

from datetime import UTC, datetime

from biip import ParseError
from flask import Response

from api.auth import PEER, VERIFIER
from api.call import Call, json_response
from api.context import NodeContext
from api.failed_checks import record_failed_check
from api.harvest import note_unknown
from api.problems import Problem
from api.queries import pack_view, today
from api.route import Param, Route
from api.vrs_mapping import (
    CONNECTIVITY_RESPONSE,
    CONTEXT_SALEABLE_RETURN,
    CONTEXTS,
    GLN_PATTERN,
    LINK_TYPE,
    UUID_PATTERN,
    VERIFICATION_RESPONSE,
    answer_for,
)
from ledger.errors import IdentifierError
from ledger.identifiers import check_gln, gtin14, gtin_in_prefixes, pack_uri
from scanner.reading.element_values import iso_date
from scanner.verdict import Scanned, decide
from scanner.verifying import hold_withheld

#: Where the standard's requests are mounted: ``<base>`` of the standard is ``{node}/vrs/v1``.
VRS_PREFIX = "/vrs/v1"
#: Who may ask: a verifier's device, or another party's service holding a peer token.
VRS_ASKERS = frozenset({VERIFIER, PEER})
#: The standard's answers are about one moment: no cache in between may keep them.
_NO_STORE = {"Cache-Control": "no-store"}

_EXP = Param("exp", "query", {"type": "string", "pattern": r"^[0-9]{6}$"}, "Expiry YYMMDD.")
_CONTEXT = Param(
    "context",
    "query",
    {"type": "string", "enum": list(CONTEXTS)},
    f"Why the requestor asks (default {CONTEXT_SALEABLE_RETURN}).",
)
_REQ_GLN = Param(
    "reqGLN", "query", {"type": "string", "pattern": GLN_PATTERN}, "The requestor's GLN."
)
_GTIN_FORMAT = {"type": "string", "format": "gtin"}
_CSET82 = {"type": "string", "format": "gs1-cset82"}

VERIFY_PARAMS = (
    Param("gtin", "path", _GTIN_FORMAT, "GTIN-14 (GTIN-8/12/13 accepted)."),
    Param("lot", "path", _CSET82, "The lot (batch) number, percent-encoded."),
    Param("serial", "path", _CSET82, "The serial number, percent-encoded."),
    _EXP,
    Param(
        "linkType",
        "query",
        {"type": "string", "enum": [LINK_TYPE]},
        f"{LINK_TYPE} (optional; a resolver forwards it).",
    ),
    _CONTEXT,
    _REQ_GLN,
    Param("corrUUID", "query", {"type": "string", "pattern": UUID_PATTERN}, "Echoed back."),
)
CONNECTIVITY_PARAMS = (
    Param("gtin", "query", _GTIN_FORMAT, "A GTIN the requestor means to verify (optional)."),
    _REQ_GLN,
    _CONTEXT,
)


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _responder_gln(ctx: NodeContext) -> str:
    return ctx.membership.organisations[ctx.config.org].gln


def _answered_here(ctx: NodeContext, gtin: str) -> None:
    """404 for a GTIN no member of the consortium commissions (the standard's "not found": a
    router sent the request to the wrong service); which prefixes members hold is public in the
    membership, so this says nothing about any pack."""
    prefixes = [p for org in ctx.membership.organisations.values() for p in org.company_prefixes]
    if not gtin_in_prefixes(gtin, tuple(prefixes)):
        raise Problem(
            "not-found",
            f"expected a GTIN under a company prefix of this consortium's members, found {gtin}",
            extra={"parameter": "gtin"},
        )


def _request_gln(call: Call) -> None:
    raw = call.opt_text("reqGLN")
    if raw is None:
        return
    try:
        check_gln(raw)
    except IdentifierError as exc:
        raise Problem("invalid-request", str(exc)[:300], extra={"parameter": "reqGLN"}) from None


def _expiry(call: Call) -> str:
    raw = call.opt_text("exp")
    if raw is None:
        raise Problem(
            "invalid-request",
            "exp: expected the pack's expiry date YYMMDD, found none",
            extra={"parameter": "exp"},
        )
    try:
        return iso_date(raw)
    except ParseError:  # a month or day that does not exist
        raise Problem(
            "invalid-request",
            f"exp: expected a date YYMMDD, found {raw!r}",
            extra={"parameter": "exp"},
        ) from None


def verify(ctx: NodeContext, call: Call) -> Response:
    gtin = gtin14(call.text("gtin"))  # validated by the route's format; GTIN-14 from here on
    lot, serial = call.text("lot"), call.text("serial")
    expiry = _expiry(call)
    _request_gln(call)
    _answered_here(ctx, gtin)
    uri = pack_uri(gtin, serial)
    view = pack_view(ctx, uri)  # the pack's own view, whoever asks (ADR 0019)
    verdict = decide(
        Scanned(gtin, serial, lot, expiry),
        view.entries,
        ctx.membership,
        today=today(),
        # A returned pack is verified wherever it is: custody at a counter is not the question.
        in_transit_ok=True,
    )
    verdict = hold_withheld(verdict, view.withheld)
    codes = [r.code for r in verdict.reasons]
    if verdict.state is None and "unknown_pack" in codes:
        note_unknown(uri)  # serial harvesting (ADR 0012)
    # a failed verification raises an alert at every node, whoever asked (ADR 0022); a
    # returned pack is checked where goods are handled: a warehouse
    record_failed_check(ctx, call.token, packs=[uri], verdict=verdict.decision.value, reasons=codes, context="warehouse", lot=lot, expiry=expiry)  # fmt: skip
    body = {
        "verificationTimestamp": _timestamp(),
        "responderGLN": _responder_gln(ctx),
        "data": answer_for(verdict.decision.value, codes).data(),
    }
    corr = call.opt_text("corrUUID")
    if corr is not None:
        body["corrUUID"] = corr
    response = json_response(body)
    response.headers.update(_NO_STORE)
    return response


def check_connectivity(ctx: NodeContext, call: Call) -> Response:
    _request_gln(call)
    gtin = call.opt_text("gtin")
    if gtin is not None:
        _answered_here(ctx, gtin14(gtin))
    response = json_response({"responderGLN": _responder_gln(ctx)})
    response.headers.update(_NO_STORE)
    return response


def vrs_routes() -> list[Route]:
    """The standard's two requests, a part of the one table in ``api/routes.py``."""
    return [
        Route(
            f"{VRS_PREFIX}/gtin/<gtin>/lot/<path:lot>/ser/<path:serial>",
            "GET",
            "vrs_verify",
            verify,
            "GS1 Lightweight Verification Messaging: is this product identifier (GTIN, lot, "
            "serial, expiry) one the consortium commissioned, and may it be distributed?",
            "verification-messaging",
            VRS_ASKERS,
            response=VERIFICATION_RESPONSE,
            params=VERIFY_PARAMS,
            description="docs/spec/verification-messaging.md. Unknown serials count towards the "
            "serial-harvesting guard.",
        ),
        Route(
            f"{VRS_PREFIX}/checkConnectivity",
            "GET",
            "vrs_check_connectivity",
            check_connectivity,
            "GS1 Lightweight Verification Messaging: the connectivity check (the token is "
            "valid here; the responder's GLN; 404 for a GTIN no member commissions).",
            "verification-messaging",
            VRS_ASKERS,
            response=CONNECTIVITY_RESPONSE,
            params=CONNECTIVITY_PARAMS,
            problems=(404,),
        ),
    ]
