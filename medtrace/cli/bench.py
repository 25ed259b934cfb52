"""``medtrace bench``: throughput of the node's hot paths beside raw SQLite and Ed25519 floors."""

from __future__ import annotations

import json
import tempfile
from contextlib import nullcontext
from pathlib import Path

import click
from rich.progress import Progress, TaskID
from rich.table import Table

from bench.attacks import run as attack_run
from bench.consignment import table_rows as consignment_rows
from bench.crossborder import table_rows as crossborder_rows
from bench.risk import table_rows as risk_rows
from bench.runner import FULL, QUICK, Results, run
from medtrace.cli.console import console, print_json, progress_bar


class _Display:
    """``bench.progress.Progress`` drawn on a rich bar: one task, relabelled per phase."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def phase(self, label: str, total: int) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(label, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, steps)


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def _times(ratio: float) -> str:
    return f"{ratio:,.1f}x"


def _table(results: Results, quick: bool) -> Table:
    r = results
    table = Table(
        title=f"medtrace bench{' --quick' if quick else ''}",
        caption=(
            f"{r.machine}; {r.packs:,} packs commissioned per run, {r.verify_entries:,} entries "
            f"verified; {r.elapsed_s:,.0f} s in all, load {r.load_1m:.2f} at the start.\n"
            "ratio: how many times the floor's cost "
            "(time per pack or entry, bytes per pack)."
        ),
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_column("ratio", justify="right")
    sqlite_floor = _rate(r.floor_sqlite_rows_per_s, "rows/s")
    table.add_row(
        "commission (serials supplied)",
        _rate(r.commission_packs_per_s, "packs/s"),
        sqlite_floor,
        _times(r.floor_sqlite_rows_per_s / r.commission_packs_per_s),
    )
    table.add_row(
        "commission (serials generated)",
        _rate(r.commission_with_serials_packs_per_s, "packs/s"),
        sqlite_floor,
        _times(r.floor_sqlite_rows_per_s / r.commission_with_serials_packs_per_s),
    )
    table.add_row(
        "ledger verify",
        _rate(r.entry_verify_per_s, "entries/s"),
        _rate(r.floor_ed25519_verify_per_s, "Ed25519/s"),
        _times(r.floor_ed25519_verify_per_s / r.entry_verify_per_s),
    )
    table.add_row(
        "bytes per pack",
        f"{r.bytes_per_pack:,.0f} B",
        f"{r.floor_sqlite_bytes_per_row:,.0f} B",
        _times(r.bytes_per_pack / r.floor_sqlite_bytes_per_row),
    )
    table.add_row("ingest (by-product)", _rate(r.ingest_entries_per_s, "entries/s"), "", "")
    http = f"HTTP pack query, {r.verify_packs_in_db:,} packs, {r.verify_http_clients} clients"
    table.add_row(
        f"{http}: p50",
        f"{r.verify_http_p50_ms:,.2f} ms",
        f"{r.floor_sqlite_lookup_us:,.1f} µs",
        "",  # a latency under 32-way queueing: no fair ratio to one lookup
    )
    table.add_row(f"{http}: p95", f"{r.verify_http_p95_ms:,.2f} ms", "", "")
    table.add_row(f"{http}: p99", f"{r.verify_http_p99_ms:,.2f} ms", "", "")
    table.add_row(
        f"{http}: throughput",
        _rate(r.verify_http_rps, "req/s"),
        _rate(1e6 / r.floor_sqlite_lookup_us, "lookups/s"),
        _times(1e6 / r.floor_sqlite_lookup_us / r.verify_http_rps),
    )
    _production_rows(table, r)
    for row in consignment_rows(r.production):  # whole consignments beside a bare read
        table.add_row(*row)
    for row in risk_rows(r.production):  # parcels scored beside a bare declaration read
        table.add_row(*row)
    for row in crossborder_rows(r.production):  # another country's pack beside one's own
        table.add_row(*row)
    table.add_row(
        f"one pack's provenance, verifier (batch of {r.packs:,})",
        f"{r.proof_verifier_bytes:,} B",
        f"{r.proof_node_view_bytes:,} B between nodes",
        _times(r.proof_verifier_bytes / r.proof_node_view_bytes),
    )
    table.add_row(
        "proof verification per pack: p50 / p95",
        f"{r.proof_verify_p50_ms:,.2f} / {r.proof_verify_p95_ms:,.2f} ms",
        _rate(r.floor_ed25519_verify_per_s, "Ed25519/s"),
        "",
    )
    table.add_row("convergence, 4 nodes: p95", f"{r.convergence_p95_ms:,.0f} ms", "", "")
    table.add_row(
        "checkpoint + cosign round, 4 nodes: p95",
        f"{r.checkpoint_cosign_p95_ms:,.0f} ms",
        "",
        "",
    )
    for label, p50, p95 in (
        ("label decode + parse, both decoders", r.scan_decode_p50_ms, r.scan_decode_p95_ms),
        ("  zxing-cpp alone", r.scan_decode_zxing_p50_ms, r.scan_decode_zxing_p95_ms),
        (
            "  pyzbar alone (no DataMatrix: time to give up)",
            r.scan_decode_pyzbar_p50_ms,
            r.scan_decode_pyzbar_p95_ms,
        ),
    ):
        table.add_row(f"{label}: p50 / p95", f"{p50:,.1f} / {p95:,.1f} ms", "", "")
    table.add_row(
        f"replication catch-up ({r.catchup_entries:,} entries)",
        _rate(r.replication_catchup_entries_per_s, "entries/s"),
        "",
        "",  # ingest_entries_per_s is the nearest reference, not a floor
    )
    return table


def _production_rows(table: Table, r: Results) -> None:
    """The pack query over TLS on SQLite and PostgreSQL (bench/production.py)."""
    f = r.production
    stores = [("tls", "SQLite", r.verify_packs_in_db, r.floor_sqlite_lookup_us)]
    if "pg_tls_http_rps" in f:
        stores.append(("pg_tls", "PostgreSQL", int(f["pg_packs_in_db"]), f["floor_pg_lookup_us"]))
    else:
        table.add_row("HTTPS pack query, PostgreSQL", "not measured (no PostgreSQL here)", "", "")
    for prefix, store, packs, floor_us in stores:
        http = f"HTTPS pack query, {store}, {packs:,} packs"
        table.add_row(
            f"{http}, {r.verify_http_clients} clients: p50 / p95 / p99",
            " / ".join(f"{f[f'{prefix}_http_{p}_ms']:,.2f}" for p in ("p50", "p95", "p99")) + " ms",
            f"{floor_us:,.1f} µs",
            "",
        )
        table.add_row(
            f"{http}: throughput",
            _rate(f[f"{prefix}_http_rps"], "req/s"),
            _rate(1e6 / floor_us, "lookups/s"),
            _times(1e6 / floor_us / f[f"{prefix}_http_rps"]),
        )
        rates = sorted(
            {int(k.split("_")[-3]) for k in f if k.startswith(f"{prefix}_open_") and "p95" in k}
        )
        for rate in rates:
            at = f"{prefix}_open_{rate}"
            shown = " / ".join(f"{f[f'{at}_{p}_ms']:,.2f}" for p in ("p50", "p95", "p99"))
            floor, ratio = "", ""
            sqlite_p95 = f.get(f"tls_open_{rate}_p95_ms")
            if prefix == "pg_tls" and sqlite_p95:  # the target: within 1.5x of SQLite's
                floor = f"SQLite p95 {sqlite_p95:,.2f} ms"
                ratio = _times(f[f"{at}_p95_ms"] / sqlite_p95)
            table.add_row(
                f"  open loop, {rate:,} req/s offered: p50 / p95 / p99",
                f"{shown} ms at {f[f'{at}_achieved_rps']:,.0f} req/s, "
                f"{f[f'{at}_server_cpu_ms']:,.2f} ms CPU/req",
                floor,
                ratio,
            )


@click.command("bench")
@click.option(
    "--quick",
    is_flag=True,
    help=(
        "100,000 packs and 20,000 entries, HTTP queries on a 1,000,000-pack SQLite node and a "
        "200,000-pack PostgreSQL node (about 5 minutes on 2 cores) instead of 1,000,000 and "
        "60,000, and 10,000,000-pack nodes of each."
    ),
)
@click.option(
    "--attacks",
    is_flag=True,
    help=(
        "Instead: replay the security review's attacks on TLS nodes (slowloris, pixel bomb, "
        "trickling peer, serial harvesting) and print each figure beside its target (~2 minutes)."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def bench_command(quick: bool, attacks: bool, as_json: bool) -> None:
    """Measure commissioning, verification and storage size beside raw floors.

    Everything runs in a temporary directory that is deleted afterwards, on a consortium built
    in memory with fixed keys. The HTTP figures come from real `medtrace node run` processes
    (one node for the pack queries, then four peered nodes), all stopped before the end. The
    pack query is measured over plain HTTP and over TLS as deployed, on SQLite and on a
    private PostgreSQL server started on loopback (skipped when PostgreSQL is not installed):
    closed-loop at saturation (32 clients) and open-loop at 500, 1,500 and 3,000 requests/s
    offered, latency timed from each request's intended send time (docs/performance.md).

    Example: medtrace bench --quick
    """
    if attacks:
        _attacks(as_json)
        return
    with progress_bar(hidden=as_json) as bar:
        results = run(QUICK if quick else FULL, _Display(bar))
    if as_json:
        print_json(results.to_json())
        return
    console.print(_table(results, quick))


def _attacks(as_json: bool) -> None:
    status = None if as_json else console.status("starting", spinner="dots")

    def progress(label: str) -> None:
        if status is not None:
            status.update(f"attack: {label}")

    with (
        tempfile.TemporaryDirectory(prefix="medtrace-attacks-") as tmp,
        status if status is not None else nullcontext(),
    ):
        results = attack_run(Path(tmp), progress)
    if as_json:
        print_json(results)
        return
    table = Table("figure", "this run", "target", title="The security review's attacks, over TLS")
    for key, value in results.items():
        if key in ("targets", "ok"):
            continue
        target = results["targets"].get(key)
        if key == "harvest_unknown_answers_before_429":
            target = results["harvest_threshold"]
        mark = ""
        if isinstance(target, int | float) and isinstance(value, int | float):
            mark = " [green]✓[/]" if value <= target else " [bold red]✗[/]"
        shown = json.dumps(value) if isinstance(value, dict) else str(value)
        table.add_row(key.replace("_", " "), shown + mark, "" if target is None else f"≤ {target}")
    console.print(table)
    console.print(
        "[bold green]✓ every target met[/]"
        if results["ok"]
        else "[bold red]✗ a target was missed[/]"
    )
