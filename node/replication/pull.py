"""Pull-based anti-entropy: ask peers for their heads, fetch what is missing in pages, ingest.

A ``Peer`` is anything that answers ``heads`` and ``entries``: another store in the same
process (``LocalPeer``, for tests and the in-process demo) or a node over HTTP
(``node.replication.http_peer.HttpPeer``). Nothing a peer sends is trusted: the store verifies every entry
before it keeps it (``Store.ingest``). This module only decides *what to ask whom*, and makes
sure one peer that fails or lies cannot stop replication from the others:

* a peer that fails (``PeerError``: unreachable, an error status, an answer outside the
  protocol) is dropped for the rest of the round; what it already gave is still verified;
* for each feed, what is missing is fetched from the peer that advertises most of it; when that
  peer's entries are refused or run short, the next peer that holds more is asked, in the same
  round, so a peer that advertises a long forged feed cannot starve the honest copies;
* a peer whose copy of a feed differs from ours at a position both hold is asked for its entry
  at that position, so equivocation shows up as fork evidence (and a mere forgery as a
  rejection) instead of being skipped;
* the forks a peer holds (both signed entries of each) are verified here and recorded as if we
  had found them, once we hold the feed up to the fork: a fork found anywhere reaches every node.

The protocol, verification order and bundle format are described in ``docs/spec/replication.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ledger.entry import SignedEntry
from ledger.errors import MembershipChainError
from ledger.membership import Membership, MembershipChain, SignedMembership
from node.replication.fetching import FeedClaims, Peer, PeerError, fetch_run, no_claim, probe
from node.replication.protocol import PAGE_MAX
from node.store import FeedHead, IngestReport, Store

#: Entries handed to one ``Store.ingest`` call (one transaction).
INGEST_CHUNK = 5 * PAGE_MAX

#: A child of the node's JSON logger (``node.logs``): structured fields go in ``extra["fields"]``.
log = logging.getLogger("medtrace.node.replication")


@runtime_checkable
class ForkEvidencePeer(Protocol):
    """A peer that also serves the forks it holds (both signed entries of each)."""

    name: str

    def fork_evidence(self) -> list[tuple[SignedEntry, SignedEntry]]: ...


class LocalPeer:
    """A peer that is another store in this process."""

    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self.store = store

    def heads(self) -> dict[str, FeedHead]:
        return self.store.heads()

    def entries(self, feed: str, from_seq: int, limit: int) -> list[SignedEntry]:
        return self.store.entries(feed, from_seq, limit)

    def memberships(self) -> list[SignedMembership]:
        return self.store.memberships()

    def fork_evidence(self) -> list[tuple[SignedEntry, SignedEntry]]:
        return self.store.forks()


def merge_reports(total: IngestReport, part: IngestReport) -> None:
    total.added += part.added
    total.duplicates += part.duplicates
    total.alerts.extend(part.alerts)
    total.forks.extend(part.forks)
    total.rejected.extend(part.rejected)
    total.future_dated.extend(part.future_dated)


@dataclass
class PullResult:
    """What one round of pulling did: the store's report, and how each peer fared."""

    report: IngestReport = field(default_factory=IngestReport)
    #: peer name -> what went wrong with it this round (it was dropped at that point)
    errors: dict[str, str] = field(default_factory=dict)
    #: peers whose heads were read
    reached: list[str] = field(default_factory=list)
    #: peer name -> entries fetched from it (verified or not)
    fetched: dict[str, int] = field(default_factory=dict)
    #: peer name -> entries it sent that the store refused (forged, unauthorised, off chain)
    refused: dict[str, int] = field(default_factory=dict)
    #: peer name -> why the store refused the first entry it refused this round
    refusal: dict[str, str] = field(default_factory=dict)
    #: the round was cut short (the replicator is stopping)
    cancelled: bool = False

    def merge(self, part: PullResult) -> None:
        """Add what a pull from other peers did (in the same round, on another thread)."""
        merge_reports(self.report, part.report)
        self.errors.update(part.errors)
        self.reached.extend(part.reached)
        self.fetched.update(part.fetched)
        self.refused.update(part.refused)
        self.refusal.update(part.refusal)
        self.cancelled = self.cancelled or part.cancelled


