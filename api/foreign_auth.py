"""A token bound to a foreign consortium counts only when one of that consortium's current
members signed the request (ADR 0028, addendum; docs/spec/cross-border.md, "Signed requests
between consortia").

A node of consortium A issues the node of consortium B that asks it about A's packs a verifier
token **bound** to B (``medtrace node token create --role verifier --consortium GENESIS``). A
request made with such a token, to any authenticated route, must carry an RFC 9421 signature
(tag ``medtrace-foreign``) by the current key of a feed listed in B's membership, covering the
request line, the token and ``Medtrace-Consortium`` naming B's genesis; otherwise it is answered
403 ``forbidden`` (problem details saying what was expected and what was found) before the
route's view runs. So a stolen bound token is useless without the key of one of B's nodes, a
member of another consortium cannot use it, and a key B revoked or rotated out stops counting
once this node holds the version that says so.

B must be a foreign root of this node's membership (``medtrace keys trust-foreign``), and B's
membership is the chain this node follows from B's pinned genesis, the same
``DATA/foreign/<genesis>.json`` it keeps when it asks B about B's packs (``HeldChains``). The
node asks B's service for B's versions (``GET /api/v1/consortium/membership``, at the ``url`` of
its ``node foreign`` setting for B's genesis, else the root's ``endpoint``, with that setting's
token) when it holds none, when what it holds was last asked for more than ``FOLLOW_S`` ago,
and when a request's key is not one it holds as current (at most every ``REASK_S``); every
version is verified from the pinned genesis, each under the threshold of the one before, before
it counts. Unbound tokens are not affected.

The route serving those versions (``consortium_membership``, any reader token) is exempt from
the check: it serves signed public documents only, and it is what the check itself asks; two
consortia that bind each other's tokens would otherwise each wait for the other's chain.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from flask import Flask, Response, request

from api.auth import READERS
from api.call import Call, json_response
from api.context import NodeContext
from api.cross_border import asking
from api.peer_auth import signed_request
from api.problems import Problem
from api.route import Route
from api.schemas import MEMBERSHIP_VERSIONS
from ledger.membership import ForeignRoot, Membership
from node.replication.protocol import AUTHORIZATION, BEARER
from node.replication.signed_requests import (
    SIGNATURE_HEADERS,
    KeyNotHeld,
    SignatureRefused,
    check_signature,
)
from scanner.cross_border import (
    CONSORTIUM_HEADER,
    FOREIGN_COVERED,
    FOREIGN_TAG,
    MEMBERSHIP_CHAIN_PATH,
    ask_membership,
    configured,
)
from scanner.sources.online import NodeUnreachable

#: How long a foreign membership chain is relied on before a bound request makes the node ask
#: for newer versions: a key the other consortium revoked stops counting within this time.
FOLLOW_S = 60.0
#: At most this often per consortium, a key not held as current makes the node ask again.
REASK_S = 2.0
ENDPOINT = "consortium_membership"


def consortium_membership(ctx: NodeContext, call: Call) -> Response:
    """This consortium's genesis id and every signed membership version held."""
    return json_response(
        {
            "genesis": ctx.config.genesis_id,
            "versions": [v.to_wire() for v in ctx.store.memberships()],
        }
    )


def foreign_auth_routes() -> tuple[Route, ...]:
    return (
        Route(
            MEMBERSHIP_CHAIN_PATH,
            "GET",
            ENDPOINT,
            consortium_membership,
            "The pinned genesis id and every signed membership version held: what another "
            "consortium's node follows to check requests signed by this consortium's members.",
            "verification",
            READERS,
            response=MEMBERSHIP_VERSIONS,
        ),
    )


