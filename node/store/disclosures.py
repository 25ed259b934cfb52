"""A pack's provenance as a verifier may see it: every entry with the leaves of that pack and
its containers disclosed, and no other pack named (architecture §7, docs/spec/proofs.md).

A v2 entry that commits to packs is shown with its signed root and the disclosed leaves only.
An old v1 entry that lists other packs cannot be shown without them: it is withheld, and the
answer says so (a scanner holds the pack). Trees of large entries are kept for the next
question about one of their packs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Connection

from ledger.entry import SignedEntry
from ledger.identifiers import parse_subject
from ledger.kinds import Kind
from ledger.openings import OpenedTree, Sidecar, open_sidecar
from node.store.ledger_reads import provenance_followed

#: Opened trees kept per process: a 1,000-pack entry's tree is ~64 KB, a 100,000-pack one
#: ~6 MB; the packs asked about in a day cluster in few entries.
_KEPT = 64


@dataclass(frozen=True)
class PackProvenance:
    """``entries`` carry disclosures (never a sidecar); ``withheld`` are ids of v1 entries that
    list other packs and so are not shown."""

    entries: list[SignedEntry]
    withheld: list[str]


class _Trees:
    def __init__(self) -> None:
        self._kept: OrderedDict[str, OpenedTree] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, entry: SignedEntry, sidecar: Sidecar) -> OpenedTree:
        with self._lock:
            tree = self._kept.get(entry.id)
            if tree is not None:
                self._kept.move_to_end(entry.id)
                return tree
        p = entry.payload
        tree = open_sidecar(p.kind, p.subjects, p.body, p.v, sidecar)
        with self._lock:
            self._kept[entry.id] = tree
            while len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
        return tree


_TREES = _Trees()


def pack_provenance(conn: Connection, uri: str) -> PackProvenance:
    entries, followed = provenance_followed(conn, uri)
    serial = parse_subject(uri).serial
    shown: list[SignedEntry] = []
    withheld: list[str] = []
    for entry in entries:
        p = entry.payload
        if not p.commits:
            if _names_others(entry, followed):
                withheld.append(entry.id)
            else:
                shown.append(entry.with_opening(None))
            continue
        if not isinstance(entry.opening, Sidecar):
            withheld.append(entry.id)  # a store never holds one without: counted, not shown
            continue
        wanted = [serial] if p.kind is Kind.COMMISSION else sorted(followed)
        disclosed = _TREES.of(entry, entry.opening).disclose(v for v in wanted if v is not None)
        shown.append(entry.with_opening(disclosed or None, check=False))
    return PackProvenance(shown, withheld)


def _names_others(entry: SignedEntry, followed: set[str]) -> bool:
    """Whether a v1 entry names a pack or container the verifier did not follow to."""
    p = entry.payload
    if p.kind is Kind.COMMISSION:
        return len(entry.about) > 1
    return any(s not in followed for s in p.subjects)
