"""``requests`` sessions that trust one ``ssl.SSLContext`` and nothing else (ADR 0011).

A client of a node (a peer, the scanner, the demo) must check the node's certificate against
the consortium's CA, not the system's. ``session.verify = path`` is not enough: requests lets
``$REQUESTS_CA_BUNDLE`` or ``$CURL_CA_BUNDLE`` replace it, and many machines set them. The
adapter here ignores ``verify`` altogether and gives urllib3 the context itself.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from keys.tls_contexts import client_context


class TlsAdapter(HTTPAdapter):
    """Every https connection through this adapter uses ``context`` and nothing else.

    requests would otherwise point each connection at its own CA bundle (``verify=True``),
    which urllib3 loads into the context: the system's CAs would then vouch for a node.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def build_connection_pool_key_attributes(self, *args: Any, **kwargs: Any) -> Any:
        host, pool = super().build_connection_pool_key_attributes(*args, **kwargs)
        pool.pop("ca_certs", None)
        pool.pop("ca_cert_dir", None)
        pool.pop("cert_file", None)
        pool.pop("key_file", None)
        pool["ssl_context"] = self._context
        pool["cert_reqs"] = "CERT_REQUIRED"
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def tls_session(context: ssl.SSLContext) -> requests.Session:
    """A session whose https requests use ``context`` only."""
    session = requests.Session()
    session.mount("https://", TlsAdapter(context))
    return session


def ca_session(ca: Path | None) -> requests.Session:
    """A session trusting the CA certificate ``ca`` only (``None``: the system's CAs)."""
    return requests.Session() if ca is None else tls_session(client_context(ca))


__all__ = ["TlsAdapter", "ca_session", "tls_session"]
