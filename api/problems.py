"""RFC 9457 problem details: every error the API returns, and the handlers that make them.

A problem is ``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``;
medtrace adds ``code`` (a refused rule: the same code the rule raises as an alert for a
replicated entry), ``path`` (where in a JSON body a value is wrong, e.g. ``$.subjects[3]``) or
``parameter`` (which query or path parameter), and ``retry_after`` for 429. Nothing else: no
stack trace, no exception text of an unexpected error, no request data beyond the offending path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from api.context import EXTENSION
from ledger.alerts import Code
from ledger.errors import (
    ChainError,
    FeedFrozen,
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
    "invalid-request": (400, "The request does not match the schema"),
    "invalid-entry": (400, "The entry would be malformed"),
    "unauthenticated": (401, "A valid bearer token is required"),
    "forbidden": (403, "The token's role may not do this"),
    "kind-not-allowed": (403, "This node's feed may not write this kind"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "body-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Expected a JSON body (Content-Type: application/json)"),
    "rule-violation": (409, "The step breaks a rule of the pack lifecycle"),
    "unprocessable": (422, "The step names something this node does not know"),
    "scan-error": (422, "The code could not be read: rescan it"),
    "feed-conflict": (409, "This node's feed cannot take the entry"),
    "rate-limited": (429, "Too many verification queries"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "The service is temporarily unavailable"),
}

#: Rule codes answered 422 (the request names an unknown thing) rather than 409 (state conflict).
UNPROCESSABLE_CODES = frozenset(
    {Code.UNKNOWN_PACK.value, Code.UNKNOWN_CONTAINER.value, Code.MALFORMED.value}
)


@dataclass
class Problem(Exception):
    """Raise anywhere in a view: the handler answers it as problem details."""

    slug: str
    detail: str
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)


def problem_response(
    slug: str,
    detail: str,
    *,
    status: int | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    default_status, title = TYPES[slug]
    body: dict[str, Any] = {
        "type": TYPE_ROOT + slug,
        "title": title,
        "status": status or default_status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
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


def ledger_problem(exc: LedgerError) -> Response:
    """The answer to a refused local write (or a bad identifier in a query)."""
    if isinstance(exc, RuleViolation):
        status = 422 if exc.code in UNPROCESSABLE_CODES else 409
        slug = "unprocessable" if status == 422 else "rule-violation"
        return problem_response(
            slug,
            str(exc),
            status=status,
            extra={"code": exc.code, "evidence": [e for e in exc.evidence if e]},
        )
    if isinstance(exc, KindNotAllowed | GtinOutsidePrefixes):
        code = "foreign_gtin" if isinstance(exc, GtinOutsidePrefixes) else "unauthorised_kind"
        return problem_response("kind-not-allowed", str(exc), extra={"code": code})
    if isinstance(exc, MalformedEntry | IdentifierError):
        return problem_response("invalid-entry", str(exc))
    if isinstance(exc, FeedFrozen | ChainError):
        return problem_response("feed-conflict", str(exc))
    if isinstance(exc, MembershipError):
        return problem_response("kind-not-allowed", str(exc), extra={"code": "not_authorised"})
    return problem_response("unprocessable", str(exc))


def _on_ledger(exc: LedgerError) -> Response:
    return ledger_problem(exc)


def _log(level: int, event: str, **kwargs: Any) -> None:
    ctx = current_app.extensions.get(EXTENSION)
    logger = ctx.log if ctx is not None else logging.getLogger("medtrace.node")
    logger.log(level, event, **kwargs)


def _on_storage(exc: OperationalError) -> Response:
    _log(
        logging.WARNING,
        "storage unavailable",
        extra={"fields": {"error": type(exc.orig or exc).__name__}},
    )
    return problem_response(
        "unavailable",
        "the node's database is busy or unreachable; try again shortly",
        headers={"Retry-After": "1"},
    )


def _on_conflict(exc: IntegrityError) -> Response:
    """Two processes of this node wrote at once and the database kept one (PostgreSQL's unique
    ``(feed, seq)``): nothing of this request was stored, so it is safe to send it again."""
    _log(
        logging.WARNING,
        "write conflict",
        extra={"fields": {"error": type(exc.orig or exc).__name__}},
    )
    return problem_response(
        "unavailable",
        "another write of this node took the same position; nothing was stored, retry",
        headers={"Retry-After": "1"},
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
