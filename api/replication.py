"""Replication endpoints: heads and digest, paged entries of any feed held, the membership,
and the push hint a peer sends after it appends (DESIGN §5).

A node serves every feed it holds, not only its own, so a post can catch up through any
reachable node. Nothing served here is trusted by the receiver: it verifies every entry.
"""

from __future__ import annotations

from flask import Response

from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem


def feeds(ctx: NodeContext, call: Call) -> Response:
    heads = ctx.store.heads()
    return json_response(
        {
            "digest": ctx.store.digest(),
            "node": ctx.name,
            "feeds": {
                name: {"size": h.size, "head": h.head, "frozen_at": h.frozen_at}
                for name, h in sorted(heads.items())
            },
        }
    )


def entries(ctx: NodeContext, call: Call) -> Response:
    feed = f"{call.text('org')}/{call.text('site')}"
    found = ctx.store.entries(feed, call.number("from"), call.number("limit"))
    return json_response({"feed": feed, "entries": [e.to_wire() for e in found]})


def membership(ctx: NodeContext, call: Call) -> Response:
    return json_response(
        {
            "genesis": ctx.config.genesis_id,
            "versions": [v.to_wire() for v in ctx.store.memberships()],
        }
    )


def hint(ctx: NodeContext, call: Call) -> Response:
    peer = (call.body or {}).get("peer")
    known = {p.name for p in ctx.config.peers}
    accepted = ctx.replication is not None
    if ctx.replication is not None:
        ctx.replication.hint(peer if peer in known else None)
    return json_response({"accepted": accepted}, 202)


def sync(ctx: NodeContext, call: Call) -> Response:
    if ctx.replication is None:
        if ctx.config.peers:
            raise Problem(
                "unavailable",
                "replication is configured but not available in this node process",
            )
        return json_response(
            {
                "added": 0,
                "duplicates": 0,
                "alerts": [],
                "rejected": 0,
                "forks": 0,
                "digest": ctx.store.digest(),
            }
        )
    report = ctx.replication.run_once()
    return json_response(
        {
            "added": report.added,
            "duplicates": report.duplicates,
            "alerts": [a.code.value for a in report.alerts],
            "rejected": len(report.rejected),
            "forks": len(report.forks),
            "digest": ctx.store.digest(),
        }
    )
