"""Whole-consignment verification over HTTP (issue 15): ``POST /api/v1/scan`` with a pallet's
code to a real ``medtrace node run`` process on SQLite.

The node's store holds 100,000 packs: 1,000 cases of 100 packs, 100 cases on each of 10
pallets, the 10 pallets in one shipping container. The figures:

* ``consignment_pallet_p50_ms`` / ``_p95_ms``: one pallet of 10,000 packs (target p95 ≤ 2 s);
* ``consignment_100k_p50_ms`` / ``_p95_ms``: the container, 100,000 packs (target ≤ 15 s);
* ``floor_consignment_read_*_ms``: the floor beside each, measured in the same run: the bare
  read of the same packs' states (the rows joined to their lots, as the check reads them) with
  stdlib ``sqlite3``, nothing judged or answered.

Each request is timed by the client, from sending to the last byte of the answer; the answer
must be RELEASE with every pack checked, or the run fails.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from time import perf_counter
from typing import Any

import requests

from bench.consortium import EXPIRY, GTIN, LOT
from bench.loadgen import percentile
from bench.nodes import PASSPHRASE, Cluster, Node
from bench.progress import Progress
from ledger.action import Action
from ledger.identifiers import container_uri, pack_uri, with_check_digit
from ledger.kinds import Kind
from ledger.serials import generate_serials
from node.service import NodeService
from node.store import Store

CASE_PACKS = 100
PALLET_CASES = 100
PALLETS = 10
PALLET_REPEATS = 10
CONSIGNMENT_REPEATS = 3
#: Targets of issue 15, shown beside the figures.
PALLET_TARGET_MS = 2_000
CONSIGNMENT_TARGET_MS = 15_000
_PREFIX = "9506000"  # the bench consortium manufacturer's company prefix
PRODUCT = {
    "name": "Bench Paracetamol 500 mg tablets",
    "commonName": "paracetamol",
    "form": "tablet",
    "strength": "500 mg",
    "packSize": 20,
    "packType": "blister pack",
    "atc": "N02BE01",
    "hsCode": "300490",
    "netMassKg": "0.012",
    "referencePrice": {"amount": "3.20", "currency": "EUR"},
    "mah": "Bench Pharma",
    "markets": ["DE"],
}


def sscc(level: int, number: int) -> str:
    """SSCC ``number`` of a level (1 case, 2 pallet, 3 container) under the bench prefix."""
    return with_check_digit(f"{level}{_PREFIX}{number:09d}")


def _cases(pallet: int) -> Iterator[int]:
    return iter(range(pallet * PALLET_CASES, (pallet + 1) * PALLET_CASES))


def fill(cluster: Cluster, node: Node, progress: Progress) -> int:
    """Commission, pack and stack the consignment in the stopped node's store; its packs."""
    total = CASE_PACKS * PALLET_CASES * PALLETS
    progress.phase(f"consignment: commissioning and packing {total:,} packs", PALLETS)
    key = cluster.consortium.feed_key(node.feed, PASSPHRASE)
    with Store(node.database) as store:
        service = NodeService(store, cluster.consortium.membership, node.feed, key)
        for pallet in range(PALLETS):
            batch = service.commission(
                GTIN, LOT, EXPIRY, serials=generate_serials(CASE_PACKS * PALLET_CASES)
            )
            serials = list(batch.serials)
            steps = [
                Action(
                    Kind.PACK,
                    [
                        container_uri(sscc(1, case)),
                        *(
                            pack_uri(GTIN, s)
                            for s in serials[i * CASE_PACKS : (i + 1) * CASE_PACKS]
                        ),
                    ],
                )
                for i, case in enumerate(_cases(pallet))
            ]
            service.submit_many(steps)
            cases = [container_uri(sscc(1, c)) for c in _cases(pallet)]
            service.submit(Action(Kind.PACK, [container_uri(sscc(2, pallet)), *cases]))
            progress.advance()
        pallets = [container_uri(sscc(2, p)) for p in range(PALLETS)]
        service.submit(Action(Kind.PACK, [container_uri(sscc(3, 0)), *pallets]))
        stored = store.count("packs")
    if stored != total:
        raise RuntimeError(f"expected {total} packs stored, found {stored}")
    return total