def pull(peer: Peer, store: Store, membership: Membership, page: int = PAGE_MAX) -> IngestReport:
    """Fetch from ``peer`` every entry ``store`` lacks (see ``pull_round``)."""
    return pull_round([peer], store, membership, page).report


def pull_many(
    peers: Sequence[Peer], store: Store, membership: Membership, page: int = PAGE_MAX
) -> IngestReport:
    """Pull from several peers at once: for each feed, what is missing is fetched from the peer
    that holds most of it, and everything fetched is ingested together in its order key, so a
    history spread over feeds arrives in order instead of being refolded. A peer that fails is
    logged and skipped (``pull_round`` says which)."""
    return pull_round(peers, store, membership, page).report


def read_heads(
    peers: Sequence[Peer], result: PullResult
) -> dict[str, tuple[Peer, dict[str, FeedHead]]]:
    """Each peer's advertised heads; a peer that fails is recorded in ``result.errors``."""
    found: dict[str, tuple[Peer, dict[str, FeedHead]]] = {}
    for peer in peers:
        if peer.name in found or peer.name in result.errors:
            continue
        try:
            heads = peer.heads()
        except PeerError as exc:
            _failed(result, peer, exc)
            continue
        found[peer.name] = (peer, heads)
        result.reached.append(peer.name)
    return found


def pull_round(
    peers: Sequence[Peer],
    store: Store,
    membership: Membership,
    page: int = PAGE_MAX,
    *,
    heads: Mapping[str, tuple[Peer, dict[str, FeedHead]]] | None = None,
    result: PullResult | None = None,
    cancelled: Callable[[], bool] | None = None,
    claims: FeedClaims | None = None,
) -> PullResult:
    """One round of anti-entropy with ``peers``; ``heads`` if they were already read.

    ``cancelled`` is asked before each request and each ingest: when it says so, the round
    ends there (what was already ingested stays; ``result.cancelled`` is set). ``claims``:
    shared by the pullers of ``store`` on other threads, so that a feed one of them is
    streaming is not fetched again by the others (``FeedClaims``).
    """
    result = result if result is not None else PullResult()
    try:
        return _pull_round(peers, store, membership, page, heads, result, cancelled, claims)
    except _Cancelled:
        result.cancelled = True
        return result


class _Cancelled(Exception):
    pass


def _pull_round(
    peers: Sequence[Peer],
    store: Store,
    membership: Membership,
    page: int,
    heads: Mapping[str, tuple[Peer, dict[str, FeedHead]]] | None,
    result: PullResult,
    cancelled: Callable[[], bool] | None,
    claims: FeedClaims | None,
) -> PullResult:
    def check() -> None:
        if cancelled is not None and cancelled():
            raise _Cancelled

    advertised = dict(heads) if heads is not None else read_heads(peers, result)
    spent: set[tuple[str, str]] = set()  # (peer, feed): taken what it offered this round
    compared: set[tuple[str, str, int]] = set()  # (peer, feed, size): positions compared
    for _ in range(len(advertised) + 2):
        ours = store.heads()
        evidence: list[tuple[str, SignedEntry]] = []
        plan: dict[str, list[tuple[Peer, FeedHead]]] = {}
        for name, (peer, theirs_all) in advertised.items():
            if name in result.errors:
                continue
            try:
                for feed, theirs in theirs_all.items():
                    mine = ours.get(feed)
                    if mine is not None and mine.frozen_at is not None:
                        continue  # frozen at a fork: nothing more is taken for it
                    have = mine.size if mine is not None else 0
                    if theirs.size > have:
                        if (name, feed) not in spent:
                            plan.setdefault(feed, []).append((peer, theirs))
                    elif theirs.size and (name, feed, theirs.size) not in compared:
                        check()
                        compared.add((name, feed, theirs.size))
                        found = _differing_entry(peer, store, feed, theirs, mine)
                        if found is not None:
                            evidence.append((name, found))
            except PeerError as exc:
                _failed(result, peer, exc)
        if len(plan) == 1 and not evidence:
            # One feed to fetch: its pages are ingested as they come, the next one fetched
            # meanwhile; nothing of another feed can sort between them.
            ((feed, candidates),) = plan.items()
            _stream_feed(
                feed,
                candidates,
                ours.get(feed),
                store,
                membership,
                page,
                result,
                check,
                spent,
                claims,
            )
            continue  # the next pass compares heads with what is held now
        fetched: list[tuple[str, SignedEntry]] = list(evidence)
        for feed, candidates in sorted(plan.items()):
            mine = ours.get(feed)
            for peer, theirs in sorted(candidates, key=lambda c: -c[1].size):
                if peer.name in result.errors:
                    continue
                spent.add((peer.name, feed))
                try:
                    run, probed = fetch_run(peer, store, feed, mine, theirs.size, page, check)
                except PeerError as exc:
                    _failed(result, peer, exc)
                    continue
                fetched.extend((peer.name, e) for e in run)
                if probed is not None:
                    fetched.append((peer.name, probed))
                else:
                    break  # the store decides; if it refuses, the next round asks another peer
        if not fetched:
            break
        for name, _entry in fetched:
            result.fetched[name] = result.fetched.get(name, 0) + 1
        _ingest(store, membership, fetched, result, check)
    _take_fork_evidence(advertised, store, membership, result, check)
    return result


