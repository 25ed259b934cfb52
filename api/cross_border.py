"""``POST /api/v1/scan`` for a pack of a foreign root's GTIN: asked of that consortium's ledger,
verified here (issue 17; docs/spec/cross-border.md, ADR 0028).

``web_scan.scan`` hands a pack over when the node's membership routes its GTIN to a foreign
root (``Membership.foreign_root_for_gtin``). The node asks the root's verification service
with the verifier token that consortium issued to it (``node.json`` ``foreign``), verifies the
answer from the root's pinned genesis and the foreign membership chain it follows
(``scanner.cross_border``), and answers the verdict as for a pack of its own, with which
country's ledger answered (``ledger_country``, ``answered_by``) and how fresh its newest
cosigned checkpoint was (``checkpoint_age_s``). A pack of the foreign root is never looked up
in this node's own store, and a foreign root this node cannot ask is a HOLD, not a REJECT.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.auth import AuthBase

from api.context import NodeContext
from ledger.membership import ForeignRoot
from node.https import ca_session
from scanner.cross_border import (
    PROOF_FETCHES,
    ForeignLedger,
    HeldChains,
    answered_by,
    configured,
    unreachable,
    verify_foreign,
)
from scanner.reading import ScanData
from scanner.resolver import verification_service
from scanner.verdict import Verdict

#: Where a node keeps the foreign membership chains it follows: ``DATA/foreign/<genesis>.json``.
CHAINS_DIR = "foreign"
#: How long a resolver's answer is used before it is asked again.
RESOLVED_FOR_S = 600.0


class ForeignAsking:
    """What one server process keeps for asking foreign ledgers: the chains it follows, a
    session per ledger (connections kept open: a slow link costs one round trip per request,
    not three), and a pool that asks a pack's proofs at once."""

    def __init__(self, data: Path) -> None:
        self.chains = HeldChains(data / CHAINS_DIR)
        #: What signs every request to a foreign ledger (``scanner.cross_border.foreign_signer``:
        #: this node's feed key), set by ``sign_foreign_requests``; ``None``: unsigned.
        self.signer: AuthBase | None = None
        self._sessions: dict[tuple[str, Path | None], requests.Session] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._resolved: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def session(self, ledger: ForeignLedger) -> requests.Session:
        key = (ledger.url, ledger.ca)
        with self._lock:
            if key not in self._sessions:
                session = ca_session(ledger.ca)
                session.auth = self.signer
                self._sessions[key] = session
            return self._sessions[key]

    def use_signer(self, signer: AuthBase) -> None:
        """Sign the requests of the ledger sessions made from now on (set when the node starts,
        before any; a resolver is asked unsigned)."""
        with self._lock:
            self.signer = signer

    def resolve(self, resolver: str, gtin: str) -> str | None:
        """The service a GS1 Digital Link resolver names for ``gtin``, asked at most every
        ``RESOLVED_FOR_S`` per resolver and GTIN."""
        key, now = (resolver, gtin), time.monotonic()
        with self._lock:
            held = self._resolved.get(key)
            if held is not None and held[0] > now:
                return held[1]
            session = self._sessions.setdefault((resolver, None), requests.Session())
        found = verification_service(resolver, gtin, session)
        with self._lock:
            self._resolved[key] = (now + RESOLVED_FOR_S, found)
        return found

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:  # made on first use: in the worker, after any fork
            if self._executor is None:
                self._executor = ThreadPoolExecutor(PROOF_FETCHES, "foreign-proofs")
            return self._executor


_ASKING: dict[int, ForeignAsking] = {}
_ASKING_LOCK = threading.Lock()


def asking(ctx: NodeContext) -> ForeignAsking:
    with _ASKING_LOCK:
        return _ASKING.setdefault(id(ctx), ForeignAsking(ctx.data))


def sign_foreign_requests(ctx: NodeContext, signer: AuthBase) -> None:
    """Sign every request ``ctx``'s node sends to a foreign ledger with ``signer`` (ADR 0028,
    addendum: the foreign node may hold a token it bound to this consortium to its members)."""
    asking(ctx).use_signer(signer)


def foreign_scan(
    ctx: NodeContext, scan: ScanData, root: ForeignRoot, *, context: str
) -> tuple[Verdict, dict[str, Any]]:
    """The verdict on a pack of ``root``, and the answer's ``foreign`` fields."""
    settings = ctx.config.foreign_for(root.genesis)
    resolved = None
    if settings is not None and settings.resolver and not (settings.url or root.endpoint):
        resolved = asking(ctx).resolve(settings.resolver, scan.gtin)
    ledger = configured(root, settings, ctx.data, resolved)
    if ledger is None:
        why = (
            "no verifier token of that consortium is configured (medtrace node foreign add)"
            if settings is None
            else "no address is known for it (the foreign root names no endpoint, and no "
            "resolver named a verification service)"
        )
        outcome = unreachable(scan, root, root.endpoint or "", why)
        ledger = ForeignLedger(root, root.endpoint or "", "")
    else:
        held = asking(ctx)
        outcome = verify_foreign(
            scan,
            ledger,
            held.chains,
            in_transit_ok=context == "border",
            session=held.session(ledger),
            executor=held.executor(),
        )
    fields = answered_by(ledger, outcome)
    if outcome.witnessing is not None:
        fields["checkpoints"] = outcome.witnessing.to_json()
    return outcome.verdict, fields


__all__ = ["CHAINS_DIR", "ForeignAsking", "asking", "foreign_scan", "sign_foreign_requests"]
