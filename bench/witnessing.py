"""Checkpoint + cosign round over four nodes: how long after a write its feed's checkpoint is
cosigned by the three other nodes (issue 14, target p95 <= 1 s; docs/spec/proofs.md).

Four real ``medtrace node run`` processes (manufacturer, distributor, pharmacy, regulator), every
one a peer of every other, replicating every second and on hints. One round: the manufacturer
commissions one pack (one entry); the clock runs from its answer until the manufacturer's node
serves (``GET /api/v1/feeds/{feed}/checkpoint``) a checkpoint of the new size with the three
other nodes' cosignatures. Run alone::

    .venv/bin/python -m bench.witnessing --rounds 30
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.loadgen import percentile
from bench.nodes import Cluster, Node, consortium
from node.https import ca_session

ORGS = ("manufacturer", "distributor", "pharmacy", "regulator")
GTIN = "09506000134352"
POLL_S = 0.01
ROUND_TIMEOUT_S = 30.0


def _cosigned(note: str) -> tuple[int, int]:
    """(tree size, cosignature lines) of a checkpoint note."""
    text, _, block = note.partition("\n\n")
    size = int(text.split("\n")[1])
    return size, sum("/witness/" in line for line in block.split("\n"))


def cosign_rounds(writer: Node, witnesses: int, rounds: int) -> list[float]:
    """Seconds from each write at ``writer`` (one commissioned pack) until its node serves the
    checkpoint of the new size cosigned by ``witnesses`` nodes; one warm-up round first, not
    counted. The writer must be a manufacturer's node, peered with the witnesses."""
    session = ca_session(writer.ca) if writer.tls else requests.Session()
    auth = {"Authorization": f"Bearer {writer.operator}"}
    url = f"{writer.url}/api/v1/feeds/{writer.feed}/checkpoint"
    heads = session.get(f"{writer.url}/api/v1/feeds", headers=auth, timeout=30).json()
    size = heads["feeds"].get(writer.feed, {}).get("size", 0)
    times: list[float] = []
    for n in range(rounds + 1):
        answer = session.post(
            f"{writer.url}/api/v1/commission",
            json={
                "gtin": GTIN,
                "lot": f"CP{time.time_ns() % 10**9}",
                "expiry": "2028-06-30",
                "count": 1,
            },
            headers=auth,
            timeout=30,
        )
        answer.raise_for_status()
        started = time.perf_counter()
        size += len(answer.json()["entries"])
        while True:
            got = session.get(url, headers=auth, timeout=30)
            if got.status_code == 200:
                held, lines = _cosigned(got.text)
                if held >= size and lines >= witnesses:
                    break
            if time.perf_counter() - started > ROUND_TIMEOUT_S:
                raise RuntimeError(
                    f"expected the checkpoint of size {size} cosigned by {witnesses} nodes "
                    f"within {ROUND_TIMEOUT_S:g} s, found {got.status_code} {got.text[:200]!r}"
                )
            time.sleep(POLL_S)
        if n:
            times.append(time.perf_counter() - started)
    return times


def figures(times: list[float]) -> dict[str, float]:
    """p50 and p95 in ms, the names ``bench.runner.Results`` reports them under."""
    ordered = sorted(times)
    return {
        "checkpoint_cosign_p50_ms": 1000 * percentile(ordered, 0.50),
        "checkpoint_cosign_p95_ms": 1000 * percentile(ordered, 0.95),
    }


def checkpoint_rounds(root: Path, rounds: int = 30, *, tls: bool = False) -> dict[str, Any]:
    """Run ``rounds`` rounds on a fresh four-node network under ``root``."""
    with Cluster(root, consortium(root)) as cluster:
        for org in ORGS:
            cluster.add(org, org, tls=tls)
        cluster.peer_all()
        cluster.start()
        times = cosign_rounds(cluster.nodes["manufacturer"], len(ORGS) - 1, rounds)
    return {
        **{k: round(v, 1) for k, v in figures(times).items()},
        "checkpoint_cosign_max_ms": round(1000 * max(times), 1),
        "checkpoint_cosign_rounds": len(times),
        "checkpoint_cosign_nodes": len(ORGS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds counted (default 30)")
    parser.add_argument("--tls", action="store_true", help="HTTPS nodes, as deployed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medtrace-bench-witness-") as tmp:
        print(json.dumps(checkpoint_rounds(Path(tmp), args.rounds, tls=args.tls), indent=2))


if __name__ == "__main__":
    main()
