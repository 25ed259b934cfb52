"""``GET /api/v1/network``: this node's view of its peers, for the ``/network`` page and
``medtrace node status`` (docs/spec/api.md, "The network").

For every configured peer, reachable or not, the view asks the peer's heads now (the
replication API, ``GET /api/v1/feeds``, signed with this node's feed key like any pull), and
compares them with ours: per feed the sizes, how many entries the peer is behind us and ahead
of us, the frozen feeds (a feed frozen at a fork), and whether the peer's ledger digest equals
ours. The node answers from whichever worker process gets the request, and the replicator's
loop runs in one of them only, so the view does not depend on it: the last time this node
reached each peer is kept in the store's meta (``network.last_contact.<peer>``), written when a
look or the replicator (in the process that runs it) reached the peer.

``newest_cosigned_checkpoint_age_s`` is the age of the newest cosignature on any feed's newest
checkpoint this node holds (ADR 0018), ``checkpoints`` the newest checkpoint of every feed.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from flask import Response, g
from sqlalchemy.exc import OperationalError

from api.call import Call, json_response
from api.context import NodeContext
from api.schemas import FEED_HEAD
from api.validation import Schema
from node.config import PeerConfig
from node.replication.http_peer import HttpPeer, PeerError
from node.store import FeedHead

#: Seconds to connect to a peer and for each read, and for its whole answer: the page waits
#: for the slowest peer, so a dead one must not hold it up for long.
PROBE_TIMEOUT_S = 2.0
PROBE_DEADLINE_S = 4.0
#: At most this many peers are asked at once.
MAX_PARALLEL = 8
CONTACT_META = "network.last_contact."

_TIME = {"type": ["string", "null"], "format": "date-time"}
PEER_FEED: Schema = {
    "type": "object",
    "properties": {
        "feed": {"type": "string"},
        "ours": {"type": "integer", "description": "Entries of the feed held here."},
        "theirs": {"type": "integer", "description": "Entries of the feed the peer holds."},
        "behind": {"type": "integer", "description": "Entries the peer lacks (ours - theirs)."},
        "ahead": {"type": "integer", "description": "Entries we lack (theirs - ours)."},
        "same_head": {"type": ["boolean", "null"], "description": "Equal sizes, equal heads."},
        "frozen_at": {"type": ["integer", "null"], "description": "Frozen there at the peer."},
    },
}
PEER: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "url": {"type": "string"},
        "reachable": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "last_contact": _TIME,
        "digest": {"type": ["string", "null"]},
        "digest_agrees": {"type": ["boolean", "null"]},
        "behind": {"type": ["integer", "null"]},
        "ahead": {"type": ["integer", "null"]},
        "frozen_feeds": {"type": "array", "items": {"type": "string"}},
        "forks": {"type": ["integer", "null"]},
        "feeds": {"type": "array", "items": PEER_FEED},
    },
}
NETWORK: Schema = {
    "type": "object",
    "properties": {
        "node": {"type": "string"},
        "feed": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "digest": {"type": "string"},
        "entries": {"type": "integer"},
        "feeds": {
            "type": "array",
            "items": {"type": "object", "properties": {"feed": {"type": "string"}, **FEED_HEAD}},
        },
        "frozen_feeds": {"type": "array", "items": {"type": "string"}},
        "forks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "feed": {"type": "string"},
                    "seq": {"type": "integer"},
                    "entries": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "newest_cosigned_checkpoint_age_s": {
            "type": ["number", "null"],
            "description": "Seconds since the newest cosignature on any feed's newest "
            "checkpoint held here (ADR 0018); null: no cosigned checkpoint yet.",
        },
        "checkpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "feed": {"type": "string"},
                    "size": {"type": "integer"},
                    "cosigners": {"type": "integer"},
                    "age_s": {"type": ["integer", "null"]},
                },
            },
        },
        "agreement": {
            "type": "object",
            "properties": {
                "peers": {"type": "integer"},
                "reachable": {"type": "integer"},
                "agreeing": {"type": "integer"},
                "all_agree": {"type": "boolean"},
            },
        },
        "peers": {"type": "array", "items": PEER},
    },
}
WHOAMI: Schema = {
    "type": "object",
    "properties": {
        "user": {"type": "string"},
        "role": {"type": "string", "enum": ["operator", "verifier", "peer", "auditor"]},
        "node": {"type": "string"},
    },
}


def iso(moment: float) -> str:
    """A ``time.time()`` as ISO 8601 UTC to the millisecond, ``Z`` for UTC."""
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _probe(config: PeerConfig) -> tuple[dict[str, FeedHead] | None, str | None, str | None, int]:
    """The peer's heads, digest and fork count now; ``None`` and the error if it fails."""
    peer = HttpPeer(
        config.name,
        config.url,
        config.token,
        timeout=PROBE_TIMEOUT_S,
        deadline=PROBE_DEADLINE_S,
    )
    try:
        heads = peer.heads()
    except PeerError as exc:
        return None, None, str(exc)[:300], 0
    finally:
        peer.close()
    return heads, peer.digest, None, len(peer.forks)


