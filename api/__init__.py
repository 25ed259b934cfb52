"""medtrace api: the node's HTTP API under ``/api/v1`` (Flask), described in docs/spec/api.md.

``register(app, ctx)`` installs everything on an application built by ``medtrace.app.create_app``:

* ``routes``: the one table of routes (auth roles, parameters, body schemas, views), with the
  bodies' JSON schemas in ``schemas``;
* ``dispatch``: the Flask rules the table makes, each authenticating, limiting and validating;
* ``problems``: RFC 9457 problem details for every error;
* ``validation``: strict JSON parsing and validation against the table's schemas;
* ``auth`` and ``ratelimit``: bearer tokens by role, token buckets per token for queries and
  writes; ``harvest``: the serial-harvesting guard; ``body``: reading a body within its limit;
* ``refusals``: a refused step as its caller may see it (no other party named);
* ``actions``, ``queries``, ``peer_endpoints``, ``ops``, ``epcis``, ``web_scan``: the views
  (``epcis_scope``: what a verifier may ask of EPCIS);
* ``web``: the web pages (outside the table and the OpenAPI document);
* ``openapi``: the OpenAPI 3.1 document generated from the table;
* ``metrics``: Prometheus exposition; request hooks below count and log every request.
"""

from __future__ import annotations

import logging
import time
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, g, redirect, request
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as WerkzeugResponse

from api.body import MAX_BODY_BYTES
from api.context import EXTENSION, NodeContext
from api.dispatch import blueprint
from api.openapi import document
from api.ops import OPENAPI_EXTENSION
from api.problems import register_error_handlers
from api.routes import ROUTES

_QUIET = frozenset({"/healthz", "/metrics"})


def _version() -> str:
    try:
        return version("medtrace")
    except PackageNotFoundError:  # pragma: no cover (running from a plain checkout)
        return "0.0.0"


def relative_redirect(routing: Exception | None) -> WerkzeugResponse | None:
    """werkzeug's own redirects ("/api/v1//alerts" to "/api/v1/alerts", a missing slash) as
    relative references: werkzeug writes an absolute URL from the Host header the client sent,
    and a node never writes that header back (issue 13, finding 10)."""
    if not isinstance(routing, RequestRedirect):
        return None
    target = urlsplit(routing.new_url)
    # One leading slash: "//host/x" would be another host again.
    path = "/" + target.path.lstrip("/")
    return redirect(urlunsplit(("", "", path, target.query, "")), code=routing.code)


def register(app: Flask, ctx: NodeContext) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = ctx
    app.extensions[OPENAPI_EXTENSION] = document(ROUTES, version=_version(), node=ctx.name)
    register_error_handlers(app)
    app.register_blueprint(blueprint(ROUTES))

    @app.before_request
    def _start() -> WerkzeugResponse | None:
        g.started = time.perf_counter()
        return relative_redirect(request.routing_exception)

    @app.after_request
    def _finish(response: Response) -> Response:
        # The request and g once each: every attribute read through Flask's proxies costs a
        # context lookup, and this runs for every request.
        req, found = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        started = found.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        url_rule, method, path, status = req.url_rule, req.method, req.path, response.status_code
        rule = url_rule.rule if url_rule is not None else "unmatched"
        ctx.metrics.observe(rule, method, status, seconds)
        ctx.log.event(
            "request",
            level=logging.DEBUG if path in _QUIET else logging.INFO,
            method=method,
            path=path,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            user=found.get("token_user"),
        )
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


__all__ = ["MAX_BODY_BYTES", "ROUTES", "NodeContext", "register"]
