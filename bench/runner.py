"""One benchmark run: the plan (sizes, repeats), the phases in order, and the figures.

Every phase runs in a temporary directory the run creates and deletes. Timed sections use
``time.perf_counter``; a warm-up pass on small inputs comes first and is not counted; where a
repeat is cheap the best of a few is kept.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import (
    commission,
    consignment,
    crossborder,
    floors,
    nodes,
    production,
    proofs,
    risk,
    served,
    verify,
    witnessing,
)
from bench.consortium import membership
from bench.files import TimedRun
from bench.loadgen import percentile
from bench.machine import describe
from bench.nodes import Cluster
from bench.progress import NoProgress, Progress
from ledger.serials import generate_serials
from scanner.timing import measure as timing_measure
from scanner.timing import sample_images


@dataclass(frozen=True)
class Plan:
    packs: int
    commission_repeats: int
    floor_repeats: int
    verify_entries: int
    verify_repeats: int
    ed25519_verifications: int
    chunk: int = 1_000
    warmup_packs: int = 2_000
    warmup_entries: int = 300
    # Served over HTTP (bench/served.py): packs in the verification node's store, the
    # load generator's clients, warm-up and duration, convergence rounds, catch-up entries.
    served_packs: int = 1_000_000
    served_budget_s: float = 240.0
    #: Packs per ``commission`` call while filling (each call is one transaction).
    served_batch: int = 1_000_000
    http_clients: int = 32
    http_warmup_s: float = 3.0
    http_duration_s: float = 15.0
    convergence_rounds: int = 20
    catchup_entries: int = 10_000
    #: The pack query over TLS, on SQLite and PostgreSQL, closed- and open-loop (issue 19).
    production: production.ProductionPlan = production.QUICK


QUICK = Plan(
    packs=100_000,
    commission_repeats=3,
    floor_repeats=3,
    verify_entries=20_000,
    verify_repeats=2,
    ed25519_verifications=10_000,
    served_packs=1_000_000,
    served_budget_s=240.0,
    catchup_entries=10_000,
)
FULL = Plan(
    packs=1_000_000,
    commission_repeats=3,
    floor_repeats=3,
    verify_entries=60_000,
    verify_repeats=3,
    ed25519_verifications=100_000,
    served_packs=10_000_000,
    served_batch=2_000_000,
    served_budget_s=1_500.0,
    http_duration_s=30.0,
    catchup_entries=100_000,
    production=production.FULL,
)


@dataclass(frozen=True)
class Results:
    commission_packs_per_s: float
    commission_with_serials_packs_per_s: float
    floor_sqlite_rows_per_s: float
    entry_verify_per_s: float
    floor_ed25519_verify_per_s: float
    bytes_per_pack: float
    floor_sqlite_bytes_per_row: float
    ingest_entries_per_s: float
    verify_http_p50_ms: float
    verify_http_p95_ms: float
    verify_http_p99_ms: float
    verify_http_rps: float
    verify_http_non_200: int
    verify_http_client_cpu_share: float
    verify_http_clients: int
    verify_http_workers: int
    verify_http_threads: int
    verify_http_wrk: int  # 1: the load came from wrk; 0: from the Python client (bench/loadgen.py)
    verify_packs_in_db: int
    verify_fill_packs_per_s: float
    floor_sqlite_lookup_us: float
    convergence_p50_ms: float
    convergence_p95_ms: float
    checkpoint_cosign_p50_ms: float  # a write until its checkpoint has 3 cosignatures
    checkpoint_cosign_p95_ms: float
    replication_catchup_entries_per_s: float
    catchup_entries: int
    #: One pack of a batch of ``packs`` (bench/proofs.py): what a verifier is sent, and what a
    #: peer is sent for the same pack (the entry with its whole sidecar).
    proof_verifier_bytes: int
    proof_node_view_bytes: int
    proof_verify_p50_ms: float  # parse, check the disclosure and signature, fold: one pack
    proof_verify_p95_ms: float
    scan_decode_p50_ms: float
    scan_decode_p95_ms: float
    scan_decode_zxing_p50_ms: float
    scan_decode_zxing_p95_ms: float
    scan_decode_pyzbar_p50_ms: float
    scan_decode_pyzbar_p95_ms: float
    packs: int
    verify_entries: int
    elapsed_s: float
    load_1m: float
    machine: str
    #: bench/production.py's figures (TLS, PostgreSQL, open-loop), flat in the JSON
    production: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, float | int | str]:
        flat = {**asdict(self), **self.production}
        del flat["production"]
        return {
            name: round(value, 3) if isinstance(value, float) else value
            for name, value in flat.items()
        }


def served_phases(plan: Plan, root: Path, progress: Progress) -> dict[str, Any]:
    """The HTTP figures (bench/served.py); every node process is stopped before returning."""
    root.mkdir()
    progress.phase("creating the consortium and node data directories", 1)
    with Cluster(root, nodes.consortium(root)) as cluster:
        # One node for verification queries, alone (no peers): its store is filled first.
        lone = cluster.add("verify", "manufacturer", tls=True)  # certificate for the TLS run
        lone.serve_tls(False)
        progress.advance()
        packs, fill_rate = served.fill(
            cluster, lone, plan.served_packs, plan.served_batch, progress, plan.served_budget_s
        )
        database = Path(lone.database)
        progress.phase("sampling random packs of the store", 1)
        keys = served.sample_keys(database, served.SAMPLE_KEYS)
        keys_file = root / "keys.txt"
        keys_file.write_text("".join(f"{g} {s}\n" for g, s in keys))
        progress.advance()
        progress.phase(f"sqlite3 floor: {served.FLOOR_LOOKUPS:,} point lookups", 1)
        lookup_us = served.floor_lookup_us(database, keys, served.FLOOR_LOOKUPS)
        progress.advance()
        progress.phase(
            f"HTTP verification queries: {plan.http_clients} clients, "
            f"{plan.http_warmup_s:.0f} s warm-up + {plan.http_duration_s:.0f} s",
            1,
        )
        cluster.start("verify")
        http = served.verify_http(
            lone, keys_file, plan.http_clients, plan.http_warmup_s, plan.http_duration_s
        )
        lone.stop()
        progress.advance()
        measured = production.sqlite_tls(lone, keys_file, plan.production, progress)
        measured |= production.postgres_tls(cluster, root, plan.production, progress)
        measured |= consignment.measure(cluster, progress)  # whole pallets (issue 15)
        measured |= risk.measure(root / "risk", progress)  # low-value parcels scored (issue 16)
        measured |= crossborder.measure(root / "crossborder", progress)  # issue 17
        del cluster.nodes["verify"]

        # Four nodes, every one a peer of every other.
        progress.phase("starting 4 peered nodes", 1)
        for org in ("manufacturer", "distributor", "pharmacy", "regulator"):
            cluster.add(org, org)
        cluster.peer_all()
        cluster.start()
        progress.advance()
        four = list(cluster.nodes.values())
        writer = cluster.nodes["manufacturer"]
        times = served.convergence(writer, four, plan.convergence_rounds, "distributor", progress)
        progress.phase(f"checkpoint + cosign: {plan.convergence_rounds} rounds", 1)
        cosign = witnessing.figures(
            witnessing.cosign_rounds(writer, len(four) - 1, plan.convergence_rounds)
        )
        progress.advance()
        late = cluster.nodes["regulator"]
        others = [n for n in four if n is not late]
        catchup_rate, _ = served.catchup(writer, others, late, plan.catchup_entries, progress)
    ordered = sorted(times)
    return {
        "verify_http_p50_ms": http.p50_ms,
        "verify_http_p95_ms": http.p95_ms,
        "verify_http_p99_ms": http.p99_ms,
        "verify_http_rps": http.rps,
        "verify_http_non_200": http.non_200 + http.errors,
        "verify_http_client_cpu_share": http.client_cpu_share,
        "verify_http_clients": http.clients,
        "verify_http_workers": http.workers,
        "verify_http_threads": http.threads,
        "verify_http_wrk": int(http.client == "wrk"),
        "verify_packs_in_db": packs,
        "verify_fill_packs_per_s": fill_rate,
        "floor_sqlite_lookup_us": lookup_us,
        "convergence_p50_ms": 1000 * percentile(ordered, 0.50),
        "convergence_p95_ms": 1000 * percentile(ordered, 0.95),
        **cosign,
        "replication_catchup_entries_per_s": catchup_rate,
        "catchup_entries": plan.catchup_entries,
        "production": measured,
    }


def scan_phase(folder: Path, repeat: int = 5) -> dict[str, float]:
    """Decode + parse time of one label photo (clean and degraded DataMatrix and QR labels,
    scanner.timing), per decoder and as ``read_image`` does it with both."""
    keys = {"both": "scan_decode", "zxing-cpp": "scan_decode_zxing", "pyzbar": "scan_decode_pyzbar"}
    figures: dict[str, float] = {}
    for timing in timing_measure(sample_images(folder), repeat=repeat):
        prefix = keys[timing.mode]
        figures[f"{prefix}_p50_ms"] = timing.percentile(0.5) * 1000
        figures[f"{prefix}_p95_ms"] = timing.percentile(0.95) * 1000
    return figures


def run(plan: Plan, progress: Progress | None = None) -> Results:
    progress = progress or NoProgress()
    began = perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    members = membership()
    with tempfile.TemporaryDirectory(prefix="medtrace-bench-") as tmp:
        work = Path(tmp)

        progress.phase("warming up", 4)
        warm_serials = generate_serials(plan.warmup_packs)
        commission.commission_once(
            work / "warm.db", plan.warmup_packs, serials=warm_serials, members=members
        )
        progress.advance()
        commission.commission_once(work / "warm.db", plan.warmup_packs, members=members)
        progress.advance()
        floors.sqlite_floor_once(work / "warm-floor.db", floors.pack_rows(warm_serials))
        progress.advance()
        verify.build_store(work / "warm-verify.db", plan.warmup_entries, members)
        verify.verify_once(work / "warm-verify.db", members)
        progress.advance()

        progress.phase(f"generating {plan.packs:,} serials (untimed)", 1)
        serials = generate_serials(plan.packs)
        progress.advance()

        # Supplied and generated runs alternate, so a burst of other load on the machine
        # hits both rather than one.
        progress.phase(
            f"commissioning {plan.packs:,} packs (serials supplied, then generated)",
            2 * plan.commission_repeats,
        )
        supplied: list[TimedRun] = []
        generated: list[TimedRun] = []
        for _ in range(plan.commission_repeats):
            supplied.append(
                commission.commission_once(
                    work / "commission.db",
                    plan.packs,
                    serials=serials,
                    chunk=plan.chunk,
                    members=members,
                )
            )
            progress.advance()
            generated.append(
                commission.commission_once(
                    work / "commission.db", plan.packs, chunk=plan.chunk, members=members
                )
            )
            progress.advance()

        progress.phase(f"sqlite3 floor: {plan.packs:,} rows", plan.floor_repeats)
        rows = floors.pack_rows(serials, plan.chunk)
        floor_runs: list[TimedRun] = []
        for _ in range(plan.floor_repeats):
            floor_runs.append(floors.sqlite_floor_once(work / "floor.db", rows))
            progress.advance()
        del rows, serials

        built = verify.build_store(work / "verify.db", plan.verify_entries, members, progress)
        progress.phase(f"verifying {built.ingest.count:,} entries", plan.verify_repeats)
        verify_seconds = float("inf")
        verified = 0
        for _ in range(plan.verify_repeats):
            seconds, verified = verify.verify_once(work / "verify.db", members)
            verify_seconds = min(verify_seconds, seconds)
            progress.advance()

        progress.phase(f"Ed25519 floor: {plan.ed25519_verifications:,} verifications", 1)
        ed25519 = floors.ed25519_floor(plan.ed25519_verifications)
        progress.advance()

        progress.phase(f"one pack's proof in a batch of {plan.packs:,}", 1)
        proof = proofs.measure(work / "proofs.db", plan.packs, chunk=plan.chunk)
        progress.advance()

        served_figures = served_phases(plan, work / "served", progress)

        progress.phase("decoding label photos (each decoder, then both)", 1)
        scan_figures = scan_phase(work / "labels")
        progress.advance()

    best_supplied = min(supplied, key=lambda r: r.seconds)
    best_floor = min(floor_runs, key=lambda r: r.seconds)
    return Results(
        commission_packs_per_s=best_supplied.per_s,
        commission_with_serials_packs_per_s=min(generated, key=lambda r: r.seconds).per_s,
        floor_sqlite_rows_per_s=best_floor.per_s,
        entry_verify_per_s=verified / verify_seconds,
        floor_ed25519_verify_per_s=ed25519,
        bytes_per_pack=best_supplied.db_bytes / best_supplied.count,
        floor_sqlite_bytes_per_row=best_floor.db_bytes / best_floor.count,
        ingest_entries_per_s=built.ingest.per_s,
        proof_verifier_bytes=proof.verifier_bytes,
        proof_node_view_bytes=proof.node_view_bytes,
        proof_verify_p50_ms=proof.verify_p50_ms,
        proof_verify_p95_ms=proof.verify_p95_ms,
        **served_figures,
        scan_decode_p50_ms=scan_figures["scan_decode_p50_ms"],
        scan_decode_p95_ms=scan_figures["scan_decode_p95_ms"],
        scan_decode_zxing_p50_ms=scan_figures["scan_decode_zxing_p50_ms"],
        scan_decode_zxing_p95_ms=scan_figures["scan_decode_zxing_p95_ms"],
        scan_decode_pyzbar_p50_ms=scan_figures["scan_decode_pyzbar_p50_ms"],
        scan_decode_pyzbar_p95_ms=scan_figures["scan_decode_pyzbar_p95_ms"],
        packs=plan.packs,
        verify_entries=verified,
        elapsed_s=perf_counter() - began,
        load_1m=load,
        machine=describe(),
    )
