"""Replication catch-up alone, beside the Ed25519 floor measured in the same run.

The shape of ``medtrace bench``'s catch-up phase (bench/served.py, ``catchup``): four
``medtrace node run`` processes, every one a peer of every other; the regulator's node is
stopped, the manufacturer writes ``--entries`` entries (one pack per commissioning entry), the
two other nodes catch up, then the regulator's node starts and the clock runs from its first
healthy answer until its digest equals the writer's. ``--rounds`` repeats that on the same
network (each round adds ``--entries`` more). Then ``floors.ed25519_floor`` in this process.

    .venv/bin/python -m bench.catchup --entries 10000 --rounds 3

prints one JSON object: each round's entries per second, the best, the floor (best of one run
before the network starts and one after it stopped), the best's ratio to it, the CPU time per
entry of the catching-up node and of the three others (serving its pulls) in each round's
window, and the 1-minute load average at the start and at the end.

    .venv/bin/python -m bench.catchup --in-process --entries 10000 --rounds 3

measures the same pull without HTTP or node processes, for profiling: a store holding
``--entries`` one-pack commissioning entries (as the writer signs them) is pulled by a fresh
store through ``node.replication.pull.pull`` and a ``LocalPeer`` (the fetch, every check and the
ingest), ``--rounds`` times, each beside its wall and CPU time (this process's threads and
its live children: the signature helpers, ``node.signature_workers``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import requests

from bench import floors, served
from bench.consortium import EXPIRY, GTIN, LOT, MANUFACTURER_FEED, feed_key, membership
from bench.cpu import group_cpu_s, tree_cpu_s
from bench.nodes import Cluster, Node, consortium
from ledger.serials import generate_serials
from node.replication.pull import LocalPeer, pull
from node.service import NodeService
from node.store import Store

ORGS = ("manufacturer", "distributor", "pharmacy", "regulator")


@dataclass(frozen=True)
class Round:
    entries_per_s: float
    late_cpu_us: float  # CPU µs per entry of the catching-up node's processes
    peers_cpu_us: float  # the same for the three other nodes together


def _group(node: Node) -> int:
    process = node.runner.process
    if process is None:
        raise RuntimeError(f"expected node {node.name} running, found it stopped")
    return process.pid  # started with start_new_session: its pid is its process group


def catchup_round(writer: Node, others: list[Node], late: Node, entries: int) -> Round:
    """``served.catchup``, with the CPU time the nodes spent in the measured window."""
    late.stop()
    with requests.Session() as session:
        served._commission(session, writer, entries, chunk=1)
        target = served._digest(session, writer)
        served.wait_converged(session, others, target, 1_800, 0.2)
        late.start()
        late.wait_healthy()
        groups = [_group(n) for n in others]
        began, late_cpu = perf_counter(), group_cpu_s(_group(late))
        peers_cpu = sum(group_cpu_s(g) for g in groups)
        served.wait_converged(session, [late], target, 1_800, 0.05)
        seconds = perf_counter() - began
        late_cpu = group_cpu_s(_group(late)) - late_cpu
        peers_cpu = sum(group_cpu_s(g) for g in groups) - peers_cpu
    return Round(entries / seconds, 1e6 * late_cpu / entries, 1e6 * peers_cpu / entries)


def catchup_rounds(root: Path, entries: int, rounds: int) -> list[Round]:
    """Each catch-up round on a fresh four-node network under ``root``."""
    with Cluster(root, consortium(root)) as cluster:
        for org in ORGS:
            cluster.add(org, org)
        cluster.peer_all()
        cluster.start()
        nodes = list(cluster.nodes.values())
        writer, late = cluster.nodes["manufacturer"], cluster.nodes["regulator"]
        others = [n for n in nodes if n is not late]
        return [catchup_round(writer, others, late, entries) for _ in range(rounds)]


def measure(entries: int, rounds: int, verifications: int = 10_000) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    floor = floors.ed25519_floor(verifications)
    with tempfile.TemporaryDirectory(prefix="medtrace-bench-catchup-") as tmp:
        done = catchup_rounds(Path(tmp), entries, rounds)
    floor = max(floor, floors.ed25519_floor(verifications))
    best = max(r.entries_per_s for r in done)
    return {
        "replication_catchup_entries_per_s": round(best, 1),
        "catchup_rounds_entries_per_s": [round(r.entries_per_s, 1) for r in done],
        "catchup_late_cpu_us_per_entry": [round(r.late_cpu_us, 1) for r in done],
        "catchup_peers_cpu_us_per_entry": [round(r.peers_cpu_us, 1) for r in done],
        "catchup_entries": entries,
        "floor_ed25519_verify_per_s": round(floor, 1),
        "catchup_ratio_to_floor": round(best / floor, 3),
        "load_1m_start": round(load_before, 2),
        "load_1m_end": round(os.getloadavg()[0], 2),
    }


def in_process(entries: int, rounds: int, verifications: int = 10_000) -> dict[str, Any]:
    """The pull alone: a fresh store pulls ``entries`` entries from a ``LocalPeer``."""
    members = membership()
    load_before = os.getloadavg()[0]
    floor = floors.ed25519_floor(verifications)
    walls: list[float] = []
    cpus: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="medtrace-bench-catchup-") as tmp,
        Store(f"sqlite:///{tmp}/writer.db") as writer,
    ):
        service = NodeService(writer, members, MANUFACTURER_FEED, feed_key(MANUFACTURER_FEED))
        service.commission(GTIN, LOT, EXPIRY, serials=generate_serials(entries), chunk=1)
        for number in range(rounds):
            with Store(f"sqlite:///{tmp}/late-{number}.db") as late:
                began, cpu = perf_counter(), tree_cpu_s(os.getpid())
                added = pull(LocalPeer("writer", writer), late, members).added
                walls.append(perf_counter() - began)
                cpus.append(tree_cpu_s(os.getpid()) - cpu)
            if added != entries:
                raise RuntimeError(f"expected {entries} entries added, found {added}")
    floor = max(floor, floors.ed25519_floor(verifications))
    best = entries / min(walls)
    return {
        "catchup_in_process_entries_per_s": round(best, 1),
        "catchup_in_process_rounds_entries_per_s": [round(entries / w, 1) for w in walls],
        "catchup_in_process_cpu_us_per_entry": [round(1e6 * c / entries, 1) for c in cpus],
        "catchup_entries": entries,
        "floor_ed25519_verify_per_s": round(floor, 1),
        "catchup_ratio_to_floor": round(best / floor, 3),
        "load_1m_start": round(load_before, 2),
        "load_1m_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000, help="entries per round")
    parser.add_argument("--rounds", type=int, default=3, help="catch-up rounds (default 3)")
    parser.add_argument(
        "--in-process", action="store_true", help="the pull alone: no HTTP, no node processes"
    )
    args = parser.parse_args()
    run = in_process if args.in_process else measure
    print(json.dumps(run(args.entries, args.rounds)))


if __name__ == "__main__":
    main()
