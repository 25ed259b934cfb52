"""Verification throughput: stored entries fully re-verified per second by ``verify_store``.

The store holds many small entries, the shape of day-to-day traffic: a few commissioning
entries, then for each pack a ship (manufacturer to pharmacy), a receive and a dispense, one
pack per entry. They are signed up front and stored the way a node stores a peer's entries,
through ``Store.ingest`` in replication-sized pages; the ingest time is kept as a by-product.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from bench.consortium import (
    EXPIRY,
    GTIN,
    LOT,
    MANUFACTURER_FEED,
    PHARMACY_FEED,
    PHARMACY_ORG,
    Clock,
    feed_key,
)
from bench.files import TimedRun
from bench.progress import NoProgress, Progress
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri, pack_uri
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.serials import generate_serials
from node.store import Store
from node.verify import verify_store

#: Entries per ``ingest`` call, as ``node.replication.pull.pull`` fetches them.
PAGE = 1_000
#: Entries written per pack after its commissioning: ship, receive, dispense.
PER_PACK = 3


@dataclass(frozen=True)
class BuiltStore:
    packs: int
    ingest: TimedRun


def sign_traffic(entries: int, chunk: int = 1_000) -> tuple[list[SignedEntry], int]:
    """About ``entries`` signed entries (commissioning first); and the number of packs."""
    packs = max(1, entries // PER_PACK)
    serials = generate_serials(packs)
    clock = Clock()
    maker = FeedWriter(MANUFACTURER_FEED, feed_key(MANUFACTURER_FEED))
    pharmacy = FeedWriter(PHARMACY_FEED, feed_key(PHARMACY_FEED))
    signed = [
        maker.append(
            Kind.COMMISSION,
            ts=clock(),
            subjects=[lot_uri(GTIN, LOT)],
            body={
                "gtin": GTIN,
                "ilmd": {"lotNumber": LOT, "itemExpirationDate": EXPIRY},
                "serials": serials[i : i + chunk],
            },
        )
        for i in range(0, packs, chunk)
    ]
    for serial in serials:
        uri = pack_uri(GTIN, serial)
        ship = maker.append(
            Kind.SHIP, ts=clock(), subjects=[uri], body={"destination": PHARMACY_ORG}
        )
        receive = pharmacy.append(Kind.RECEIVE, ts=clock(), subjects=[uri], refs=[ship.id])
        dispense = pharmacy.append(Kind.DISPENSE, ts=clock(), subjects=[uri])
        signed += [ship, receive, dispense]
    return signed, packs


def build_store(
    path: Path, entries: int, members: Membership, progress: Progress | None = None
) -> BuiltStore:
    """A store at ``path`` holding about ``entries`` entries, ingested page by page."""
    progress = progress or NoProgress()
    signed, packs = sign_traffic(entries)
    progress.phase(f"ingesting {len(signed):,} signed entries", len(signed))
    seconds = 0.0
    with Store(path) as store:
        for start in range(0, len(signed), PAGE):
            page = signed[start : start + PAGE]
            began = perf_counter()
            report = store.ingest(page, members)
            seconds += perf_counter() - began
            if report.rejected or report.alerts or report.added != len(page):
                raise RuntimeError(
                    f"expected every benchmark entry to be taken cleanly, found {report.added} "
                    f"added, rejected {report.rejected[:1]}, alerts {report.alerts[:1]}"
                )
            progress.advance(len(page))
    return BuiltStore(packs, TimedRun(seconds, len(signed)))


def verify_once(path: Path, members: Membership) -> tuple[float, int]:
    """Time one ``verify_store`` of the store at ``path``: (seconds, entries verified)."""
    with Store(path) as store:
        gc.collect()
        start = perf_counter()
        report = verify_store(store, members)
        seconds = perf_counter() - start
    return seconds, report.entries
