"""The EPCIS event index of one worker process: every stored entry as a query record, in ledger
order, read incrementally from the store (feeds only grow).

Operators' and auditors' full queries (and capture's "already held" check) use it; a verifier's
query about one EPC never builds it (``api.epcis._records_naming``: the store's subject index).
"""

from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, field

from flask import current_app

from api.context import NodeContext
from ledger.entry import SignedEntry
from ledger.epcis.query import Record
from ledger.epcis.render import render
from ledger.errors import LedgerError

#: Where the index lives in the Flask application's extensions.
INDEX_KEY = "medtrace-epcis-index"


@dataclass
class EventIndex:
    """Every stored entry as an EPCIS query record, in ledger order; read incrementally from
    the store (feeds only grow), one per application."""

    sizes: dict[str, int] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    by_event_id: dict[str, list[str]] = field(default_factory=dict)
    #: The error declarations, by the hash of the event each declares (which is their own).
    declared: dict[str, list[str]] = field(default_factory=dict)
    #: Every EPC some event names (canonical, as the records keep them).
    epcs: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, ctx: NodeContext) -> list[Record]:
        with self.lock:
            for feed, head in sorted(ctx.store.heads().items()):
                start = self.sizes.get(feed, 0)
                while start < head.size:
                    batch = ctx.store.entries(feed, start, 1000)
                    if not batch:
                        break
                    for entry in batch:
                        self._add(ctx, entry)
                    start = batch[-1].payload.seq + 1
                self.sizes[feed] = start
            return list(self.records)

    def _add(self, ctx: NodeContext, entry: SignedEntry) -> None:
        try:
            record = Record.of(render(entry, ctx.membership))
        except (LedgerError, ValueError, KeyError, TypeError) as exc:
            # A replicated entry whose EPCIS body cannot be read is still a signed fact; it
            # is only left out of the EPCIS view (the ledger's own checks report it).
            ctx.log.event("epcis: entry not indexed", level=logging.WARNING, error=str(exc)[:200])
            return
        bisect.insort(self.records, record, key=lambda r: r.order)
        self.epcs.update(record.any_epcs)
        for key in {record.event_id, record.hash} - {None}:
            assert key is not None
            self.by_event_id.setdefault(key, []).append(entry.id)
        if "errorDeclaration" in record.source.event:
            self.declared.setdefault(record.hash, []).append(entry.id)

    def entries_of_event(self, event_id: str) -> list[str]:
        return list(self.by_event_id.get(event_id, []))

    def entries_holding(self, key: str, declaration: bool) -> list[str]:
        """The entries already holding the event of id or hash ``key`` (of a declaration of it,
        when ``declaration``), for capture to store each event once."""
        return list((self.declared if declaration else self.by_event_id).get(key, []))

    def names(self, epc: str) -> bool:
        """Whether some event names ``epc`` (a canonical Digital Link)."""
        with self.lock:
            return epc in self.epcs


def event_index(ctx: NodeContext) -> EventIndex:
    index = current_app.extensions.get(INDEX_KEY)
    if not isinstance(index, EventIndex):
        index = current_app.extensions[INDEX_KEY] = EventIndex()
    index.refresh(ctx)
    return index
