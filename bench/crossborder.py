"""Cross-border verification (issue 17): a customs post of country B scans a pack commissioned
in country A; B's node asks A's node over a link with ``LINK_DELAY_S`` added each way and
verifies the answer itself (scanner/cross_border.py). Beside it, the same packs scanned at A's
own node (the same-country figure).

Consortium A is the demo's (a manufacturer and a distributor node, peered: the distributor
cosigns the manufacturer's checkpoints, as deployed); consortium B has one customs
organisation whose membership pins A's genesis as a foreign root for A's company prefix, with
the delay proxy (bench/delay_proxy.py) as its endpoint. A serves HTTPS with its consortium's
certificates; B trusts A's CA for it and asks with a verifier token A issued to it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from time import perf_counter
from typing import Any

import requests

from bench.consignment import PRODUCT
from bench.consortium import EXPIRY, GTIN
from bench.delay_proxy import DelayProxy
from bench.loadgen import percentile
from bench.nodes import PASSPHRASE, Cluster, Node
from bench.progress import Progress
from keys.consortium import Consortium
from ledger.identifiers import with_check_digit
from ledger.kinds import Role
from ledger.membership import foreign_root
from node.config import ForeignConfig, load_config, save_config
from node.https import ca_session
from node.localnet.network import COMPANY_PREFIX, create_consortium

#: Added to each direction of the link between B's node and A's: 200 ms per round trip.
LINK_DELAY_S = 0.1
TARGET_P95_MS = 1_000
PACKS = 200
SCANS = 60
WARMUP = 3
LOT = "X1"


def _scan(session: requests.Session, node: Node, serial: str) -> tuple[float, dict[str, Any]]:
    code = f"(01){GTIN}(17){EXPIRY[2:4]}{EXPIRY[5:7]}{EXPIRY[8:10]}(10){LOT}(21){serial}"
    began = perf_counter()
    response = session.post(
        f"{node.url}/api/v1/scan",
        json={"text": code, "context": "border"},
        headers={"Authorization": f"Bearer {node.verifier}"},
        timeout=60,
    )
    seconds = perf_counter() - began
    answer: dict[str, Any] = response.json()
    if response.status_code != 200:
        raise RuntimeError(f"expected a verdict, found {response.status_code} {answer}")
    return 1000 * seconds, answer


def _released(session: requests.Session, node: Node, serial: str, timeout_s: float = 60) -> None:
    """Wait until ``node`` releases the pack: its checkpoints cosigned (A), A followed (B)."""
    deadline = time.monotonic() + timeout_s
    while True:
        _, answer = _scan(session, node, serial)
        if answer["verdict"] == "RELEASE":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected RELEASE at {node.name}, found {answer['reasons']}")
        time.sleep(0.5)


def _country_a(root: Path) -> tuple[Cluster, Node, list[str]]:
    cluster = Cluster(root, create_consortium(root / "consortium", PASSPHRASE))
    maker = cluster.add("manufacturer", "manufacturer", tls=True)
    cluster.add("distributor", "distributor", tls=True)
    cluster.peer_all()
    cluster.start()
    with ca_session(maker.ca) as session:
        auth = {"Authorization": f"Bearer {maker.operator}"}
        product = {"gtin": GTIN, **PRODUCT}
        session.post(f"{maker.url}/api/v1/products", json=product, headers=auth, timeout=60)
        made = session.post(
            f"{maker.url}/api/v1/commission",
            json={"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "count": PACKS},
            headers=auth,
            timeout=120,
        )
        if made.status_code != 201:
            raise RuntimeError(f"expected the packs commissioned, found {made.text[:300]}")
        serials: list[str] = made.json()["serials"]
        _released(session, maker, serials[0])
    return cluster, maker, serials


def _country_b(root: Path, a: Node, a_genesis: str, endpoint: str) -> Cluster:
    consortium = Consortium.create(root / "consortium", "bench-country-b", passphrase=PASSPHRASE)
    consortium.add_organisation(
        "customs",
        name="Tollpost 1",
        role=Role.CUSTOMS,
        gln=with_check_digit("703000000001"),
        feeds=("post-7",),
        passphrase=PASSPHRASE,
    )
    root_a = foreign_root(a_genesis, "medtrace-demo", "DE", [COMPANY_PREFIX], endpoint)
    proposed = consortium.membership.with_foreign_root(root_a)
    consortium.publish(consortium.sign(proposed, PASSPHRASE))
    cluster = Cluster(root, consortium)
    post = cluster.add("customs", "customs")
    assert a.ca is not None
    foreign = ForeignConfig(a_genesis, a.verifier, "", str(a.ca.resolve()))
    save_config(post.data, replace(load_config(post.data), foreign=(foreign,)))
    return cluster


def _timed(session: requests.Session, node: Node, serials: list[str]) -> list[float]:
    times = []
    for serial in serials:
        ms, answer = _scan(session, node, serial)
        if answer["verdict"] != "RELEASE":
            raise RuntimeError(f"expected RELEASE for {serial}, found {answer['reasons']}")
        times.append(ms)
    return sorted(times)


def measure(root: Path, progress: Progress, *, scans: int = SCANS) -> dict[str, float]:
    """Same-country and cross-border scans of the same ``scans`` packs: p50 and p95 in ms."""
    progress.phase(f"cross-border: two consortia, {LINK_DELAY_S * 1000:.0f} ms link delay", 3)
    a_cluster, maker, serials = _country_a(root / "a")
    a_genesis = load_config(maker.data).genesis_id
    progress.advance()
    try:
        with DelayProxy("127.0.0.1", maker.port, LINK_DELAY_S) as proxy:
            b_cluster = _country_b(root / "b", maker, a_genesis, f"https://127.0.0.1:{proxy.port}")
            with b_cluster:
                b_cluster.start()
                post = b_cluster.nodes["customs"]
                chosen = serials[WARMUP : WARMUP + scans]
                with ca_session(maker.ca) as home, requests.Session() as abroad:
                    _released(abroad, post, serials[0])
                    for serial in serials[1:WARMUP]:  # warm-up: connections, caches
                        _scan(abroad, post, serial)
                        _scan(home, maker, serial)
                    same = _timed(home, maker, chosen)
                    progress.advance()
                    cross = _timed(abroad, post, chosen)
                    progress.advance()
    finally:
        a_cluster.stop()
    return {
        "crossborder_link_delay_ms": LINK_DELAY_S * 1000,
        "crossborder_scans": len(cross),
        "crossborder_scan_p50_ms": percentile(cross, 0.50),
        "crossborder_scan_p95_ms": percentile(cross, 0.95),
        "same_country_scan_p50_ms": percentile(same, 0.50),
        "same_country_scan_p95_ms": percentile(same, 0.95),
    }


def table_rows(figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """Rows for ``medtrace bench``'s table: (metric, value, floor, ratio)."""
    if "crossborder_scan_p95_ms" not in figures:
        return []
    delay = figures["crossborder_link_delay_ms"]
    same_p50, same_p95 = figures["same_country_scan_p50_ms"], figures["same_country_scan_p95_ms"]
    cross_p50, cross_p95 = figures["crossborder_scan_p50_ms"], figures["crossborder_scan_p95_ms"]
    return [
        (
            f"cross-border scan, +{delay:.0f} ms each way: p50 / p95 "
            f"(target p95 ≤ {TARGET_P95_MS:,} ms)",
            f"{cross_p50:,.0f} / {cross_p95:,.0f} ms",
            f"{same_p50:,.0f} / {same_p95:,.0f} ms same country",
            f"{cross_p95 / same_p95:,.1f}x",
        )
    ]


__all__ = ["LINK_DELAY_S", "TARGET_P95_MS", "measure", "table_rows"]


if __name__ == "__main__":  # python -m bench.crossborder: this phase alone, as JSON
    import json
    import tempfile

    from bench.progress import NoProgress

    with tempfile.TemporaryDirectory(prefix="medtrace-bench-crossborder-") as scratch:
        print(json.dumps(measure(Path(scratch), NoProgress()), sort_keys=True))
