"""Serial harvesting at the API: throttle a token that keeps asking about packs that do not
exist, and raise one node-local ``serial_harvesting`` alert per burst (ADR 0012).

Every guarded route (``api/routes.py``: every query and every write) passes through here: the
dispatcher (``api/dispatch.py``) asks ``check`` before the view and ``after`` once it answered.
A view says that what it was asked about is unknown here by ``note_unknown`` (a 200 answer:
provenance, scan, an EPCIS query of one EPC) or by raising a problem whose ``unknown`` names it
(a 404 for a pack or container, a write refused with ``unknown_pack`` or ``unknown_container``).
Counting happens in ``api.ratelimit.SharedHarvestGuard``, in the node's database: one count
per token for every worker and server of the node (ADR 0021).
"""

from __future__ import annotations

import logging

from flask import g

from api.context import NodeContext
from api.problems import Problem
from api.ratelimit import Harvest, retry_after_header
from ledger.alerts import Code
from node.local_alerts import LocalAlert
from node.tokens import TokenInfo

_FLAG = "harvest_unknown"


def note_unknown(uri: str) -> None:
    """This request asked about ``uri`` and found no such pack or container here."""
    probed: list[str] = g.setdefault(_FLAG, [])
    probed.append(uri)


def _key(token: TokenInfo) -> str:
    return f"token:{token.id}"


def token_subject(ctx: NodeContext, token: TokenInfo) -> str:
    """Token ids are per node: the subject names the node's feed too."""
    return f"urn:medtrace:token:{ctx.feed}:{token.id}"


def check(ctx: NodeContext, path: str, token: TokenInfo) -> None:
    """Refuse a token that is past the unknown-serial threshold (429, until it falls back)."""
    wait = ctx.harvest.wait(_key(token))
    if wait <= 0:
        return
    ctx.metrics.rate_limited(path)
    seconds = retry_after_header(wait)
    raise Problem(
        "rate-limited",
        f"expected at most {ctx.harvest.max_unknown} requests about unknown packs or containers "
        f"per {ctx.harvest.window_s:g} s for this token; retry in {seconds} s",
        extra={"retry_after": int(seconds), "code": Code.SERIAL_HARVESTING.value},
        headers={"Retry-After": seconds},
    )


def after(ctx: NodeContext, token: TokenInfo, problem: Problem | None) -> None:
    """Count what the request asked about and found unknown; alert on crossing the threshold."""
    probed: list[str] = list(g.pop(_FLAG, []))
    if problem is not None and problem.unknown is not None:
        probed.append(problem.unknown)
    for uri in probed:
        harvest = ctx.harvest.unknown(_key(token), uri)
        if harvest is not None:
            _alert(ctx, token, harvest)


def _alert(ctx: NodeContext, token: TokenInfo, harvest: Harvest) -> None:
    subject = token_subject(ctx, token)
    message = (
        f"token {token.id} (user {token.user}, role {token.role.value}, organisation "
        f"{ctx.config.org}) asked about {harvest.count} packs or containers that do not exist "
        f"within {harvest.window_s:g} s, e.g. {', '.join(harvest.sample[-3:])}: suspected "
        "serial harvesting; the token is throttled"
    )
    alert = LocalAlert(
        Code.SERIAL_HARVESTING,
        subject,
        message,
        {
            "token_id": token.id,
            "user": token.user,
            "role": token.role.value,
            "organisation": ctx.config.org,
            "node": ctx.name,
            "count": harvest.count,
            "threshold": ctx.harvest.max_unknown,
            "window_s": harvest.window_s,
            "sample": list(harvest.sample),
        },
    )
    stored = ctx.local_alerts.raise_once(alert, harvest.window_s)
    ctx.log.event(
        "serial harvesting",
        level=logging.WARNING,
        detail=f"token {token.id} ({token.user}): {harvest.count} unknown in {harvest.window_s:g} s",
        alert=alert.id if stored else None,
    )