def _stream_feed(
    feed: str,
    candidates: list[tuple[Peer, FeedHead]],
    mine: FeedHead | None,
    store: Store,
    membership: Membership,
    page: int,
    result: PullResult,
    check: Callable[[], None],
    spent: set[tuple[str, str]],
    claims: FeedClaims | None,
) -> None:
    """``feed`` from the first candidate (most advertised first) that serves it, each page
    ingested once it is fetched and linked, the next page fetched meanwhile; a peer whose
    chain does not continue ours gives its entry at our head instead (fork evidence or a
    forgery, for the store to tell), and the next candidate is asked. ``mine``: our head as
    the round saw it."""
    with claims.hold(feed, check) if claims is not None else no_claim() as progressed:
        progress = False
        probes: list[tuple[str, SignedEntry]] = []
        for peer, theirs in sorted(candidates, key=lambda c: -c[1].size):
            if peer.name in result.errors:
                continue
            spent.add((peer.name, feed))
            if claims is not None or progress:  # another puller, or we, may have moved it
                mine = store.heads().get(feed)
            if mine is not None and (mine.frozen_at is not None or theirs.size <= mine.size):
                continue  # the next round compares heads with what is held now

            def ingest(batch: list[SignedEntry], name: str = peer.name) -> None:
                nonlocal progress
                progress = True
                result.fetched[name] = result.fetched.get(name, 0) + len(batch)
                _ingest(store, membership, [(name, e) for e in batch], result, check)
                progressed()

            try:
                probed = fetch_run(peer, store, feed, mine, theirs.size, page, check, ingest)[1]
            except PeerError as exc:
                _failed(result, peer, exc)
                continue
            if probed is None:
                break  # the store decided; if it refused, the next round asks another peer
            probes.append((peer.name, probed))
        if probes:
            for name, _entry in probes:
                result.fetched[name] = result.fetched.get(name, 0) + 1
            _ingest(store, membership, probes, result, check)


def _take_fork_evidence(
    advertised: Mapping[str, tuple[Peer, dict[str, FeedHead]]],
    store: Store,
    membership: Membership,
    result: PullResult,
    check: Callable[[], None],
) -> None:
    """Record the forks the peers hold, each pair verified by the store first. After the
    entries: evidence is taken only at a position we hold, and the feeds were just pulled."""
    for name, (peer, _) in advertised.items():
        if name in result.errors or not isinstance(peer, ForkEvidencePeer):
            continue
        try:
            pairs = peer.fork_evidence()
        except PeerError as exc:
            _failed(result, peer, exc)
            continue
        if not pairs:
            continue
        check()
        part = store.record_forks(pairs, membership)
        merge_reports(result.report, part)
        for entry_id, reason in part.rejected:
            _note_refusal(result, name, entry_id, reason)
        _log_forks(part)


