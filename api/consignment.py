"""``POST /api/v1/scan`` for a whole consignment: a case's or pallet's code (``(00)SSCC``, an
element string or a Digital Link ``/00/…``) or ``{"declaration": REF}`` (a declaration lodged
at this node). Every pack under the containers, nested ones included, is judged in one request
on this node's own store (``scanner.cases``, reads in bulk: ``Store.consignment``); the answer
counts the verdicts and reasons and lists the offending packs (bounded).

Who learns which serials (issue 14): the offending packs are named to an ``operator`` token of
a customs or regulator node, or of the node of the containers' custodian or destination
organisation (who may list the containers' contents anyway, ``api.queries.may_list_contents``);
every other token, every ``verifier`` among them, gets the counts only (``"listed": false``):
a verifier never learns a serial it did not scan. A declaration is named by operators of a
customs or regulator node only (who may read it, ``GET /api/v1/declarations``).

Cost: a consignment scan is one query of the token's bucket like any scan, and a verifier's
takes one more query per 1,000 packs checked, so that a scanner cannot walk sequential SSCCs and
have the node judge whole pallets for the price of one query each; an unknown SSCC counts
toward the serial-harvesting guard like an unknown pack.

Progress: with ``Accept: application/x-ndjson`` the answer streams one JSON object per line,
``{"progress": {"done": n, "total": N}}`` after each chunk of about 5,000 packs, then the
answer itself (``"kind": "consignment"``). Everything that can be refused is refused before the
first line (a problem, as usual); nothing after it fails but the connection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from flask import Response, request, stream_with_context

from api.call import Call, json_response
from api.context import NodeContext
from api.failed_checks import record_failed_check
from api.harvest import note_unknown
from api.problems import Problem
from api.queries import today
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Role
from node.tokens import TokenInfo, TokenRole
from scanner.cases import Consignment, ConsignmentCheck, ConsignmentReport
from scanner.reading import read_container
from scanner.verdict import Decision

NDJSON = "application/x-ndjson"
#: The scan body names a scanned code or a declaration (``api.scan_schemas.SCAN_REQUEST``).
TEXT_OR_DECLARATION = {
    "oneOf": [{"required": ["text"]}, {"required": ["declaration"]}],
    "x-oneOf-message": "expected 'text' (a scanned code) or 'declaration' (a reference), not both",
}
DECLARATION_FIELD = {
    "type": "string",
    "pattern": "^[A-Z0-9][A-Z0-9/-]{0,34}$",
    "description": "A declaration lodged at this node: every pack of its packages is checked "
    "against the ledger and the declaration (operators of customs and regulator nodes).",
}
#: A verifier's consignment scan takes one more query from its bucket per this many packs.
PACKS_PER_QUERY = 1_000
#: Organisations whose operators are named the offending packs of any consignment.
_INSPECTORS = frozenset({Role.CUSTOMS, Role.REGULATOR})


def consignment_scan(ctx: NodeContext, call: Call) -> Response | None:
    """The answer for a consignment, or ``None`` when the request is about one pack (or is a
    photo: a photo of a pallet label is read as a pack's and answered as a scan error)."""
    body = call.body
    if not isinstance(body, dict):
        return None
    if "declaration" in body:
        consignment = _declared(ctx, call.token, str(body["declaration"]))
    else:
        sscc = read_container(str(body.get("text", "")))
        if sscc is None:
            return None
        context = str(body.get("context", "counter"))
        consignment = Consignment((sscc,), in_transit_ok=context == "border")
    check = ConsignmentCheck(
        ctx.store,
        consignment,
        membership=ctx.membership,
        org=ctx.config.org,
        today=today(),
    )
    for sscc in check.unknown:
        note_unknown(container_uri(sscc))  # serial harvesting (ADR 0012)
    _charge(ctx, call.token, check.total)
    listed = may_name_packs(ctx, call.token, check)
    if NDJSON in request.headers.get("Accept", ""):
        stream = _stream(ctx, call.token, check, listed)
        return Response(stream_with_context(stream), mimetype=NDJSON)
    return json_response(_answer(ctx, call.token, check.result(), listed))


def _declared(ctx: NodeContext, token: TokenInfo | None, reference: str) -> Consignment:
    if not _inspector(ctx, token):
        raise Problem(
            "forbidden",
            "expected an operator token of a customs or regulator node to check a declaration",
        )
    record = ctx.store.declaration(reference, ctx.config.org)
    if record is None:
        raise Problem(
            "not-found",
            f"no declaration {reference} is held at this node",
            extra={"path": "$.declaration"},
        )
    return Consignment.of_declaration(reference, record)


def _inspector(ctx: NodeContext, token: TokenInfo | None) -> bool:
    if token is None or token.role is not TokenRole.OPERATOR:
        return False
    member = ctx.membership.organisations.get(ctx.config.org)
    return member is not None and member.role in _INSPECTORS


def may_name_packs(ctx: NodeContext, token: TokenInfo | None, check: ConsignmentCheck) -> bool:
    """Whether the answer may name the offending packs (see the module's docstring)."""
    if _inspector(ctx, token):
        return True
    if token is None or token.role is not TokenRole.OPERATOR:
        return False
    org = ctx.config.org
    return bool(check.holders) and all(
        custodian.split("/", 1)[0] == org or destination == org
        for custodian, destination in check.holders
    )


def _charge(ctx: NodeContext, token: TokenInfo | None, packs: int) -> None:
    if token is None or token.role is not TokenRole.VERIFIER:
        return
    for _ in range(math.ceil(packs / PACKS_PER_QUERY) - 1 if packs else 0):
        wait = ctx.limiter.take(f"token:{token.id}")
        if wait > 0:
            seconds = str(max(1, math.ceil(wait)))
            raise Problem(
                "rate-limited",
                f"expected at most {ctx.limiter.per_minute} queries per minute for this token: a "
                f"consignment of {packs} packs costs {math.ceil(packs / PACKS_PER_QUERY)}; "
                f"retry in {seconds} s",
                extra={"retry_after": int(seconds)},
                headers={"Retry-After": seconds},
            )


def _answer(
    ctx: NodeContext, token: TokenInfo | None, report: ConsignmentReport, listed: bool
) -> dict[str, Any]:
    answer = report.to_json(listed=listed)
    answer["node"] = ctx.name
    answer["context"] = "border" if report.consignment.in_transit_ok else "counter"
    if report.decision is not Decision.RELEASE:
        _failed(ctx, token, report)
    return answer


def _failed(ctx: NodeContext, token: TokenInfo | None, report: ConsignmentReport) -> None:
    """A consignment that is not RELEASE is one failed verification (ADR 0022): one report
    naming the containers and every offending pack, whatever the answer shows the caller."""
    c = report.consignment
    subjects = [container_uri(s) for s in c.containers if s not in report.unknown]
    subjects += report.tally.offending_uris
    if not subjects:
        subjects = [pack_uri(g, s) for g, s in c.packs]
    record_failed_check(
        ctx,
        token,
        packs=subjects,
        verdict=report.decision.value,
        reasons=report.failed_codes(),
        context="border" if c.in_transit_ok else "counter",
        declaration=c.reference,
    )


def _stream(
    ctx: NodeContext, token: TokenInfo | None, check: ConsignmentCheck, listed: bool
) -> Iterator[str]:
    total = check.total
    yield json.dumps({"progress": {"done": 0, "total": total}}) + "\n"
    for done in check.run():
        yield json.dumps({"progress": {"done": done, "total": max(total, done)}}) + "\n"
    assert check.report is not None
    yield json.dumps(_answer(ctx, token, check.report, listed), ensure_ascii=False) + "\n"


__all__ = ["NDJSON", "consignment_scan", "may_name_packs"]
