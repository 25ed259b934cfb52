"""The OpenAPI 3.1 document, generated from ``api.routes.ROUTES`` (never written by hand)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from api.problems import PROBLEM_JSON, TYPE_ROOT, TYPES
from api.route import Route

_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "enum": sorted(TYPE_ROOT + slug for slug in TYPES),
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {
            "type": "string",
            "description": "The rule refused (rule-violation, unprocessable, kind-not-allowed).",
        },
        "evidence": {"type": "array", "items": {"type": "string"}},
        "path": {"type": "string", "description": "JSON path of the first invalid value."},
        "parameter": {"type": "string", "description": "The invalid path or query parameter."},
        "retry_after": {"type": "integer"},
        "hint": {
            "type": "string",
            "description": "scan-error: what to do at the counter (a scan error is never a "
            "falsification).",
        },
        "scan_error": {
            "type": "string",
            "description": "scan-error: which kind (syntax, check_digit, date, lost_separator, "
            "keyboard_layout, digital_link, empty, image, no_barcode, not_gs1, not_a_pack, "
            "container, several_packs).",
        },
    },
}

_DESCRIPTIONS = {
    400: "Malformed JSON, a body or parameter that does not match the schema, or an entry that "
    "would be malformed.",
    401: "No token, or a token that is unknown here, revoked or expired.",
    403: "The token's role may not do this, this node's feed may not write this kind, a "
    "verifier's EPCIS query does not name exactly one pack or container (query-too-broad), or "
    "a token bound to a foreign consortium came without a current member's signature.",
    404: "Not found.",
    409: "The step breaks a lifecycle rule (`code` names it), or the feed is frozen.",
    413: "The body is larger than the node accepts.",
    415: "The body is not JSON.",
    422: "The step names a pack or container this node does not know (`code`), or a scanned "
    "code cannot be read (scan-error, with a `hint`).",
    429: "Too many queries or writes for this token, or too many about packs this node does "
    "not know (code serial_harvesting); see Retry-After.",
    500: "The node failed; the failure was logged.",
    503: "The database is busy or replication is not available; retry.",
}


def openapi_path(rule: str) -> str:
    """``/packs/<gtin>/<path:serial>`` -> ``/packs/{gtin}/{serial}``."""
    return _RULE_ARG.sub(r"{\1}", rule)


def _clean(schema: Any) -> Any:
    """Drop private keywords (``x-optional``) from a schema; keep the published ``x-`` ones."""
    if isinstance(schema, dict):
        return {k: _clean(v) for k, v in schema.items() if k != "x-optional"}
    if isinstance(schema, list):
        return [_clean(v) for v in schema]
    return schema


def _problem_statuses(route: Route) -> list[int]:
    statuses = {500}
    if route.roles is not None:
        statuses |= {401, 403, 503}
    if route.params:
        statuses.add(400)
    if route.request is not None:
        statuses |= {400, 413, 415}
    if route.guarded:
        statuses.add(429)
    if route.kind is not None:
        statuses |= {400, 409, 422}
    if route.endpoint in ("container", "pack_state") or "<" in route.path:
        # A path parameter the rule cannot match (a line break in a serial, say) is no route.
        statuses.add(404)
    statuses |= set(route.problems)
    return sorted(statuses)


def _security(route: Route) -> list[dict[str, list[str]]]:
    if route.roles is None:
        return []
    # ``{}``: no token is an alternative too (from loopback, which the document cannot say).
    return [{"bearer": []}, {}] if route.loopback_open else [{"bearer": []}]


def _operation(route: Route) -> dict[str, Any]:
    path_names = _RULE_ARG.findall(route.path)
    params = {p.name: p for p in route.params}
    parameters: list[dict[str, Any]] = []
    for name in path_names:
        param = params.get(name)
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _clean(param.schema) if param else {"type": "string"},
                **({"description": param.description} if param else {}),
            }
        )
    for param in route.params:
        if param.where == "query":
            schema = _clean(param.schema)
            if param.default is not None:
                schema = {**schema, "default": param.default}
            parameters.append(
                {
                    "name": param.name,
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": param.description,
                }
            )
    responses: dict[str, Any] = {
        str(route.status): {
            "description": "OK"
            if route.status == 200
            else "Created"
            if route.status == 201
            else "Accepted",
            "content": {route.media_type: {"schema": _clean(route.response or {})}},
        }
    }
    for status in _problem_statuses(route):
        responses[str(status)] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    operation: dict[str, Any] = {
        "operationId": route.endpoint,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
        "security": _security(route),
    }
    if route.roles is not None:
        operation["x-roles"] = sorted(r.value for r in route.roles)
    if route.guarded:
        operation["x-rate-limited"] = True
    if route.loopback_open:
        operation["x-loopback-open"] = True
    if route.kind is not None:
        operation["x-kind"] = route.kind.value
    if route.request is not None:
        content = {"application/json": {"schema": _clean(route.request)}}
        if route.uploads is not None:
            content["multipart/form-data"] = {"schema": _clean(route.uploads)}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def document(routes: Iterable[Route], *, version: str, node: str = "") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "medtrace node API",
            "version": version,
            "description": "One organisation's node of the medtrace ledger: signed writes, "
            "verification queries, replication. Errors are RFC 9457 problem details. "
            "See docs/spec/api.md." + (f" This node: {node}." if node else ""),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `medtrace node token create` (mt_…).",
                }
            },
            "schemas": {"Problem": PROBLEM_SCHEMA},
        },
    }
