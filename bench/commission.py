"""Commissioning throughput: packs per second through ``NodeService.commission``.

Each timed run commissions one batch into a fresh SQLite store: the same path the HTTP API
takes (inside ``Store.write_local``: sign chunks of serials after the stored head, verify them,
apply the lifecycle strictly, write entries and pack rows in one transaction). Store creation
and the serials (when supplied) are prepared before the clock starts.

Alone, beside its floor: ``python -m bench.commission`` alternates commissioning runs (serials
supplied) with ``bench.floors.sqlite_floor_once`` on the same serials, in one process, and
prints each round and the best of each as JSON lines, per second of wall time and per second of
the process's CPU time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter, process_time

from bench import floors
from bench.consortium import EXPIRY, GTIN, LOT, MANUFACTURER_FEED, feed_key, membership
from bench.files import TimedRun, remove_sqlite, sqlite_bytes
from ledger.membership import Membership
from ledger.serials import generate_serials
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
        start, cpu = perf_counter(), process_time()
        if serials is not None:
            service.commission(GTIN, LOT, EXPIRY, serials=serials, chunk=chunk)
        else:
            service.commission(GTIN, LOT, EXPIRY, count=packs, chunk=chunk)
        seconds, cpu = perf_counter() - start, process_time() - cpu
        stored = store.count("packs")
    finally:
        store.close()
    if stored != packs:
        raise RuntimeError(f"expected {packs} packs stored after commissioning, found {stored}")
    size = sqlite_bytes(path)
    if not keep:
        remove_sqlite(path)
    return TimedRun(seconds, packs, size, cpu)


def beside_floor(packs: int, rounds: int) -> dict[str, float]:
    """``rounds`` alternating runs of ``commission_once`` (serials supplied) and the SQLite
    floor on the same serials, after a warm-up of each; prints every round, returns the best."""
    members = membership()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        serials = generate_serials(packs)
        rows = floors.pack_rows(serials)
        commission_once(work / "warm.db", 2_000, serials=serials[:2_000], members=members)
        floors.sqlite_floor_once(work / "warm-floor.db", rows[:2_000])
        best_commission = best_floor = best_commission_cpu = best_floor_cpu = 0.0
        for round_ in range(rounds):
            done = commission_once(work / "commission.db", packs, serials=serials, members=members)
            floor = floors.sqlite_floor_once(work / "floor.db", rows)
            best_commission = max(best_commission, done.per_s)
            best_floor = max(best_floor, floor.per_s)
            best_commission_cpu = max(best_commission_cpu, packs / done.cpu_seconds)
            best_floor_cpu = max(best_floor_cpu, packs / floor.cpu_seconds)
            line = {
                "round": round_,
                "commission_packs_per_s": round(done.per_s),
                "floor_sqlite_rows_per_s": round(floor.per_s),
                "ratio": round(done.per_s / floor.per_s, 3),
                # per CPU-second: what a busy machine disturbs less
                "commission_packs_per_cpu_s": round(packs / done.cpu_seconds),
                "floor_rows_per_cpu_s": round(packs / floor.cpu_seconds),
                "cpu_ratio": round(floor.cpu_seconds / done.cpu_seconds, 3),
                "load_1m": round(os.getloadavg()[0], 1),
            }
            print(json.dumps(line), flush=True)
    return {
        "packs": packs,
        "commission_packs_per_s": round(best_commission),
        "floor_sqlite_rows_per_s": round(best_floor),
        "ratio": round(best_commission / best_floor, 3),
        "commission_packs_per_cpu_s": round(best_commission_cpu),
        "floor_rows_per_cpu_s": round(best_floor_cpu),
        "cpu_ratio": round(best_commission_cpu / best_floor_cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=int, default=100_000, help="packs per run (100,000)")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each (default 4)")
    args = parser.parse_args()
    print(json.dumps({"best": beside_floor(args.packs, args.rounds)}))


if __name__ == "__main__":
    main()
