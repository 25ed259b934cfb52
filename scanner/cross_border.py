"""Verifying a pack of another consortium: asked of its ledger, checked here from its genesis
(issue 17; docs/spec/cross-border.md, ADR 0028).

A node whose membership pins a foreign root asks that consortium's verification service (a
node of it) for a pack under the root's company prefixes, with the verifier token that
consortium issued to it, exactly as ``medtrace scan --node`` asks a node of its own consortium:
the pack's provenance, then an inclusion proof and the newest cosigned checkpoint of every
entry it rests on. Nothing in the answer is trusted: the entries are verified against the
foreign consortium's membership chain, walked from the pinned genesis; the checkpoints must
meet that consortium's witness policy (``scanner.witnessed``); the verdict is the same
``scanner.verifying.check`` a scan at home gives.

The foreign membership chain is **followed**: every version an answer carries that extends
the chain held here is verified (each signed by the threshold of the one before) and kept
(``HeldChains``), and an answer is always judged against the longest chain held, so an answer
that leaves out a version (one revoking a member's key) is judged with it anyway.

Every request sent abroad is **signed** with this node's feed key (``foreign_signer``: RFC 9421,
tag ``medtrace-foreign``, covering the request line, the bearer token and ``Medtrace-Consortium``,
this consortium's genesis id), so the foreign node can hold a token it bound to this consortium
to this consortium's current members (``api/foreign_auth.py``; ADR 0028, addendum). The same
chains are what that check follows the other way: ``ask_membership`` fetches a consortium's
membership versions from its service (``GET /api/v1/consortium/membership``).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.identifiers import pack_uri
from ledger.membership import ForeignRoot, MembershipChain, SignedMembership
from node.config import ForeignConfig
from node.replication.signed_requests import COVERED, RequestSigner
from scanner.outcome import Freshness, Outcome
from scanner.reading import ScanData
from scanner.sources.online import NodeClient, NodeUnreachable, verify_online
from scanner.verdict import Decision, Reason, Verdict
from scanner.verifying import VerifyError, membership_of
from scanner.witnessed import hold_unwitnessed, witness

#: How many proof requests go out at once: the entries of one pack (typically 4 to 8).
PROOF_FETCHES = 8
TIMEOUT_S = 5.0
#: The application tag of a request signed for another consortium's node (not a peer's).
FOREIGN_TAG = "medtrace-foreign"
#: The header naming the signer's consortium (its genesis id), covered by the signature.
CONSORTIUM_HEADER = "Medtrace-Consortium"
FOREIGN_COVERED = (*COVERED, CONSORTIUM_HEADER.lower())
#: Where a node serves its consortium's signed membership versions to a verifier token.
MEMBERSHIP_CHAIN_PATH = "/api/v1/consortium/membership"


def foreign_signer(feed: str, key: Ed25519PrivateKey, genesis: str) -> RequestSigner:
    """What signs this node's requests to foreign ledgers: its feed and key, for ``genesis``."""
    return RequestSigner(feed, key, tag=FOREIGN_TAG, fields=((CONSORTIUM_HEADER, genesis),))


def ask_membership(
    url: str, token: str, session: requests.Session, genesis: str
) -> list[SignedMembership]:
    """The membership versions the node at ``url`` serves for consortium ``genesis`` (checked
    by ``HeldChains.follow``, not here); ``NodeUnreachable`` when it cannot be asked or its
    answer is not a membership answer of that genesis."""
    client = NodeClient(url, token, TIMEOUT_S, session)
    response = client.get(MEMBERSHIP_CHAIN_PATH)
    if response.status_code != 200:
        raise NodeUnreachable(f"{url}: answered {response.status_code} to {MEMBERSHIP_CHAIN_PATH}")
    try:
        answer = response.json()
        if answer["genesis"] != genesis:
            raise NodeUnreachable(f"{url}: serves consortium {str(answer['genesis'])[:16]}…")
        return [SignedMembership.from_wire(v) for v in answer["versions"]]
    except (ValueError, KeyError, TypeError, AttributeError, LedgerError):
        raise NodeUnreachable(f"{url}: its membership answer is malformed") from None


@dataclass(frozen=True)
class ForeignLedger:
    """How to ask one foreign root: its base ``url`` (the root's endpoint, or the node's own
    configured one), the verifier ``token`` its consortium issued to this node, and the CA
    certificate its TLS certificates chain to (``None``: the system's)."""

    root: ForeignRoot
    url: str
    token: str
    ca: Path | None = None


