"""The pack query under production settings (issue 19): over TLS as deployed, on SQLite and on
PostgreSQL, closed-loop at saturation (wrk, ``bench.loadgen``) and open-loop at fixed offered
rates (``bench.openloop``), each beside its floor from the same run.

As deployed (ADR 0015): the node serves HTTPS under granian with a certificate from the
consortium's CA; it asks no client for a certificate (peers prove their organisation by signing
their requests, which the pack query does not involve); the client is a verifier token, as a
pharmacy's scanner holds, checked against the CA. The rate limit is set out of reach
(``bench.nodes.UNLIMITED_RATE``) but still counted, in the node's shared counters, on every
request.

The PostgreSQL node is a separate store on a private server (``node.localnet.postgres``), filled through
``NodeService.commission`` as the SQLite node is; its floor is one psycopg point lookup.

``python -m bench.production [--full]`` runs these figures alone (a fresh SQLite node too) and
prints them as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from time import perf_counter
from typing import Any

import psycopg

from bench import served
from bench.cpu import group_cpu_s, tree_cpu_s
from bench.nodes import Cluster, Node, consortium
from bench.openloop import DRAIN_S, TIMEOUT_S
from bench.progress import NoProgress, Progress
from node.localnet.postgres import postgres_server, unavailable_reason


@dataclass(frozen=True)
class ProductionPlan:
    """Sizes of the production-settings figures."""

    pg_packs: int
    pg_batch: int
    pg_budget_s: float
    pg_shared_buffers: str
    rates: tuple[int, ...] = (500, 1_500, 3_000)
    open_warmup_s: float = 2.0
    open_duration_s: float = 10.0
    clients: int = 32
    warmup_s: float = 3.0
    duration_s: float = 15.0


QUICK = ProductionPlan(
    pg_packs=200_000, pg_batch=200_000, pg_budget_s=120.0, pg_shared_buffers="256MB"
)
FULL = ProductionPlan(
    pg_packs=10_000_000,
    pg_batch=1_000_000,
    pg_budget_s=1_800.0,
    pg_shared_buffers="2GB",
    open_duration_s=20.0,
    duration_s=30.0,
)


def open_loop(node: Node, keys_file: Path, plan: ProductionPlan, rate: int) -> dict[str, Any]:
    """``bench.openloop`` at one offered rate, in its own processes, against the running
    ``node``; its figures for that rate."""
    command = [
        sys.executable,
        "-m",
        "bench.openloop",
        "--url",
        node.url,
        "--token",
        node.verifier,
        "--keys",
        str(keys_file),
        "--rates",
        str(rate),
        "--connections",
        str(plan.clients),
        "--warmup",
        str(plan.open_warmup_s),
        "--duration",
        str(plan.open_duration_s),
    ]
    if node.ca is not None:
        command += ["--ca", str(node.ca)]
    seconds = plan.open_warmup_s + plan.open_duration_s + DRAIN_S + TIMEOUT_S + 30
    done = subprocess.run(command, capture_output=True, check=False, timeout=seconds)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(
            f"open-loop generator failed: {done.stderr.decode(errors='replace')[-500:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return dict(result["rates"][0])


@dataclass(frozen=True)
class Serving:
    """The running node under test, and the PostgreSQL server behind it if any: whose CPU
    time counts as the server's."""

    node: Node
    postgres_pid: int | None = None

    def cpu_s(self) -> float:
        process = self.node.runner.process
        total = group_cpu_s(process.pid) if process is not None else 0.0
        if self.postgres_pid is not None:
            total += tree_cpu_s(self.postgres_pid)
        return total


def figures_of(
    prefix: str, serving: Serving, keys_file: Path, plan: ProductionPlan
) -> dict[str, float]:
    """Saturation, then each offered rate, against the running node; flat figures."""
    node = serving.node
    http = served.verify_http(node, keys_file, plan.clients, plan.warmup_s, plan.duration_s)
    out: dict[str, float] = {
        f"{prefix}_http_p50_ms": http.p50_ms,
        f"{prefix}_http_p95_ms": http.p95_ms,
        f"{prefix}_http_p99_ms": http.p99_ms,
        f"{prefix}_http_rps": http.rps,
        f"{prefix}_http_non_200": http.non_200 + http.errors,
        f"{prefix}_http_client_cpu_share": http.client_cpu_share,
    }
    for offered in plan.rates:
        before = serving.cpu_s()
        rate = open_loop(node, keys_file, plan, offered)
        spent = serving.cpu_s() - before
        at = f"{prefix}_open_{offered}"
        out[f"{at}_p50_ms"] = rate["p50_ms"]
        out[f"{at}_p95_ms"] = rate["p95_ms"]
        out[f"{at}_p99_ms"] = rate["p99_ms"]
        out[f"{at}_achieved_rps"] = rate["achieved_rps"]
        out[f"{at}_not_ok"] = rate["non_200"] + rate["errors"] + rate["unsent"]
        out[f"{at}_send_lag_p99_ms"] = rate["send_lag_p99_ms"]
        out[f"{at}_client_cpu_share"] = rate["client_cpu_share"]
        # every request of the warm-up and the window was sent (or counted in not_ok)
        sent = offered * (plan.open_warmup_s + plan.open_duration_s)
        out[f"{at}_server_cpu_ms"] = 1000 * spent / sent
    return out


def sqlite_tls(
    node: Node, keys_file: Path, plan: ProductionPlan, progress: Progress
) -> dict[str, float]:
    """The stopped SQLite ``node`` (made with ``tls=True``) served over TLS: its figures."""
    progress.phase(f"HTTPS pack queries on SQLite: saturation, then {_rates(plan)} req/s", 1)
    node.serve_tls(True)
    node.start()
    try:
        node.wait_healthy()
        out = figures_of("tls", Serving(node), keys_file, plan)
    finally:
        node.stop()
    progress.advance()
    return out