def _moment(text: str | None) -> float | None:
    """An ISO 8601 time as ``time.time()``; ``None`` for none or one that does not parse."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _replicator_contacts(ctx: NodeContext) -> dict[str, float]:
    """When the replicator in this process last pulled from each peer (the process that runs
    the loop knows; the others know nothing)."""
    host = ctx.replication
    replicator = getattr(host, "replicator", None)
    status = getattr(replicator, "status", None)
    if not getattr(host, "owner", False) or not callable(status):
        return {}
    found: dict[str, float] = {}
    for name, peer in (status().get("peers") or {}).items():
        success = peer.get("last_success")
        moment = _moment(success) if isinstance(success, str) else None
        if moment is not None:
            found[name] = moment
    return found


def _last_contact(
    ctx: NodeContext, name: str, now: float | None, pulled: float | None
) -> str | None:
    """The last time this node reached ``name``: now, the replicator's last pull, or the one
    kept in the meta; kept in the meta when newer."""
    key = CONTACT_META + name
    stored_at = _moment(ctx.store.meta(key))
    newest = max((t for t in (now, pulled, stored_at) if t is not None), default=None)
    if newest is None:
        return None
    if stored_at is None or newest - stored_at >= 1.0:
        # Best effort: a database busy with a long write costs the next look its memory, not
        # this answer.
        with contextlib.suppress(OperationalError):
            ctx.store.set_meta(key, iso(newest))
    return iso(newest)


def _compare(ours: dict[str, FeedHead], theirs: dict[str, FeedHead]) -> list[dict[str, Any]]:
    rows = []
    for feed in sorted(set(ours) | set(theirs)):
        mine, their = ours.get(feed), theirs.get(feed)
        a, b = (mine.size if mine else 0), (their.size if their else 0)
        same = (mine.head == their.head) if (mine and their and a == b) else None
        rows.append(
            {
                "feed": feed,
                "ours": a,
                "theirs": b,
                "behind": max(0, a - b),
                "ahead": max(0, b - a),
                "same_head": same,
                "frozen_at": their.frozen_at if their else None,
            }
        )
    return rows


def _peer_view(
    ctx: NodeContext,
    config: PeerConfig,
    probed: tuple[dict[str, FeedHead] | None, str | None, str | None, int],
    ours: dict[str, FeedHead],
    digest: str,
    at: float,
    pulled: float | None,
) -> dict[str, Any]:
    heads, their_digest, error, forks = probed
    view: dict[str, Any] = {
        "name": config.name,
        "url": config.url,
        "reachable": heads is not None,
        "error": error,
        "last_contact": _last_contact(ctx, config.name, at if heads is not None else None, pulled),
        "digest": their_digest,
        "digest_agrees": None if heads is None else their_digest == digest,
        "behind": None,
        "ahead": None,
        "frozen_feeds": [],
        "forks": None,
        "feeds": [],
    }
    if heads is not None:
        rows = _compare(ours, heads)
        view |= {
            "behind": sum(r["behind"] for r in rows),
            "ahead": sum(r["ahead"] for r in rows),
            "frozen_feeds": sorted(f for f, h in heads.items() if h.frozen_at is not None),
            "forks": forks,
            "feeds": rows,
        }
    return view


def network_view(ctx: NodeContext) -> dict[str, Any]:
    """The whole answer of ``GET /api/v1/network``."""
    ledger = ctx.store.ledger_heads()
    peers = list(ctx.config.peers)
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(peers)))) as pool:
        probed = list(pool.map(_probe, peers))
    at = time.time()
    pulled = _replicator_contacts(ctx)
    views = [
        _peer_view(ctx, c, p, ledger.feeds, ledger.digest, at, pulled.get(c.name))
        for c, p in zip(peers, probed, strict=True)
    ]
    reachable = [v for v in views if v["reachable"]]
    agreeing = [v for v in reachable if v["digest_agrees"]]
    forks = [
        {"feed": a.payload.feed, "seq": a.payload.seq, "entries": sorted([a.id, b.id])}
        for a, b in ctx.store.forks()
    ]
    return {
        "node": ctx.name,
        "feed": ctx.feed,
        "at": iso(at),
        "digest": ledger.digest,
        "entries": sum(h.size for h in ledger.feeds.values()),
        "feeds": [
            {"feed": h.feed, "size": h.size, "head": h.head, "frozen_at": h.frozen_at}
            for _, h in sorted(ledger.feeds.items())
        ],
        "frozen_feeds": sorted(f for f, h in ledger.feeds.items() if h.frozen_at is not None),
        "forks": forks,
        **_checkpoints(ctx, at),
        "agreement": {
            "peers": len(views),
            "reachable": len(reachable),
            "agreeing": len(agreeing),
            "all_agree": len(agreeing) == len(views),
        },
        "peers": views,
    }


def _checkpoints(ctx: NodeContext, at: float) -> dict[str, Any]:
    """The newest checkpoint held of every feed (ADR 0018) and the age of the newest
    cosignature among them: how fresh a history witnesses have vouched for."""
    held = ctx.store.newest_checkpoints()
    stamps = [c.newest_cosignature for c in held if c.cosigners and c.newest_cosignature]
    return {
        "newest_cosigned_checkpoint_age_s": max(0, int(at - max(stamps))) if stamps else None,
        "checkpoints": [
            {
                "feed": c.feed,
                "size": c.size,
                "cosigners": c.cosigners,
                "age_s": max(0, int(at - c.newest_cosignature)) if c.newest_cosignature else None,
            }
            for c in sorted(held, key=lambda c: c.feed)
        ],
    }


def network(ctx: NodeContext, call: Call) -> Response:
    del call
    return json_response(network_view(ctx))


def whoami(ctx: NodeContext, call: Call) -> Response:
    """The token's own user and role (the pages check a token before they keep it)."""
    del call  # g.token_user and g.token_role: set by api.auth.require for this request
    return json_response({"user": g.token_user, "role": g.token_role, "node": ctx.name})
