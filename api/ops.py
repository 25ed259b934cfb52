"""Operations endpoints without authentication: health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from flask import Response, current_app

from api.call import Call, json_response
from api.context import NodeContext
from api.metrics import CONTENT_TYPE

OPENAPI_EXTENSION = "medtrace.openapi"


def healthz(ctx: NodeContext, call: Call) -> Response:
    return json_response(
        {
            "status": "ok",
            "node": ctx.name,
            "feed": ctx.feed,
            "digest": ctx.store.digest(),
            "entries": ctx.store.count("entries"),
        }
    )


def metrics(ctx: NodeContext, call: Call) -> Response:
    node = {"node": ctx.name}
    gauges = [
        ("medtrace_info", "The node and the feed it signs.", 1.0, {**node, "feed": ctx.feed}),
        ("medtrace_entries", "Entries stored, all feeds.", ctx.store.count("entries"), node),
        ("medtrace_packs", "Packs known (commissioned).", ctx.store.count("packs"), node),
        ("medtrace_containers", "Containers known.", ctx.store.count("containers"), node),
        ("medtrace_alerts", "Alerts raised.", ctx.store.count("alerts"), node),
        ("medtrace_feeds", "Feeds held.", len(ctx.store.heads()), node),
        ("medtrace_peers", "Peers configured.", len(ctx.config.peers), node),
    ]
    text = ctx.metrics.render((n, h, float(v), labels) for n, h, v, labels in gauges)
    return Response(text, status=200, content_type=CONTENT_TYPE)


def openapi(ctx: NodeContext, call: Call) -> Response:
    return json_response(current_app.extensions[OPENAPI_EXTENSION])
