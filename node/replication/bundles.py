"""Bundles: ledger updates carried by file to a post with no link (``medtrace sync``).

``export_bundle`` writes what a store holds (or what a post's heads file says it lacks) in the
format of ``node.replication.bundle_format``; ``write_heads`` writes the heads file a post sends
back. ``import_bundle`` verifies and stores what a bundle carries: its integrity comes from what
it carries, not from the file. Membership versions are verified from the importer's pinned
genesis, entries like replicated ones (``Store.ingest``). A forged or cut entry is refused, and
so is the rest of its feed after it; everything valid before it, and every other feed, is kept.
Checkpoint notes are then taken one by one exactly as a peer's are
(``node.replication.witnessing.take_note``): a note that does not verify is refused and counted,
never stored; a split view becomes the same evidence, frozen feed and alert as from a peer.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.membership import MembershipChain
from ledger.timefmt import now_ts
from node.replication.bundle_format import (
    BUNDLE_TYPE,
    HEADS_TYPE,
    MAX_DECOMPRESSED,
    VERSION,
    Bundle,
    BundleError,
    read_bundle,
)
from node.replication.pull import INGEST_CHUNK, adopt_memberships, merge_reports
from node.replication.witnessing import take_note
from node.store import FeedHead, IngestReport, Store, StoredCheckpoint

# -- export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    digest: str
    feeds: int
    entries: int
    memberships: int
    bytes: int
    checkpoints: int = 0


def export_bundle(
    store: Store, out: Path, *, since: Mapping[str, FeedHead] | None = None
) -> ExportSummary:
    """Write every entry ``store`` holds, or only those beyond ``since`` (a post's heads).

    Where the post's head differs from ours at its position, that entry is included too: the
    importer then sees two entries at one position (fork evidence, or a forgery it refuses).
    Every fork held goes along as evidence (``forks``), for the importer to verify and record,
    and so do the checkpoints a scanner needs (``bundle_checkpoints``) and the checkpoint forks.
    Written to a temporary file and renamed, so ``out`` is never a partial bundle.
    """
    held = store.ledger_heads()
    heads, digest = held.feeds, held.digest
    memberships = store.memberships()
    forks = store.forks()
    tmp = out.with_name(out.name + ".part")
    count = 0
    feeds = 0
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        header = {"type": BUNDLE_TYPE, "v": VERSION, "created": now_ts(), "digest": digest}
        gz.write(json.dumps(header)[:-1].encode() + b',\n"memberships": [')
        for index, signed in enumerate(memberships):
            gz.write((",\n" if index else "\n").encode() + json.dumps(signed.to_wire()).encode())
        gz.write(b'],\n"entries": [')
        for feed, head in sorted(heads.items()):
            start = _start_for(store, feed, since.get(feed) if since is not None else None)
            if start >= head.size:
                continue
            feeds += 1
            seq = start
            while seq < head.size:
                page = store.entries(feed, seq, 2000)
                if not page:
                    break
                for entry in page:
                    gz.write((",\n" if count else "\n").encode())
                    gz.write(json.dumps(entry.to_wire()).encode())
                    count += 1
                seq = page[-1].payload.seq + 1
        gz.write(b'\n],\n"forks": [')
        for index, (first, second) in enumerate(forks):
            gz.write((",\n" if index else "\n").encode())
            gz.write(json.dumps([first.to_wire(), second.to_wire()]).encode())
        notes = bundle_checkpoints(store)
        gz.write(b'\n],\n"checkpoints": ' + json.dumps([n.decode() for n in notes]).encode())
        evidence = [
            {
                "feed": f.feed,
                "size": f.size,
                "reason": f.reason,
                "notes": [n.decode() for n in (f.first, f.second) if n],
            }
            for f in store.checkpoint_forks()
        ]
        gz.write(b',\n"checkpoint_evidence": ' + json.dumps(evidence).encode() + b"}\n")
    os.replace(tmp, out)
    size = out.stat().st_size
    return ExportSummary(out, digest, feeds, count, len(memberships), size, len(notes))


def bundle_checkpoints(store: Store) -> list[bytes]:
    """Per feed held: the newest checkpoint with the quorum of cosignatures the membership's
    witness policy asks for, the newest with any, and the newest of all, each once. A scanner
    needs the first; the others let the post gather cosignatures from later bundles or peers.
    Every feed, not only those with new entries: a post holding a feed's entries still needs
    fresh cosignatures of it (the policy's maximum age)."""
    versions = store.memberships()
    quorum = versions[-1].membership.witnesses().quorum if versions else 1
    notes: list[bytes] = []
    for feed in sorted(store.heads()):
        picked: dict[int, StoredCheckpoint] = {}
        for cosigners in (max(quorum, 1), 1, 0):
            held = store.checkpoint(feed, cosigners=cosigners)
            if held is not None:
                picked.setdefault(held.size, held)
        notes.extend(cp.note for _, cp in sorted(picked.items()))
    return notes


def _start_for(store: Store, feed: str, theirs: FeedHead | None) -> int:
    if theirs is None or theirs.size == 0:
        return 0
    held = store.entries(feed, theirs.size - 1, 1)
    if held and held[0].id != theirs.head:
        return theirs.size - 1  # the post holds another entry there: send ours as evidence
    return theirs.size


def heads_document(store: Store, node: str | None = None) -> dict[str, Any]:
    heads = store.ledger_heads()
    doc: dict[str, Any] = {
        "type": HEADS_TYPE,
        "v": VERSION,
        "created": now_ts(),
        "digest": heads.digest,
        "feeds": heads.feeds_json(),
    }
    if node:
        doc["node"] = node
    return doc


def write_heads(store: Store, out: Path, node: str | None = None) -> dict[str, Any]:
    doc = heads_document(store, node)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    return doc


def iter_chunks(
    entries: list[SignedEntry], size: int = INGEST_CHUNK
) -> Iterator[list[SignedEntry]]:
    ordered = sorted(entries, key=lambda e: e.payload.order_key)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


# -- import ------------------------------------------------------------------------------------


@dataclass
class CheckpointsTaken:
    """What became of a bundle's checkpoint notes (``witnessing.Taken`` statuses, counted):
    ``taken`` (new, or more cosignatures), ``held`` (nothing new), ``ahead`` (beyond the
    entries held), ``frozen`` (the feed is), ``fork`` (evidence kept, feed frozen, alert) and
    ``refused`` (does not verify: not stored), with why each refused one was."""

    counts: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    forks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        statuses = ("taken", "held", "ahead", "frozen", "fork", "refused")
        return {
            **{s: self.counts[s] for s in statuses},
            "refusals": self.refused[:50],
            "fork_reasons": self.forks[:50],
        }


@dataclass
class ImportSummary:
    report: IngestReport
    entries: int  # entries read from the bundle
    malformed: list[tuple[int, str, str]]
    memberships_adopted: list[int]
    truncated: str | None
    digest_before: str
    digest_after: str
    bundle_digest: str | None
    checkpoints: CheckpointsTaken = field(default_factory=CheckpointsTaken)

    @property
    def rejected(self) -> int:
        return len(self.report.rejected) + len(self.malformed) + len(self.checkpoints.refused)

    def to_json(self) -> dict[str, Any]:
        r = self.report
        return {
            "entries": self.entries,
            "added": r.added,
            "duplicates": r.duplicates,
            "alerts": len(r.alerts),
            "alert_codes": sorted({a.code.value for a in r.alerts}),
            "forks": len(r.forks),
            "rejected": self.rejected,
            "refusals": [{"entry": e, "reason": why} for e, why in r.rejected]
            + [
                {"entry": claimed, "position": pos, "reason": why}
                for pos, claimed, why in self.malformed
            ],
            "memberships_adopted": self.memberships_adopted,
            "truncated": self.truncated,
            "digest_before": self.digest_before,
            "digest": self.digest_after,
            "bundle_digest": self.bundle_digest,
            "same_as_bundle": self.bundle_digest == self.digest_after,
            "checkpoints": self.checkpoints.to_json(),
        }


def import_bundle(
    store: Store, path: Path, *, genesis_id: str | None = None, max_bytes: int = MAX_DECOMPRESSED
) -> ImportSummary:
    """Verify and store what ``path`` carries: membership versions that follow ours from the
    pinned genesis, then entries through ``Store.ingest`` (in order key, in chunks)."""
    bundle = read_bundle(path, max_bytes=max_bytes)
    before = store.digest()
    _same_consortium(store, genesis_id, bundle)
    chain = _chain(store, genesis_id, bundle)
    adopted: list[int] = []
    try:
        adopted = [
            v.membership.version for v in adopt_memberships(chain, bundle.memberships, store)
        ]
    except LedgerError as exc:
        # The versions before the bad one are adopted; entries are checked against what holds.
        bundle.malformed.append((-1, "", f"membership refused: {exc}"))
    report = IngestReport()
    for chunk in iter_chunks(bundle.entries):
        merge_reports(report, store.ingest(chunk, chain.current))
    if bundle.forks:  # after the entries: evidence is taken at positions held
        merge_reports(report, store.record_forks(bundle.forks, chain.current))
    taken = take_checkpoints(store, chain, bundle, genesis_id or store.meta("genesis_id"))
    return ImportSummary(
        report,
        len(bundle.entries) + sum(1 for pos, _, _ in bundle.malformed if pos >= 0),
        bundle.malformed,
        adopted,
        bundle.truncated,
        before,
        store.digest(),
        bundle.digest,
        taken,
    )


def take_checkpoints(
    store: Store, chain: MembershipChain, bundle: Bundle, genesis: str | None
) -> CheckpointsTaken:
    """After the entries (a checkpoint is checked against the entries held): every note, then
    every note of the exporter's checkpoint forks, as ``witness_peer`` takes a peer's. The
    importer does not cosign (a bundle is not a witness's round with its writer)."""
    taken = CheckpointsTaken()
    now = int(time.time())
    evidence = [n for fork in bundle.checkpoint_evidence for n in fork.notes]
    for note in [*bundle.checkpoints, *evidence]:
        result = take_note(store, chain.current, note, now, key=None, genesis_id=genesis)
        taken.counts[result.status if result.status != "cosigned" else "taken"] += 1
        if result.status == "refused":
            taken.refused.append(result.message)
        elif result.status == "fork":
            taken.forks.append(result.message)
    return taken


def _same_consortium(store: Store, genesis_id: str | None, bundle: Bundle) -> None:
    """Refuse, before anything is stored, a bundle of another consortium: its genesis (the
    first membership version it carries) is not the one this store is pinned to."""
    pinned = genesis_id or store.meta("genesis_id")
    theirs = bundle.memberships[0] if bundle.memberships else None
    if pinned is None or theirs is None or theirs.membership.version != 1:
        return
    if theirs.id == pinned:
        return
    held = store.memberships()
    ours = f"consortium {held[0].membership.consortium!r} " if held else ""
    raise BundleError(
        f"this bundle belongs to consortium {theirs.membership.consortium!r} (genesis "
        f"{theirs.id[:16]}…), this node to {ours or 'another consortium '}(genesis "
        f"{pinned[:16]}…): nothing was imported"
    )


def _chain(store: Store, genesis_id: str | None, bundle: Bundle) -> MembershipChain:
    pinned = genesis_id or store.meta("genesis_id")
    held = store.memberships()
    if pinned is None:
        raise BundleError(
            "the store names no genesis membership: pass the pinned genesis id (--genesis)"
        )
    start = held[0] if held else (bundle.memberships[0] if bundle.memberships else None)
    if start is None:
        raise BundleError("expected membership versions in the store or in the bundle, found none")
    try:
        chain = MembershipChain(start, pinned)
        chain.extend_all(held[1:])
    except LedgerError as exc:
        raise BundleError(f"membership: {exc}") from None
    if not held:
        store.save_membership(start)
        if store.meta("genesis_id") is None:
            store.set_meta("genesis_id", pinned)
    return chain
