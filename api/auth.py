"""Bearer-token authentication and role checks (tokens: ``node/tokens.py``)."""

from __future__ import annotations

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
        allowed = sorted(r.value for r in roles)
        raise Problem(
            "forbidden",
            f"expected a token with a role from {allowed}, found role {info.role.value!r}",
        )
    return info
