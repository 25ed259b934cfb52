"""Replication with a peer token counts only when the request is signed by that organisation.

A request to a replication endpoint (``PEER_TOKEN_PATHS``) made with a token of role ``peer``
must carry an RFC 9421 signature by the current key of a feed of the token's organisation
(``node.replication.signed_requests``, ADR 0015), or it is answered 403 ``forbidden`` (problem
details saying what was expected) before the endpoint runs. A stolen peer token is then useless
without the peer's feed key, and one member's node cannot use another member's token. Browsers,
scanners and API clients sign nothing: their tokens are not peer tokens.

The check is in the application, not in the TLS handshake, so any HTTP server can run a node
(granian does not show the app a client certificate; ADR 0013, 0015). It is on for nodes with
``"tls": true``, as the certificate check it replaces was.

The organisation of a peer token is its user name: ``peer@ORG`` (what the demo issues),
``peer@ORG.DEVICE`` for one device of ORG, or ``ORG`` itself (organisation ids have no dots).
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, request

from api.context import NodeContext
from api.problems import Problem
from node.replication.protocol import AUTHORIZATION, BEARER, PEER_TOKEN_PATHS
from node.replication.signed_requests import SignatureRefused, SignedRequest, check_signature
from node.tokens import TokenRole

#: What ``urllib.parse.quote`` leaves as it is in a path besides letters, digits and ``_.-~``:
#: RFC 3986's sub-delims, ":", "@" and "/".
_PATH_SAFE = "/!$&'()*+,;=:@"


def token_organisation(user: str) -> str:
    """``peer@acme`` -> ``acme``; ``peer@apo.branch`` -> ``apo``; ``acme`` -> ``acme``."""
    return user.removeprefix("peer@").split(".", 1)[0]


def signed_request() -> SignedRequest:
    """This request as the signature covers it: the path Flask routes (WSGI's ``SCRIPT_NAME``
    and ``PATH_INFO``, percent-encoded again) and the query string as it came."""
    environ = request.environ
    raw_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
    query = environ.get("QUERY_STRING", "")
    url = "http://node.invalid" + quote(raw_path, safe=_PATH_SAFE) + (f"?{query}" if query else "")
    return SignedRequest(request.method, url, tuple(request.headers.items()))


def require_peer_signatures(app: Flask, ctx: NodeContext) -> None:
    """Refuse peer tokens on replication endpoints without their organisation's signature."""

    @app.before_request
    def _check_peer_signature() -> None:
        if not request.path.startswith(PEER_TOKEN_PATHS):
            return
        scheme, _, token = request.headers.get(AUTHORIZATION, "").strip().partition(" ")
        if scheme.lower() != BEARER.lower():
            return  # the endpoint's own check answers 401
        info = ctx.tokens.authenticate(token.strip())
        if info is None or info.role is not TokenRole.PEER:
            return
        ctx.refresh_membership()  # a key revoked since is refused within seconds
        try:
            check_signature(signed_request(), ctx.membership, token_organisation(info.user))
        except SignatureRefused as exc:
            raise Problem("forbidden", str(exc)) from None


__all__ = ["require_peer_signatures", "signed_request", "token_organisation"]
