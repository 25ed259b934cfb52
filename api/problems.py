"""RFC 9457 problem details: every error the API returns, and the handlers that make them.

A problem is ``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``;
medtrace adds ``code`` (a refused rule: the same code the rule raises as an alert for a
replicated entry), ``path`` (where in a JSON body a value is wrong, e.g. ``$.subjects[3]``) or
``parameter`` (which query or path parameter), and ``retry_after`` for 429. Nothing else: no
stack trace, no exception text of an unexpected error, no request data beyond the offending path,
no Python repr (an enum member that slipped into a message is written as its value).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from api.context import EXTENSION
from ledger.alerts import Code
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

PROBLEM_JSON = "application/problem+json"
TYPE_ROOT = "urn:medtrace:problem:"

#: slug -> (status, title): every problem type the API uses (docs/spec/api.md lists them).
TYPES: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "The request body is not valid JSON"),
    "malformed-xml": (400, "The request body is not a safe, well-formed EPCIS XML document"),
    "invalid-request": (400, "The request does not match the schema"),
    "invalid-entry": (400, "The entry would be malformed"),
    "unauthenticated": (401, "A valid bearer token is required"),
    "forbidden": (403, "The token's role may not do this"),
    "query-too-broad": (403, "A verifier's query must name one pack or container"),
    "kind-not-allowed": (403, "This node's feed may not write this kind"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "body-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Expected a JSON body (Content-Type: application/json)"),
    "rule-violation": (409, "The step breaks a rule of the pack lifecycle"),
    "unprocessable": (422, "The step names something this node does not know"),
    "scan-error": (422, "The code could not be read: rescan it"),
    "feed-conflict": (409, "This node's feed cannot take the entry"),
    "case-not-ready": (409, "The case cannot be proved yet"),
    "case-refused": (422, "The case file does not verify"),
    "not-an-authority": (403, "Only a customs or regulator node exports and imports cases"),
    "untrusted-consortium": (403, "The case is of a consortium this node does not trust"),
    "rate-limited": (429, "Too many verification queries"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "The service is temporarily unavailable"),
}

#: Rule codes that say a step named a pack or container this node does not know.
UNKNOWN_SUBJECT_CODES = frozenset({Code.UNKNOWN_PACK.value, Code.UNKNOWN_CONTAINER.value})
#: Rule codes answered 422 (the request names an unknown thing) rather than 409 (state conflict).
UNPROCESSABLE_CODES = UNKNOWN_SUBJECT_CODES | {Code.MALFORMED.value}


#: ``<Kind.DESTROY: 'destroy'>``, the repr of an enum member, as a message may carry it.
_ENUM_REPR = re.compile(r"<[A-Za-z_]\w*\.[A-Za-z_]\w*: '([^'<>]*)'>")


@dataclass
class Problem(Exception):
    """Raise anywhere in a view: the handler answers it as problem details.

    ``unknown`` (never sent) names the pack or container the request asked about when this
    node does not know it: the serial-harvesting guard counts it (``api/harvest.py``).
    """

    slug: str
    detail: str
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    unknown: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return _problem_body(self.slug, self.detail, status=self.status, extra=self.extra)


def _problem_body(
    slug: str, detail: str, *, status: int | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    default_status, title = TYPES[slug]
    return {
        "type": TYPE_ROOT + slug,
        "title": title,
        "status": status or default_status,
        # The ledger's messages are written by many modules: whatever one of them formatted,
        # a client reads words, never a Python repr.
        "detail": _ENUM_REPR.sub(r"\1", detail),
        **(extra or {}),
    }


def problem_response(
    slug: str,
    detail: str,
    *,
    status: int | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = _problem_body(slug, detail, status=status, extra=extra)
    response = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=body["status"],
        mimetype=PROBLEM_JSON,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_slug(code: int) -> str:
    return {
        400: "invalid-request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
        415: "unsupported-media-type",
        429: "rate-limited",
        503: "unavailable",
    }.get(code, "internal" if code >= 500 else "invalid-request")


def _on_problem(exc: Problem) -> Response:
    return problem_response(
        exc.slug, exc.detail, status=exc.status, extra=exc.extra, headers=exc.headers
    )


def _on_http(exc: HTTPException) -> Response:
    code = exc.code or 500
    slug = _http_slug(code)
    detail = {
        404: "no such resource or endpoint (see /openapi.json)",
        413: f"expected a body of at most {current_app.config.get('MAX_CONTENT_LENGTH')} bytes",
    }.get(code, exc.description or TYPES[slug][1])
    headers = {
        k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")
    }
    return problem_response(slug, detail, status=code, headers=headers)


def refusal(exc: LedgerError) -> Problem:
    """A refused write (or a bad identifier in a query) as a problem: a broken lifecycle rule
    is 409, or 422 when the step names something unknown here; ``code`` names the rule."""
    if isinstance(exc, RuleViolation):
        unprocessable = exc.code in UNPROCESSABLE_CODES
        return Problem(
            "unprocessable" if unprocessable else "rule-violation",
            str(exc),
            status=422 if unprocessable else 409,
            extra={"code": exc.code, "evidence": [e for e in exc.evidence if e]},
            unknown=exc.subject if exc.code in UNKNOWN_SUBJECT_CODES else None,
        )
    if isinstance(exc, KindNotAllowed | GtinOutsidePrefixes):
        code = "foreign_gtin" if isinstance(exc, GtinOutsidePrefixes) else "unauthorised_kind"
        return Problem("kind-not-allowed", str(exc), extra={"code": code})
    if isinstance(exc, MalformedEntry | IdentifierError):
        return Problem("invalid-entry", str(exc))
    if isinstance(exc, ChainError):  # FeedFrozen among them
        return Problem("feed-conflict", str(exc))
    if isinstance(exc, MembershipError):
        return Problem("kind-not-allowed", str(exc), extra={"code": "not_authorised"})
    return Problem("unprocessable", str(exc))


def _on_ledger(exc: LedgerError) -> Response:
    return _on_problem(refusal(exc))


def _log(level: int, event: str, **kwargs: Any) -> None:
    ctx = current_app.extensions.get(EXTENSION)
    logger = ctx.log if ctx is not None else logging.getLogger("medtrace.node")
    logger.log(level, event, **kwargs)


def _retry_soon(event: str, exc: DBAPIError, detail: str) -> Response:
    """A database failure a retry may well not meet: logged by its type only, answered 503."""
    _log(logging.WARNING, event, extra={"fields": {"error": type(exc.orig or exc).__name__}})
    return problem_response("unavailable", detail, headers={"Retry-After": "1"})


def _on_storage(exc: OperationalError) -> Response:
    return _retry_soon(
        "storage unavailable", exc, "the node's database is busy or unreachable; try again shortly"
    )


def _on_conflict(exc: IntegrityError) -> Response:
    """Two processes of this node wrote at once and the database kept one (PostgreSQL's unique
    ``(feed, seq)``): nothing of this request was stored, so it is safe to send it again."""
    return _retry_soon(
        "write conflict",
        exc,
        "another write of this node took the same position; nothing was stored, retry",
    )


def _on_anything(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _on_http(exc)
    _log(logging.ERROR, "unhandled exception", exc_info=(type(exc), exc, exc.__traceback__))
    return problem_response("internal", "the node failed to answer this request; it was logged")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, _on_problem)
    app.register_error_handler(HTTPException, _on_http)
    app.register_error_handler(LedgerError, _on_ledger)
    app.register_error_handler(OperationalError, _on_storage)
    app.register_error_handler(IntegrityError, _on_conflict)
    app.register_error_handler(Exception, _on_anything)
