"""Convergence after one append, beside its floor measured in the same run (issue 19).

Four real ``medtrace node run`` processes (manufacturer, distributor, pharmacy, regulator),
every one a peer of every other, replicating every second and on hints. Each append: the
manufacturer ships one pack (``POST /api/v1/actions/ship``); the clock runs from just before
the POST until every node's ``GET /api/v1/feeds`` ``digest`` equals the writer's, read after
the POST was acknowledged (each node still behind polled every ``POLL_S``). Appends are
``PAUSE_S`` apart. ``medtrace bench`` runs the same code (``bench.served.convergence``).

The floor is the least a convergence can take with nothing waiting: one HTTP round trip (the
hint to a peer), one pull of one entry (``GET /api/v1/feeds`` and a page of the newest entry
from the writer, through ``HttpPeer`` as a node pulls), and one more round trip (the digest
read that sees it). It leaves out the ingest and the fan-out to three nodes. One floor sample
is taken in the pause after each append, so it sees the same machine as the appends::

    .venv/bin/python -m bench.convergence --appends 40

prints one JSON object: p50 / p95 / p99 / max in ms, the floor and its parts, which node was
last how often, each append's time in ms, and the 1-minute load average at the start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, sleep
from typing import Any

import requests

from bench.consortium import EXPIRY, GTIN, LOT
from bench.loadgen import percentile
from bench.nodes import Cluster, Node, consortium
from bench.progress import NoProgress, Progress
from ledger.identifiers import pack_uri
from node.replication.http_peer import HttpPeer
from node.replication.protocol import FEEDS_PATH

ORGS = ("manufacturer", "distributor", "pharmacy", "regulator")
#: Seconds between two appends: back to back, each one would meet the replicator's MIN_GAP_S
#: (0.2 s between hint-triggered rounds) and measure that instead.
PAUSE_S = 0.5
#: Seconds between two reads of the digests of the nodes still behind.
POLL_S = 0.002
TIMEOUT_S = 60.0


def digest(session: requests.Session, node: Node) -> str:
    """The node's ``GET /api/v1/feeds`` digest."""
    answer = session.get(
        f"{node.url}{FEEDS_PATH}",
        headers={"Authorization": f"Bearer {node.operator}"},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["digest"])


def post(session: requests.Session, node: Node, path: str, body: object) -> dict[str, object]:
    """``POST /api/v1{path}`` as the node's operator; anything but 201 raises."""
    answer = session.post(
        f"{node.url}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {node.operator}"},
        timeout=600,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"POST {path} at {node.name}: {answer.status_code} {answer.text[:300]}")
    result: dict[str, object] = answer.json()
    return result


def commission(
    session: requests.Session, node: Node, count: int, **extra: object
) -> dict[str, object]:
    """``count`` fresh packs of the bench's lot, commissioned over HTTP at ``node``."""
    body = {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "count": count, **extra}
    return post(session, node, "/commission", body)


def wait_converged(
    session: requests.Session, nodes: Sequence[Node], target: str, timeout: float, poll: float
) -> dict[str, float]:
    """Poll every node's digest until all equal ``target``; when each was first seen equal
    (``perf_counter``), by node name."""
    deadline = perf_counter() + timeout
    pending = list(nodes)
    seen: dict[str, float] = {}
    while pending:
        behind = []
        for node in pending:
            if digest(session, node) == target:
                seen[node.name] = perf_counter()
            else:
                behind.append(node)
        pending = behind
        if not pending:
            return seen
        if perf_counter() > deadline:
            raise RuntimeError(
                f"expected {', '.join(n.name for n in pending)} to converge within {timeout:.0f} s"
            )
        sleep(poll)
    return seen


@dataclass(frozen=True)
class Append:
    seconds: float  # from just before the POST until the last node showed the writer's digest
    last: str  # the node seen last
    at: float  # wall clock (time.time()) just before the POST, to match the nodes' logs


@dataclass(frozen=True)
class Floor:
    rtt_s: float  # one GET /healthz at the writer
    pull_s: float  # GET /api/v1/feeds + one page of the newest entry, through HttpPeer

    @property
    def seconds(self) -> float:
        return self.rtt_s + self.pull_s + self.rtt_s


def _floor_sample(session: requests.Session, peer: HttpPeer, writer: Node) -> tuple[float, float]:
    # Not timed: the kept-alive connection may have been closed by the server in the pause.
    with contextlib.suppress(requests.ConnectionError):
        session.get(f"{writer.url}/healthz", timeout=10)
    began = perf_counter()
    session.get(f"{writer.url}/healthz", timeout=10).raise_for_status()
    rtt = perf_counter() - began
    began = perf_counter()
    size = peer.heads()[writer.feed].size
    page = peer.entries(writer.feed, size - 1, 1)
    pull = perf_counter() - began
    if len(page) != 1:
        raise RuntimeError(f"expected the newest entry of {writer.feed}, found {len(page)}")
    return rtt, pull


