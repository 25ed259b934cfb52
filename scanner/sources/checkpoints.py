"""The feeds' newest checkpoints, with an inclusion proof of each entry a verdict rests on,
as a proof file carries them (``scanner/proof_file.py``): from a node online, or from a store
on this machine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.entry import SignedEntry
from node.store import Store
from scanner.sources.online import NodeClient


def _by_feed(entries: Iterable[SignedEntry]) -> dict[str, list[SignedEntry]]:
    feeds: dict[str, list[SignedEntry]] = {}
    for entry in entries:
        feeds.setdefault(entry.payload.feed, []).append(entry)
    return feeds


def checkpoints_online(client: NodeClient, entries: Iterable[SignedEntry]) -> list[dict[str, Any]]:
    """For each feed of ``entries``: the node's newest checkpoint of it (with the cosignatures
    it gathered) and the inclusion proof of each entry it covers. A feed the node holds no
    checkpoint of is left out (the verifier then says which entries no checkpoint covers)."""
    found = []
    for feed, held in sorted(_by_feed(entries).items()):
        proofs: list[dict[str, Any]] = []
        note: str | None = None
        size: int | None = None
        for entry in sorted(held, key=lambda e: e.payload.seq):
            query = f"seq={entry.payload.seq}" + (f"&size={size}" if size else "")
            response = client.get(f"/api/v1/feeds/{feed}/proof?{query}")
            if response.status_code != 200:
                continue
            try:
                answer = response.json()
                proof = {k: answer[k] for k in ("feed", "seq", "size", "leaf", "path", "entry")}
                other = answer.get("checkpoint")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a proof: the entry stays uncovered
            if not isinstance(other, str):
                continue
            if note is None:
                note, size = other, _size(answer)
            elif other != note:
                # Another checkpoint for the same size: kept, so the check sees a split view
                # (two roots) or a second note of one checkpoint.
                found.append({"feed": feed, "note": other, "proofs": [proof]})
                continue
            proofs.append(proof)
        if note is not None:
            found.append({"feed": feed, "note": note, "proofs": proofs})
    return found


def _size(answer: Any) -> int | None:
    size = answer.get("size")
    return size if type(size) is int else None


def checkpoints_of_store(store: Store, entries: Iterable[SignedEntry]) -> list[dict[str, Any]]:
    """The same from a node's store on this machine (offline)."""
    found: list[dict[str, Any]] = []
    feeds = _by_feed(entries)
    for fork in store.checkpoint_forks():  # a split view the store found and froze the feed for
        if fork.feed in feeds:
            found.append({"feed": fork.feed, "fork": f"at size {fork.size}: {fork.reason}"})
    for feed, held in sorted(feeds.items()):
        stored = store.checkpoint(feed)
        if stored is None:
            continue
        tree = store.feed_tree(feed)
        proofs = []
        for entry in sorted(held, key=lambda e: e.payload.seq):
            if entry.payload.seq < stored.size <= tree.size:
                proof = tree.inclusion(entry.payload.seq, stored.size)
                proofs.append({**proof.to_json(), "entry": entry.id})
        found.append({"feed": feed, "note": stored.note.decode(), "proofs": proofs})
    return found


__all__ = ["checkpoints_of_store", "checkpoints_online"]