class ForeignMembers:
    """The memberships of the consortia this node's bound tokens name, as one server process
    follows them (the chains themselves are shared by the node's processes: ``HeldChains``)."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self._asked: dict[str, float] = {}  # genesis -> when this process last asked (monotonic)
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def current(self, root: ForeignRoot, *, key_not_held: bool = False) -> Membership | None:
        """The newest version held of ``root``'s membership, after asking its service when due."""
        genesis = root.genesis
        chains = asking(self.ctx).chains
        started = time.monotonic()
        last = self._asked.get(genesis)
        # A consortium that cannot be asked is asked again at most every REASK_S, whatever
        # requests arrive meanwhile: a bound token never makes this node a request amplifier.
        due = (
            last is None
            or started - last >= FOLLOW_S
            or ((key_not_held or not chains.versions(genesis)) and started - last >= REASK_S)
        )
        if due:
            with self._lock:
                lock = self._locks.setdefault(genesis, threading.Lock())
            with lock:  # one request asks; the others wait for its answer
                last = self._asked.get(genesis)
                if last is None or last < started:
                    self._ask(root)
                    self._asked[genesis] = time.monotonic()
        held = chains.versions(genesis)
        if not held:
            return None
        return max(held, key=lambda v: v.membership.version).membership

    def _ask(self, root: ForeignRoot) -> None:
        ctx = self.ctx
        ledger = configured(root, ctx.config.foreign_for(root.genesis), ctx.data)
        if ledger is None:
            return  # no setting, token or address: only what answers brought is held
        try:
            versions = ask_membership(
                ledger.url, ledger.token, asking(ctx).session(ledger), root.genesis
            )
        except NodeUnreachable as exc:
            ctx.log.event(
                "foreign membership not asked", level=logging.WARNING, detail=str(exc)[:300]
            )
            return
        asking(ctx).chains.follow(root.genesis, versions)

    def check(self, genesis: str) -> str:
        """The feed of consortium ``genesis`` whose current key signed this request;
        ``SignatureRefused`` saying what was expected and what was found otherwise."""
        membership = self.ctx.membership
        root = membership.foreign_root_for_genesis(genesis)
        if root is None:
            raise SignatureRefused(
                f"expected the consortium the token is bound to ({genesis[:16]}…) to be a "
                f"foreign root of this consortium's membership v{membership.version}, found it "
                "is not (no longer trusted)"
            )
        whose = f"consortium {root.name} ({root.country}, genesis {genesis[:16]}…)"
        if not all(name in request.headers for name in SIGNATURE_HEADERS):
            raise SignatureRefused(
                f"expected an RFC 9421 signature (tag {FOREIGN_TAG!r}) by the current key of a "
                f"feed of {whose}, the consortium the token is bound to, found an unsigned request"
            )
        claimed = request.headers.get(CONSORTIUM_HEADER, "").strip()
        if claimed != genesis:
            found = (
                f"one of consortium {claimed[:64]!r} (a token of another consortium)"
                if claimed
                else f"no {CONSORTIUM_HEADER} header"
            )
            raise SignatureRefused(
                f"expected a request signed for {whose}, the consortium the token is bound to, "
                f"found {found}"
            )
        held = self.current(root)
        if held is None:
            raise SignatureRefused(
                f"expected a membership of {whose} to check the signature against, found none "
                "held here and none could be asked for (medtrace node foreign add --genesis "
                f"{genesis[:16]}… --url …)"
            )
        try:
            return self._verify(held, whose)
        except KeyNotHeld:
            newer = self.current(root, key_not_held=True)
            if newer is None or newer.version == held.version:
                raise
            return self._verify(newer, whose)

    @staticmethod
    def _verify(membership: Membership, whose: str) -> str:
        return check_signature(
            signed_request(),
            membership,
            None,
            tag=FOREIGN_TAG,
            covered=FOREIGN_COVERED,
            whose=f"{whose} (membership v{membership.version})",
        )


def require_foreign_signatures(app: Flask, ctx: NodeContext, routes: Iterable[Route]) -> None:
    """Refuse tokens bound to a foreign consortium on ``routes`` that need a token unless the
    request is signed by a current member of that consortium."""
    checked = frozenset(
        f"api.{r.endpoint}" for r in routes if r.roles is not None and r.endpoint != ENDPOINT
    )
    members = ForeignMembers(ctx)

    @app.before_request
    def _check_foreign_signature() -> None:
        if request.endpoint not in checked:
            return
        scheme, _, token = request.headers.get(AUTHORIZATION, "").strip().partition(" ")
        if scheme.lower() != BEARER.lower():
            return  # the route's own check answers 401
        info = ctx.tokens.authenticate(token.strip())
        if info is None or info.consortium is None:
            return
        ctx.refresh_membership()  # a root distrusted since is refused within seconds
        try:
            members.check(info.consortium)
        except SignatureRefused as exc:
            raise Problem("forbidden", str(exc)) from None


__all__ = [
    "FOLLOW_S",
    "REASK_S",
    "ForeignMembers",
    "consortium_membership",
    "foreign_auth_routes",
    "require_foreign_signatures",
]