class HeldChains:
    """The foreign membership chains this node follows, one file per genesis in
    ``directory`` (``DATA/foreign/<genesis>.json``: the signed versions, as a node's membership
    answer lists them), shared by the node's worker processes: each re-reads a file another
    worker has replaced. ``None``: held in memory only."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        #: genesis -> (the file's inode and mtime when read, None in memory only; the versions)
        self._versions: dict[str, tuple[_Stamp, list[SignedMembership]]] = {}

    def _path(self, genesis: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{genesis}.json"

    def versions(self, genesis: str) -> list[SignedMembership]:
        """The versions held for ``genesis``, verified from it (a file that does not verify is
        treated as none: the next answer starts the chain again from the pinned genesis)."""
        cached = self._versions.get(genesis)
        path = self._path(genesis)
        stamp = _stamp(path)
        if cached is not None and (cached[0] == stamp or stamp is None):
            return list(cached[1])
        if path is None or stamp is None:
            return []
        try:
            raw = json.loads(path.read_bytes())
            held = [SignedMembership.from_wire(v) for v in raw["versions"]]
            _chain(held, genesis)
        except (OSError, ValueError, KeyError, TypeError, LedgerError):
            return []
        self._versions[genesis] = (stamp, held)
        return list(held)

    def merged(self, genesis: str, answered: Sequence[SignedMembership]) -> list[SignedMembership]:
        """What an answer is judged against: the held chain, and the answer's versions beyond
        it (verified together with it by the check; an older or other version the answer
        holds in place of one held is ignored: the held one was verified already)."""
        held = self.versions(genesis)
        top = max((v.membership.version for v in held), default=0)
        return held + [v for v in answered if v.membership.version > top]

    def follow(self, genesis: str, versions: Sequence[SignedMembership]) -> int:
        """Keep ``versions`` when they verify from ``genesis`` and are longer than the chain
        held; the number of versions now held."""
        try:
            chain = _chain(list(versions), genesis)
        except LedgerError:
            return len(self.versions(genesis))
        path = self._path(genesis)
        if path is None:
            if len(chain.versions) > len(self.versions(genesis)):
                self._versions[genesis] = (None, list(chain.versions))
            return len(self.versions(genesis))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("a") as lock:  # the node's workers, one at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            held = self.versions(genesis)
            if len(chain.versions) <= len(held):
                return len(held)
            kept = list(chain.versions)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            wire = {"genesis": genesis, "versions": [v.to_wire() for v in kept]}
            tmp.write_text(json.dumps(wire, sort_keys=True))
            os.replace(tmp, path)
            self._versions[genesis] = (_stamp(path), kept)
        return len(kept)


#: Which file a chain was read from: a replaced file is a new inode.
_Stamp = tuple[int, int] | None


def _stamp(path: Path | None) -> _Stamp:
    try:
        stat = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return None if stat is None else (stat.st_ino, stat.st_mtime_ns)


def _chain(versions: list[SignedMembership], genesis: str) -> MembershipChain:
    first = min(versions, key=lambda v: v.membership.version)
    chain = MembershipChain(first, genesis)
    chain.extend_all(v for v in versions if v is not first)
    return chain


class _FollowingClient(NodeClient):
    """A node client whose provenance answers list the held chain first (``HeldChains.merged``)."""

    def __init__(self, ledger: ForeignLedger, chains: HeldChains, session: requests.Session):
        super().__init__(ledger.url, ledger.token, TIMEOUT_S, session)
        self._genesis = ledger.root.genesis
        self._chains = chains

    def provenance(self, gtin: str, serial: str) -> dict[str, Any]:
        answer = super().provenance(gtin, serial)
        raw = answer.get("memberships")
        if isinstance(raw, list):
            answered = []
            for wire in raw:
                try:
                    answered.append(SignedMembership.from_wire(wire))
                except (LedgerError, TypeError, ValueError, AttributeError):
                    return answer  # malformed: the check says so (forged_membership)
            merged = self._chains.merged(self._genesis, answered)
            answer["memberships"] = [v.to_wire() for v in merged]
        return answer


def _proof(client: NodeClient, entry: SignedEntry) -> tuple[str, dict[str, Any], str] | None:
    """The inclusion proof of ``entry`` at its feed's newest checkpoint, and that checkpoint."""
    feed = entry.payload.feed
    try:
        response = client.get(f"/api/v1/feeds/{feed}/proof?seq={entry.payload.seq}")
    except NodeUnreachable:
        return None  # then the entry stays uncovered: HOLD, saying so
    if response.status_code != 200:
        return None
    try:
        answer = response.json()
        proof = {k: answer[k] for k in ("feed", "seq", "size", "leaf", "path", "entry")}
        note = answer["checkpoint"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return (feed, proof, note) if isinstance(note, str) else None


def checkpoints_at_once(
    client: NodeClient, entries: Sequence[SignedEntry], executor: ThreadPoolExecutor
) -> list[dict[str, Any]]:
    """``scanner.sources.checkpoints.checkpoints_online``'s items, every proof asked at once
    (one round trip over a slow link instead of one per entry): proofs answered with one
    checkpoint note are grouped under it; a feed answered with two notes gets two items (two
    sizes are checked each on its own; two roots at one size are a split view)."""
    found = list(executor.map(lambda e: _proof(client, e), entries))
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for got in found:
        if got is None:
            continue
        feed, proof, note = got
        items.setdefault((feed, note), {"feed": feed, "note": note, "proofs": []})
        items[(feed, note)]["proofs"].append(proof)
    return list(items.values())


def verify_foreign(
    scan: ScanData,
    ledger: ForeignLedger,
    chains: HeldChains,
    *,
    in_transit_ok: bool,
    session: requests.Session,
    executor: ThreadPoolExecutor,
    today: str | None = None,
) -> Outcome:
    """The verdict on ``scan`` from the foreign ledger, verified here (never trusted)."""
    genesis = ledger.root.genesis
    client = _FollowingClient(ledger, chains, session)
    try:
        outcome = verify_online(
            scan,
            ledger.url,
            ledger.token,
            membership_pin=genesis,
            today=today,
            in_transit_ok=in_transit_ok,
            client=client,
        )
    except VerifyError as exc:  # the foreign node refused this node's token
        return unreachable(scan, ledger.root, ledger.url, f"it refused this node's token: {exc}")
    basis = outcome.basis
    if basis is None:
        return outcome
    membership, _, _ = membership_of(list(basis.memberships), genesis)
    if membership is None:
        return outcome  # the verdict says why (forged or other consortium's membership)
    chains.follow(genesis, basis.memberships)
    items = checkpoints_at_once(client, list(basis.entries), executor)
    found = witness(membership, genesis, basis.entries, items, int(time.time()))
    outcome.verdict = hold_unwitnessed(outcome.verdict, found)
    outcome.witnessing = found
    outcome.checkpoint_items = tuple(items)
    return outcome


def unreachable(scan: ScanData, root: ForeignRoot, url: str, why: str) -> Outcome:
    """HOLD ``ledger_unreachable``: the foreign ledger could not be asked, or refused to answer."""
    verdict = Verdict(
        Decision.HOLD,
        pack_uri(scan.gtin, scan.serial),
        [
            Reason(
                "ledger_unreachable",
                f"the pack is of {root.name} ({root.country}), whose ledger this node cannot "
                f"ask: {why}; hold the pack, or verify it with a proof file from that ledger",
            )
        ],
    )
    return Outcome(scan, verdict, "online", Freshness("node", None), url)


def answered_by(ledger: ForeignLedger, outcome: Outcome) -> dict[str, Any]:
    """Which country's ledger answered, and how fresh: the ``foreign`` member of a verdict."""
    found = outcome.witnessing
    version = None
    if outcome.basis is not None and outcome.basis.memberships:
        version = max(v.membership.version for v in outcome.basis.memberships)
    return {
        "ledger_country": ledger.root.country,
        "answered_by": {
            "consortium": ledger.root.name,
            "genesis": ledger.root.genesis,
            "url": ledger.url,
            "membership_version": version,
        },
        "checkpoint_age_s": None if found is None else found.newest_age_s,
        "asked_at": outcome.freshness.as_of,
    }


def configured(
    root: ForeignRoot, settings: ForeignConfig | None, data: Path, resolved: str | None = None
) -> ForeignLedger | None:
    """The ledger to ask for ``root`` from the node's ``foreign`` setting of its genesis: at
    its ``url``, else the root's endpoint, else ``resolved`` (what the setting's resolver named);
    ``None`` without a token or an address."""
    if settings is None or not settings.token:
        return None
    url = settings.url or root.endpoint or resolved or ""
    if not url:
        return None
    ca = data / settings.ca if settings.ca else None  # relative to DATA; an absolute path stays
    return ForeignLedger(root, url.rstrip("/"), settings.token, ca)


__all__ = [
    "CONSORTIUM_HEADER",
    "FOREIGN_COVERED",
    "FOREIGN_TAG",
    "MEMBERSHIP_CHAIN_PATH",
    "ForeignLedger",
    "HeldChains",
    "answered_by",
    "ask_membership",
    "checkpoints_at_once",
    "configured",
    "foreign_signer",
    "unreachable",
    "verify_foreign",
]