def _rates(plan: ProductionPlan) -> str:
    return " / ".join(f"{r:,}" for r in plan.rates)


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sample_pg_keys(url: str, count: int, seed: int = 5) -> list[tuple[str, str]]:
    """``count`` random (gtin, serial) pairs of the PostgreSQL store, drawn by row id."""
    with psycopg.connect(_psycopg_url(url)) as conn:
        row = conn.execute("SELECT max(id) FROM packs").fetchone()
        assert row is not None
        top = int(row[0])
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(count)]
        keys: list[tuple[str, str]] = []
        for start in range(0, len(ids), 5_000):
            found = conn.execute(
                "SELECT gtin, serial FROM packs WHERE id = ANY(%s)", (ids[start : start + 5_000],)
            ).fetchall()
            keys += [(str(g), str(s)) for g, s in found]
    rng.shuffle(keys)
    return keys


def floor_pg_lookup_us(url: str, keys: list[tuple[str, str]], lookups: int) -> float:
    """Median µs of one prepared ``SELECT * FROM packs WHERE gtin = %s AND serial = %s``
    (psycopg, one connection over loopback TCP)."""
    rng = random.Random(9)
    chosen = [rng.choice(keys) for _ in range(lookups)]
    times: list[float] = []
    query = "SELECT * FROM packs WHERE gtin = %s AND serial = %s"
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        for key in chosen[:1_000]:  # warm-up, and psycopg prepares it after a few runs
            conn.execute(query, key, prepare=True).fetchone()
        for key in chosen:
            began = perf_counter()
            found = conn.execute(query, key, prepare=True).fetchone()
            times.append(perf_counter() - began)
            if found is None:
                raise RuntimeError(f"expected pack {key[0]} {key[1]} in {url}, found none")
    return 1e6 * statistics.median(times)


def postgres_tls(
    cluster: Cluster, root: Path, plan: ProductionPlan, progress: Progress
) -> dict[str, float]:
    """A node on a private PostgreSQL server, filled, then served over TLS: its figures; the
    server and the node are stopped before returning."""
    if unavailable_reason() is not None:  # the table and docs say these were not measured
        return {}
    progress.phase("starting PostgreSQL on loopback", 1)
    settings = {
        "shared_buffers": plan.pg_shared_buffers,
        "max_wal_size": "4GB",
        "max_connections": "200",
    }
    with postgres_server(settings) as server:
        server_url = server.url
        with psycopg.connect(_psycopg_url(server_url), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        url = server_url.rsplit("/", 1)[0] + "/bench"
        node = cluster.add("verify-pg", "manufacturer", tls=True, database=url)
        progress.advance()
        try:
            packs, fill_rate = served.fill(
                cluster, node, plan.pg_packs, plan.pg_batch, progress, plan.pg_budget_s
            )
            with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # as autovacuum would soon after a bulk load
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            progress.phase("sampling random packs; psycopg floor", 1)
            keys = sample_pg_keys(url, served.SAMPLE_KEYS)
            keys_file = root / "pg-keys.txt"
            keys_file.write_text("".join(f"{g} {s}\n" for g, s in keys))
            lookup_us = floor_pg_lookup_us(url, keys, served.FLOOR_LOOKUPS)
            progress.advance()
            progress.phase(
                f"HTTPS pack queries on PostgreSQL: saturation, then {_rates(plan)} req/s", 1
            )
            node.start()
            node.wait_healthy()
            out = figures_of("pg_tls", Serving(node, server.pid), keys_file, plan)
            progress.advance()
        finally:
            node.stop()
            del cluster.nodes["verify-pg"]
    return {
        **out,
        "pg_packs_in_db": packs,
        "pg_fill_packs_per_s": fill_rate,
        "pg_bytes_per_pack": (size[0] if size else 0) / max(packs, 1),
        "floor_pg_lookup_us": lookup_us,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.production")
    parser.add_argument("--full", action="store_true", help="the full mode's sizes")
    parser.add_argument("--packs", type=int, default=1_000_000, help="packs in the SQLite node")
    parser.add_argument("--pg-packs", type=int, help="packs in the PostgreSQL node")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    plan = FULL if args.full else QUICK
    if args.pg_packs:
        plan = replace(plan, pg_packs=args.pg_packs, pg_batch=min(args.pg_packs, 1_000_000))
    progress = NoProgress()
    with tempfile.TemporaryDirectory(prefix="medtrace-bench-") as tmp:
        root = Path(tmp)
        with Cluster(root, consortium(root)) as cluster:
            lone = cluster.add("verify", "manufacturer", tls=True)
            packs, _ = served.fill(cluster, lone, args.packs, 1_000_000, progress, 600)
            keys = served.sample_keys(Path(lone.database), served.SAMPLE_KEYS)
            keys_file = root / "keys.txt"
            keys_file.write_text("".join(f"{g} {s}\n" for g, s in keys))
            out: dict[str, float] = {
                "packs_in_db": packs,
                "floor_sqlite_lookup_us": served.floor_lookup_us(
                    Path(lone.database), keys, served.FLOOR_LOOKUPS
                ),
            }
            lone.serve_tls(False)
            cluster.start("verify")
            out |= figures_of("http", Serving(lone), keys_file, plan)
            lone.stop()
            out |= sqlite_tls(lone, keys_file, plan, progress)
            if not args.no_postgres:
                out |= postgres_tls(cluster, root, plan, progress)
    sys.stdout.write(json.dumps({k: round(v, 3) for k, v in out.items()}) + "\n")


if __name__ == "__main__":
    main()