def appends(
    writer: Node,
    nodes: Sequence[Node],
    rounds: int,
    destination: str,
    progress: Progress | None = None,
    *,
    pause_s: float = PAUSE_S,
    floor: list[tuple[float, float]] | None = None,
) -> list[Append]:
    """``rounds`` appends at ``writer`` (a manufacturer's node), each a ship of one pack to
    ``destination``, timed until every node of ``nodes`` shows it. With ``floor`` (a list),
    one floor sample (round trip, pull) is appended to it in the pause after each append."""
    progress = progress or NoProgress()
    progress.phase(f"convergence: {rounds} appends over {len(nodes)} nodes", rounds)
    done: list[Append] = []
    peer = HttpPeer(writer.name, writer.url, writer.operator) if floor is not None else None
    with requests.Session() as session:
        made = commission(session, writer, rounds + 2)
        serials = [str(s) for s in made["serials"]]  # type: ignore[attr-defined]
        wait_converged(session, nodes, digest(session, writer), TIMEOUT_S, 0.01)
        # The same pause before the first append: right after the commissioning's own hinted
        # round, it met MIN_GAP_S and took ~0.2 s more (the tail of one append in twenty).
        sleep(pause_s)
        for serial in serials[:rounds]:
            at, began = time.time(), perf_counter()
            ship = {"subjects": [pack_uri(GTIN, serial)], "body": {"destination": destination}}
            post(session, writer, "/actions/ship", ship)
            seen = wait_converged(session, nodes, digest(session, writer), TIMEOUT_S, POLL_S)
            last = max(seen, key=seen.__getitem__)
            done.append(Append(seen[last] - began, last, at))
            progress.advance()
            rested = perf_counter()
            if peer is not None and floor is not None:
                floor.append(_floor_sample(session, peer, writer))
            sleep(max(0.0, pause_s - (perf_counter() - rested)))
    if peer is not None:
        peer.close()
    return done


def summary(done: Sequence[Append], floor: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """The figures of a run, in ms."""
    ordered = sorted(a.seconds for a in done)
    out: dict[str, Any] = {
        "appends": len(done),
        "p50_ms": round(1000 * percentile(ordered, 0.50), 1),
        "p95_ms": round(1000 * percentile(ordered, 0.95), 1),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 1),
        "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
        "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else None,
    }
    if floor:
        rtt = statistics.median(r for r, _ in floor)
        pull = statistics.median(p for _, p in floor)
        out |= {
            "floor_ms": round(1000 * Floor(rtt, pull).seconds, 1),
            "floor_rtt_ms": round(1000 * rtt, 2),
            "floor_pull_ms": round(1000 * pull, 2),
            "p50_over_floor": round(percentile(ordered, 0.50) / Floor(rtt, pull).seconds, 2),
        }
    out["last_node"] = dict(Counter(a.last for a in done).most_common())
    out["times_ms"] = [round(1000 * a.seconds, 1) for a in done]
    return out


def run(root: Path, rounds: int, pause_s: float = PAUSE_S) -> dict[str, Any]:
    """A fresh four-node network under ``root``, one warm-up append, then ``rounds`` appends."""
    load_start = os.getloadavg()[0]
    with Cluster(root, consortium(root)) as cluster:
        for org in ORGS:
            cluster.add(org, org)
        cluster.peer_all()
        cluster.start()
        four = list(cluster.nodes.values())
        writer = cluster.nodes["manufacturer"]
        appends(writer, four, 1, "distributor", pause_s=pause_s)  # warm-up, not counted
        floor: list[tuple[float, float]] = []
        done = appends(writer, four, rounds, "distributor", pause_s=pause_s, floor=floor)
    return {
        **summary(done, floor),
        "nodes": len(ORGS),
        "pause_s": pause_s,
        "poll_ms": 1000 * POLL_S,
        "load_1m_start": round(load_start, 2),
        "load_1m_end": round(os.getloadavg()[0], 2),
        "started_at": [round(a.at, 3) for a in done],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=40, help="appends timed (default 40)")
    parser.add_argument(
        "--pause", type=float, default=PAUSE_S, help=f"seconds between appends ({PAUSE_S:g})"
    )
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (logs)")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True)
        print(json.dumps(run(args.keep, args.appends, args.pause)))
        return
    with tempfile.TemporaryDirectory(prefix="medtrace-bench-convergence-") as tmp:
        print(json.dumps(run(Path(tmp), args.appends, args.pause)))


if __name__ == "__main__":
    main()
