"""Benchmarks against real ``medtrace node run`` processes over HTTP.

* ``verify_http``: one node (granian, workers and threads as node.json's defaults) whose SQLite
  store was filled by ``NodeService.commission`` before it started; a separate load-generator
  process (``bench.loadgen``: wrk when installed, else Python threads) sends the pack
  verification query for random packs from ``clients`` keep-alive connections for a fixed time
  after a warm-up.
* ``floor_sqlite_lookup``: stdlib ``sqlite3`` point lookups by (gtin, serial) on the same file.
* ``convergence``: four nodes peered with each other; one appends a ship entry over HTTP and the
  clock runs until every node's ``GET /api/v1/feeds`` digest equals the writer's; appends are
  ``PAUSE_S`` apart (``bench.convergence``, which also runs it alone beside its floor).
* ``catchup``: one of the four is stopped, another writes ``entries`` entries (a commissioning
  with one serial per entry), the stopped node starts again and the clock runs from its first
  healthy answer until its digest equals the writer's.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import requests

from bench import convergence as convergence_run
from bench.consortium import EXPIRY, GTIN, LOT
from bench.nodes import PASSPHRASE, Cluster, Node
from bench.progress import Progress
from ledger.serials import generate_serials
from node.config import load_config
from node.service import NodeService
from node.store import Store

#: Keys the load generator and the floor draw from (random rows of the store).
SAMPLE_KEYS = 200_000
FLOOR_LOOKUPS = 100_000
#: Seconds between two convergence appends.
PAUSE_S = convergence_run.PAUSE_S


@dataclass(frozen=True)
class VerifyHttp:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    requests: int
    non_200: int
    errors: int
    client_cpu_share: float
    clients: int
    workers: int
    threads: int
    client: str  # "wrk" or "python" (bench/loadgen.py)


def fill(
    cluster: Cluster, node: Node, packs: int, batch: int, progress: Progress, budget_s: float
) -> tuple[int, float]:
    """Commission up to ``packs`` packs into the stopped node's store, ``batch`` per
    ``NodeService.commission`` call (1,000 serials per entry); stop before ``budget_s`` would be
    exceeded. Returns (packs stored, packs per second)."""
    progress.phase(f"commissioning {packs:,} packs into the node's store", packs)
    key = cluster.consortium.feed_key(node.feed, PASSPHRASE)
    done = 0
    began = perf_counter()
    with Store(node.database) as store:
        service = NodeService(store, cluster.consortium.membership, node.feed, key)
        while done < packs:
            size = min(batch, packs - done)
            service.commission(GTIN, LOT, EXPIRY, serials=generate_serials(size))
            done += size
            progress.advance(size)
            spent = perf_counter() - began
            if done < packs and spent / done * (done + size) > budget_s:
                break
        stored = store.count("packs")
    seconds = perf_counter() - began
    if stored != done:
        raise RuntimeError(f"expected {done} packs stored, found {stored}")
    return done, done / seconds


def sample_keys(database: Path, count: int, seed: int = 5) -> list[tuple[str, str]]:
    """``count`` random (gtin, serial) pairs of the store, drawn by row id."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        top = int(conn.execute("SELECT max(id) FROM packs").fetchone()[0])
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(count)]
        keys: list[tuple[str, str]] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            keys += conn.execute(
                f"SELECT gtin, serial FROM packs WHERE id IN ({marks})",  # noqa: S608 - only ?s
                part,
            ).fetchall()
    rng.shuffle(keys)
    return keys


def floor_lookup_us(database: Path, keys: list[tuple[str, str]], lookups: int) -> float:
    """Median µs of one ``SELECT * FROM packs WHERE gtin = ? AND serial = ?`` (stdlib sqlite3)."""
    rng = random.Random(9)
    chosen = [rng.choice(keys) for _ in range(lookups)]
    times: list[float] = []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        query = "SELECT * FROM packs WHERE gtin = ? AND serial = ?"
        for gtin, serial in chosen[:1_000]:  # warm-up
            conn.execute(query, (gtin, serial)).fetchone()
        for gtin, serial in chosen:
            began = perf_counter()
            row = conn.execute(query, (gtin, serial)).fetchone()
            times.append(perf_counter() - began)
            if row is None:
                raise RuntimeError(f"expected pack {gtin} {serial} in {database}, found none")
    return 1e6 * statistics.median(times)


def verify_http(
    node: Node, keys_file: Path, clients: int, warmup_s: float, duration_s: float
) -> VerifyHttp:
    """Run ``bench.loadgen`` in its own process against the running ``node``."""
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            node.url,
            "--token",
            node.verifier,
            "--keys",
            str(keys_file),
            "--clients",
            str(clients),
            "--warmup",
            str(warmup_s),
            "--duration",
            str(duration_s),
        ],
        capture_output=True,
        check=False,
        timeout=warmup_s + duration_s + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.decode(errors='replace')[-500:]}")
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    config = load_config(node.data)
    return VerifyHttp(
        p50_ms=out["p50_ms"],
        p95_ms=out["p95_ms"],
        p99_ms=out["p99_ms"],
        rps=out["rps"],
        requests=out["requests"],
        non_200=out["requests"] - out["ok"],
        errors=out["errors"],
        client_cpu_share=out["client_cpu_share"],
        clients=clients,
        workers=config.workers,
        threads=config.threads,
        client=str(out["client"]),
    )


#: The digest reads, writes and convergence measurement are bench/convergence.py's
#: (``python -m bench.convergence`` runs the same measurement alone, beside its floor).
_digest = convergence_run.digest
_post = convergence_run.post
_commission = convergence_run.commission
wait_converged = convergence_run.wait_converged


def convergence(
    writer: Node, nodes: list[Node], rounds: int, destination: str, progress: Progress
) -> list[float]:
    """Seconds from each ship POST at ``writer`` until every node's digest equals the writer's
    (``bench.convergence.appends``)."""
    done = convergence_run.appends(writer, nodes, rounds, destination, progress)
    return [a.seconds for a in done]


def catchup(
    writer: Node, others: list[Node], late: Node, entries: int, progress: Progress
) -> tuple[float, float]:
    """(entries per second, seconds) for ``late`` to pull ``entries`` new entries after a restart."""
    progress.phase(f"catch-up: {entries:,} entries written while a node is down", 1)
    late.stop()
    with requests.Session() as session:
        # One entry per serial: ``entries`` signed entries on the writer's feed.
        remaining = entries
        while remaining:
            size = min(remaining, 100_000)
            _commission(session, writer, size, chunk=1)
            remaining -= size
        target = _digest(session, writer)
        wait_converged(session, others, target, 1_800, 0.2)  # the running peers first
        late.start()
        late.wait_healthy()
        began = perf_counter()
        wait_converged(session, [late], target, 1_800, 0.05)
        seconds = perf_counter() - began
    progress.advance()
    return entries / seconds, seconds