def floor_read_ms(database: Path, containers: list[str], repeats: int) -> float:
    """Median ms of the bare read of the packs directly inside ``containers`` with their lots
    (stdlib ``sqlite3``): what the check cannot go below."""
    marks = ",".join("?" * len(containers))
    query = (
        "SELECT p.gtin, p.serial, l.lot, l.expiry, l.recalled_by, p.status, p.destination "  # noqa: S608 - only ?s
        f"FROM packs p JOIN lots l ON l.id = p.lot WHERE p.container IN ({marks})"
    )
    times = []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        for _ in range(repeats + 1):  # the first warms the page cache
            began = perf_counter()
            rows = conn.execute(query, containers).fetchall()
            times.append(perf_counter() - began)
    if not rows:
        raise RuntimeError("expected the floor to read packs, found none")
    return 1000 * statistics.median(times[1:])


def _scan(session: requests.Session, node: Node, code: str, packs: int) -> float:
    began = perf_counter()
    response = session.post(
        f"{node.url}/api/v1/scan",
        json={"text": f"(00){code}", "context": "border"},
        headers={"Authorization": f"Bearer {node.operator}"},
        timeout=120,
    )
    seconds = perf_counter() - began
    answer: dict[str, Any] = response.json()
    if response.status_code != 200 or answer.get("verdict") != "RELEASE":
        raise RuntimeError(f"expected RELEASE for {code}, found {response.status_code} {answer}")
    if answer["checked"] != packs:
        raise RuntimeError(f"expected {packs} packs checked, found {answer['checked']}")
    return 1000 * seconds


def measure(cluster: Cluster, progress: Progress) -> dict[str, float]:
    """Build the consignment on a fresh node, serve it, time the scans and their floors."""
    node = cluster.add("consignment", "manufacturer")
    total = fill(cluster, node, progress)
    pallet_packs = CASE_PACKS * PALLET_CASES
    database = Path(node.database)
    pallet_cases = [container_uri(sscc(1, c)) for c in _cases(0)]
    every_case = [container_uri(sscc(1, c)) for c in range(PALLETS * PALLET_CASES)]
    floor_pallet = floor_read_ms(database, pallet_cases, PALLET_REPEATS)
    floor_all = floor_read_ms(database, every_case, CONSIGNMENT_REPEATS)
    cluster.start("consignment")
    progress.phase(
        f"consignment scans: {PALLET_REPEATS} pallets of {pallet_packs:,}, "
        f"{CONSIGNMENT_REPEATS} consignments of {total:,}",
        PALLET_REPEATS + CONSIGNMENT_REPEATS,
    )
    try:
        with requests.Session() as session:
            auth = {"Authorization": f"Bearer {node.operator}"}
            registered = session.post(
                f"{node.url}/api/v1/products", json={"gtin": GTIN, **PRODUCT}, headers=auth
            )
            if registered.status_code != 201:
                raise RuntimeError(f"expected the product registered, found {registered.text}")
            _scan(session, node, sscc(2, 1), pallet_packs)  # warm-up, not counted
            pallet = []
            for _ in range(PALLET_REPEATS):
                pallet.append(_scan(session, node, sscc(2, 0), pallet_packs))
                progress.advance()
            whole = []
            for _ in range(CONSIGNMENT_REPEATS):
                whole.append(_scan(session, node, sscc(3, 0), total))
                progress.advance()
    finally:
        node.stop()
        del cluster.nodes["consignment"]
    pallet.sort()
    whole.sort()
    return {
        "consignment_pallet_packs": pallet_packs,
        "consignment_pallet_p50_ms": percentile(pallet, 0.50),
        "consignment_pallet_p95_ms": percentile(pallet, 0.95),
        "floor_consignment_read_pallet_ms": floor_pallet,
        "consignment_100k_packs": total,
        "consignment_100k_p50_ms": percentile(whole, 0.50),
        "consignment_100k_p95_ms": percentile(whole, 0.95),
        "floor_consignment_read_100k_ms": floor_all,
    }


def table_rows(figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """Rows for ``medtrace bench``'s table: (metric, value, floor, ratio)."""
    if "consignment_pallet_p95_ms" not in figures:
        return []
    rows = []
    for name, target in (("pallet", PALLET_TARGET_MS), ("100k", CONSIGNMENT_TARGET_MS)):
        packs = int(figures[f"consignment_{name}_packs"])
        p50, p95 = figures[f"consignment_{name}_p50_ms"], figures[f"consignment_{name}_p95_ms"]
        floor = figures[f"floor_consignment_read_{name}_ms"]
        rows.append(
            (
                f"whole consignment, {packs:,} packs: p50 / p95 (target p95 ≤ {target:,} ms)",
                f"{p50:,.0f} / {p95:,.0f} ms",
                f"{floor:,.0f} ms bare read",
                f"{p95 / floor:,.1f}x",
            )
        )
    return rows
