"""Replication over TLS: a peer token counts only with its organisation's client certificate.

A node with ``"tls": true`` asks every client for a certificate (``CERT_OPTIONAL``): OpenSSL
refuses in the handshake one that does not chain to the consortium CA or has expired. Browsers,
scanners and API clients show none and need none: their token is enough. A request to a
replication endpoint made with a token of role ``peer`` must also come over a connection whose
verified certificate names the token's organisation (``urn:medtrace:org:<org>``), or it is
answered 403 ``forbidden`` (problem details) before the endpoint runs. A stolen peer token is
then useless without the peer's TLS key, and one member's certificate cannot replay another's.

The organisation of a peer token is its user name: ``peer@ORG`` (what the demo issues),
``peer@ORG.DEVICE`` for one device of ORG, or ``ORG`` itself (organisation ids have no dots).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from flask import Flask, request

from api.context import NodeContext
from api.problems import Problem
from keys.tls import peer_organisation
from node.tokens import TokenRole

#: Where peer tokens are accepted (``api/routes.py``: REPLICATORS and HINTERS).
REPLICATION_PATHS = ("/api/v1/feeds", "/api/v1/membership", "/api/v1/replication/")


def token_organisation(user: str) -> str:
    """``peer@acme`` -> ``acme``; ``peer@apo.branch`` -> ``apo``; ``acme`` -> ``acme``."""
    return user.removeprefix("peer@").split(".", 1)[0]


def peer_certificate(environ: Mapping[str, Any]) -> dict[str, Any] | None:
    """The verified client certificate of this request's connection, if it has one.

    gunicorn's workers put the connection's socket in ``gunicorn.socket``; over TLS it is the
    ``ssl.SSLSocket``, whose ``getpeercert()`` is filled in only for a verified certificate.
    """
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, ssl.SSLSocket):
        return None
    try:
        cert = sock.getpeercert()
    except (ValueError, OSError):  # the connection is gone
        return None
    return dict(cert) if cert else None


def require_peer_certificates(app: Flask, ctx: NodeContext) -> None:
    """Refuse peer tokens on replication endpoints without their organisation's certificate."""

    @app.before_request
    def _check_peer_certificate() -> None:
        if not request.path.startswith(REPLICATION_PATHS):
            return
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return  # the endpoint's own check answers 401
        info = ctx.tokens.authenticate(token.strip())
        if info is None or info.role is not TokenRole.PEER:
            return
        expected = token_organisation(info.user)
        found = peer_organisation(peer_certificate(request.environ))
        if found is None:
            raise Problem(
                "forbidden",
                "expected a TLS client certificate from the consortium CA with a peer token, "
                "found none",
            )
        if found != expected:
            raise Problem(
                "forbidden",
                f"expected a TLS client certificate of organisation {expected!r} (the peer "
                f"token's), found one of {found!r}",
            )


__all__ = [
    "REPLICATION_PATHS",
    "peer_certificate",
    "require_peer_certificates",
    "token_organisation",
]
