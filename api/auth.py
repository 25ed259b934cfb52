"""Bearer-token authentication and role checks (tokens: ``node/tokens.py``)."""

from __future__ import annotations

import ipaddress

from flask import g, request

from api.context import NodeContext
from api.problems import Problem
from node.tokens import TokenInfo, TokenRole

REALM = 'Bearer realm="medtrace"'
_MAX_HEADER = 512

OPERATOR = TokenRole.OPERATOR
VERIFIER = TokenRole.VERIFIER
PEER = TokenRole.PEER
AUDITOR = TokenRole.AUDITOR

WRITERS = frozenset({OPERATOR})
READERS = frozenset({OPERATOR, VERIFIER, AUDITOR})
#: Who may read the ledger as a whole: EPCIS's full query language, capture jobs, events by id,
#: the metrics. A verifier (a scanner) asks about the pack or container in its hand.
LEDGER_READERS = frozenset({OPERATOR, AUDITOR})
REPLICATORS = frozenset({PEER, OPERATOR, AUDITOR})
HINTERS = frozenset({PEER, OPERATOR})


def _unauthenticated(detail: str, error: str | None = None) -> Problem:
    challenge = REALM + (f', error="{error}"' if error else "")
    return Problem("unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def require(ctx: NodeContext, roles: frozenset[TokenRole]) -> TokenInfo:
    """The token of this request, if it is valid here and its role is one of ``roles``."""
    header = request.headers.get("Authorization")
    if header is None:
        raise _unauthenticated("expected an Authorization: Bearer <token> header, found none")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(header) > _MAX_HEADER:
        raise _unauthenticated(
            "expected an Authorization header of the form 'Bearer <token>'", "invalid_request"
        )
    info = ctx.tokens.authenticate(token)
    if info is None:
        raise _unauthenticated(
            "the token is not valid at this node (unknown, revoked or expired)", "invalid_token"
        )
    g.token_user = info.user
    g.token_role = info.role.value
    if info.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise Problem(
            "forbidden",
            f"expected a token with one of the roles {allowed}, found role {info.role.value}",
        )
    return info


def from_loopback() -> bool:
    """Whether the request came from this machine (the peer address the server saw; headers
    such as X-Forwarded-For are not trusted)."""
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
