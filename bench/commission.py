"""Commissioning throughput: packs per second through ``NodeService.commission``.

Each timed run commissions one batch into a fresh SQLite store: the same path the HTTP API
takes (inside ``Store.write_local``: sign chunks of serials after the stored head, verify them,
apply the lifecycle strictly, write entries and pack rows in one transaction). Store creation
and the serials (when supplied) are prepared before the clock starts.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter

from bench.consortium import EXPIRY, GTIN, LOT, MANUFACTURER_FEED, feed_key, membership
from bench.files import TimedRun, remove_sqlite, sqlite_bytes
from ledger.membership import Membership
from node.service import NodeService
from node.store import Store


def commission_once(
    path: Path,
    packs: int,
    *,
    serials: Sequence[str] | None = None,
    chunk: int = 1_000,
    members: Membership | None = None,
    keep: bool = False,
) -> TimedRun:
    """Commission ``packs`` packs (``serials`` if given, else freshly generated) into a new store
    at ``path``; return the time of the ``commission`` call alone and the resting file size."""
    remove_sqlite(path)
    members = members or membership()
    store = Store(path)
    try:
        service = NodeService(store, members, MANUFACTURER_FEED, feed_key(MANUFACTURER_FEED))
        gc.collect()
        start = perf_counter()
        if serials is not None:
            service.commission(GTIN, LOT, EXPIRY, serials=serials, chunk=chunk)
        else:
            service.commission(GTIN, LOT, EXPIRY, count=packs, chunk=chunk)
        seconds = perf_counter() - start
        stored = store.count("packs")
    finally:
        store.close()
    if stored != packs:
        raise RuntimeError(f"expected {packs} packs stored after commissioning, found {stored}")
    size = sqlite_bytes(path)
    if not keep:
        remove_sqlite(path)
    return TimedRun(seconds, packs, size)