def _failed(result: PullResult, peer: Peer, exc: Exception) -> None:
    result.errors[peer.name] = str(exc)
    log.warning(
        "peer %s skipped this round",
        peer.name,
        extra={"fields": {"peers": peer.name, "error": str(exc)}},
    )


def _differing_entry(
    peer: Peer, store: Store, feed: str, theirs: FeedHead, mine: FeedHead | None
) -> SignedEntry | None:
    """The peer's entry at its head position, if it differs from ours there (fork or forgery)."""
    if mine is None:
        return None
    position = theirs.size - 1
    if theirs.size == mine.size:
        if theirs.head == mine.head:
            return None
    else:
        held = store.entries(feed, position, 1)
        if held and held[0].id == theirs.head:
            return None
    got = probe(peer, feed, position)
    held = store.entries(feed, position, 1)
    if held and held[0].id == got.id:
        return None  # its heads were stale or lied; the entry itself is ours
    return got


def _ingest(
    store: Store,
    membership: Membership,
    fetched: list[tuple[str, SignedEntry]],
    result: PullResult,
    check: Callable[[], None],
) -> None:
    fetched.sort(key=lambda item: item[1].payload.order_key)
    source = {entry.id: name for name, entry in fetched}
    for start in range(0, len(fetched), INGEST_CHUNK):
        check()
        chunk = [entry for _, entry in fetched[start : start + INGEST_CHUNK]]
        part = store.ingest(chunk, membership)
        merge_reports(result.report, part)
        for entry_id, reason in part.rejected:
            _note_refusal(result, source.get(entry_id, "?"), entry_id, reason)
        _log_forks(part)
        for entry in part.future_dated:
            log.warning(
                "entry %s of %s dated %s, ahead of this node's clock",
                entry.id[:16],
                entry.payload.feed,
                entry.payload.ts,
                extra={"fields": {"feed": entry.payload.feed, "detail": entry.id}},
            )


def _note_refusal(result: PullResult, name: str, entry_id: str, reason: str) -> None:
    """Count and log an entry of peer ``name`` the store refused."""
    result.refused[name] = result.refused.get(name, 0) + 1
    result.refusal.setdefault(name, f"entry {entry_id[:16]}…: {reason}")
    log.warning(
        "entry %s from peer %s refused",
        entry_id[:16],
        name,
        extra={"fields": {"peers": name, "detail": entry_id, "error": reason}},
    )


def _log_forks(part: IngestReport) -> None:
    for fork in part.forks:
        log.error(
            "fork in feed %s at seq %d",
            fork.first.payload.feed,
            fork.first.payload.seq,
            extra={"fields": {"feed": fork.first.payload.feed, "error": str(fork)}},
        )


# -- membership --------------------------------------------------------------------------------


def adopt_memberships(
    chain: MembershipChain, offered: Sequence[SignedMembership], store: Store | None = None
) -> list[SignedMembership]:
    """Extend ``chain`` (which starts at the pinned genesis) with the versions ``offered`` that
    follow it, each checked against the one before (threshold signatures of both); save the
    new ones in ``store``. Versions already held are skipped; a version at a held number with
    another id is a conflicting membership and raises ``MembershipChainError``.

    Returns the versions adopted. A version that does not verify raises (``LedgerError``) after
    the ones before it were adopted and saved.
    """
    held = {v.membership.version: v.id for v in chain.versions}
    adopted: list[SignedMembership] = []
    for signed in sorted(offered, key=lambda s: s.membership.version):
        number = signed.membership.version
        if number in held:
            if held[number] != signed.id:
                raise MembershipChainError(
                    f"membership v{number}: expected id {held[number]} (held), found "
                    f"{signed.id}: a conflicting version"
                )
            continue
        chain.extend(signed)
        held[number] = signed.id
        if store is not None:
            store.save_membership(signed)
        adopted.append(signed)
    return adopted


__all__ = [
    "INGEST_CHUNK",
    "FeedClaims",
    "ForkEvidencePeer",
    "LocalPeer",
    "Peer",
    "PeerError",
    "PullResult",
    "adopt_memberships",
    "merge_reports",
    "pull",
    "pull_many",
    "pull_round",
    "read_heads",
]
