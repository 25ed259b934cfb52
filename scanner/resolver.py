"""Finding a foreign consortium's verification service through a GS1 Digital Link resolver
(docs/spec/cross-border.md, "Finding the service"; ADR 0028).

A resolver answers ``GET {resolver}/01/{gtin}?linkType=gs1:verificationService`` with a redirect
to the service registered for that GTIN. A medtrace node's service is registered by its GS1
Lightweight Verification Messaging base (``https://HOST:PORT/vrs/v1``, ADR 0023), so the node's
base URL is the target with ``/vrs/v1…`` cut off (a target without it: its scheme, host and
port). The resolver is trusted for nothing but the address: what the service answers is verified
from the pinned genesis whoever it is.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from ledger.identifiers import gtin14

LINK_TYPE = "gs1:verificationService"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_VRS_PATH = "/vrs/v1"
TIMEOUT_S = 5.0


def resolver_query(resolver: str, gtin: str) -> str:
    return f"{resolver.rstrip('/')}/01/{gtin14(gtin)}?linkType={LINK_TYPE}"


def service_base(target: str) -> str | None:
    """A node's base URL from a resolver's target; ``None`` for a target that is no http(s)
    URL with a host."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    at = parts.path.find(_VRS_PATH)
    path = parts.path[:at] if at >= 0 else ""
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


def verification_service(
    resolver: str, gtin: str, session: requests.Session, timeout: float = TIMEOUT_S
) -> str | None:
    """The base URL of the verification service the resolver names for ``gtin``; ``None`` when
    it names none (no redirect, an error, no answer in time)."""
    query = resolver_query(resolver, gtin)
    try:
        response = session.get(query, allow_redirects=False, timeout=timeout)
    except requests.RequestException:
        return None
    location = response.headers.get("Location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    return service_base(urljoin(query, location))


__all__ = ["LINK_TYPE", "resolver_query", "service_base", "verification_service"]
