"""Replication endpoints: heads, digest and fork evidence, paged entries of any feed held, the
membership, and the push hint a peer sends after it appends (architecture §5).

A node serves every feed it holds, not only its own, so a post can catch up through any
reachable node. Nothing served here is trusted by the receiver: it verifies every entry.
"""

from __future__ import annotations

from flask import Response

from api.call import Call, json_response
from api.context import NodeContext
from api.problems import Problem
from node.replication import witnessing
from node.replication.protocol import FROM_PARAM, LIMIT_PARAM
from node.tokens import TokenRole


def feeds(ctx: NodeContext, call: Call) -> Response:
    heads = ctx.store.ledger_heads()
    return json_response(
        {
            "digest": heads.digest,
            "node": ctx.name,
            "feeds": heads.feeds_json(),
            # The proof behind every frozen feed, for the caller to verify and record itself:
            # a fork found here is then known at every node that pulls from this one.
            "forks": [[a.to_wire(), b.to_wire()] for a, b in ctx.store.forks()],
        }
    )


def entries(ctx: NodeContext, call: Call) -> Response:
    feed = f"{call.text('org')}/{call.text('site')}"
    # An auditor checks signatures and roots; a sidecar is every pack's serial and salt,
    # which only replication (peers) and the node's operators need (issue 14, ADR 0019).
    auditor = call.token is not None and call.token.role is TokenRole.AUDITOR
    found = ctx.store.entries_wire(
        feed, call.number(FROM_PARAM), call.number(LIMIT_PARAM), sidecars=not auditor
    )
    return json_response({"feed": feed, "entries": found})


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


# -- checkpoints of feeds (docs/spec/proofs.md, ADR 0018) ----------------------------------------


def checkpoints(ctx: NodeContext, call: Call) -> Response:
    return json_response(witnessing.served_checkpoints(ctx.store, ctx.membership, ctx.name))


def cosignatures(ctx: NodeContext, call: Call) -> Response:
    notes = (call.body or {}).get("notes", [])
    return json_response(witnessing.take_posted(ctx.store, ctx.membership, notes))


def _feed(call: Call) -> str:
    return f"{call.text('org')}/{call.text('site')}"


def checkpoint(ctx: NodeContext, call: Call) -> Response:
    feed = _feed(call)
    if feed == ctx.feed:
        witnessing.publish_own(ctx.store, ctx.membership)
    held = ctx.store.checkpoint(feed)
    if held is None:
        raise Problem("not-found", f"expected a checkpoint of feed {feed!r} here, found none")
    return Response(held.note, status=200, content_type="text/plain; charset=utf-8")


def _required(call: Call, name: str) -> int:
    value = call.args.get(name)
    if not isinstance(value, int):
        raise Problem(
            "invalid-request",
            f"{name}: expected an integer query parameter, found none",
            extra={"parameter": name},
        )
    return value


def _size(ctx: NodeContext, feed: str, size: int | None, held: int) -> int:
    if size is None:
        # A scanner accepts a checkpoint only under the witness policy (ADR 0024): the newest
        # checkpoint that already has its quorum of cosignatures serves it better than a newer
        # one still waiting for its witnesses; a feed with none gets its newest.
        quorum = ctx.membership.witnesses().quorum
        newest = ctx.store.checkpoint(feed, cosigners=quorum) or ctx.store.checkpoint(feed)
        size = newest.size if newest is not None else held
    if not 0 < size <= held:
        raise Problem(
            "not-found",
            f"expected a tree size from 1 to the {held} entries of {feed} held here, found {size}",
        )
    return size


def proof(ctx: NodeContext, call: Call) -> Response:
    feed = _feed(call)
    seq = _required(call, "seq")
    tree = ctx.store.feed_tree(feed)
    size = _size(ctx, feed, call.args.get("size"), tree.size)
    if seq >= size:
        raise Problem("not-found", f"expected a seq below the tree size {size}, found {seq}")
    found = tree.inclusion(seq, size)
    (entry,) = ctx.store.entries(feed, seq, 1)
    held = ctx.store.checkpoint(feed, size)
    return json_response(
        {
            **found.to_json(),
            "entry": entry.id,
            "checkpoint": held.note.decode() if held is not None else None,
        }
    )


def consistency(ctx: NodeContext, call: Call) -> Response:
    feed = _feed(call)
    tree = ctx.store.feed_tree(feed)
    old = _required(call, "from")
    size = _size(ctx, feed, call.args.get("to"), tree.size)
    if not 0 < old <= size:
        raise Problem("not-found", f"expected 0 < from <= to = {size}, found from = {old}")
    hashes = tree.consistency(old, size)
    return json_response(
        {"feed": feed, "from": old, "to": size, "proof": [h.hex() for h in hashes]}
    )
