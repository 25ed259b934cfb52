"""``medtrace soak``: the demo network under steady verify + write load (``bench.soak``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from bench.soak import MARKER, Settings, SoakRefused, soak
from medtrace.cli.console import AsciiFloatRange, AsciiIntRange, console, fail, print_json


def _ms_cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _print(result: dict[str, Any]) -> None:
    periods = Table(
        "from s",
        "verify",
        "write",
        "errors",
        "verify p50/p95 ms",
        "write p50/p95 ms",
        title="Load per period",
    )
    for row in result["per_period"]:
        errors = row["errors"]
        periods.add_row(
            str(row["from_s"]),
            f"{row['verifications']:,}",
            f"{row['writes']:,}",
            f"[{'bold red' if errors else 'green'}]{errors}[/]",
            f"{_ms_cell(row['verify_p50_ms'])} / {_ms_cell(row['verify_p95_ms'])}",
            f"{_ms_cell(row['write_p50_ms'])} / {_ms_cell(row['write_p95_ms'])}",
        )
    console.print(periods)
    memory = Table(
        "node",
        "procs",
        "start",
        "warm",
        "end",
        "growth",
        "MB/min",
        "bound",
        "flat",
        title="Resident memory, MB (master + workers)",
    )
    for name, m in result["memory"].items():
        memory.add_row(
            name,
            str(m["processes"]),
            f"{m['start_mb']:.1f}",
            f"{m['warm_mb']:.1f}",
            f"{m['end_mb']:.1f}",
            f"{m['growth_mb']:+.1f}",
            f"{m['slope_mb_per_min']:+.2f}",
            f"{m['bound_mb']:.1f}",
            "[green]yes[/]" if m["flat"] else "[bold red]no[/]",
        )
    console.print(memory)
    lag = result["replication_lag_s"]
    console.print(
        f"requests {result['requests']}; errors [{'bold red' if result['errors'] else 'green'}]"
        f"{result['errors']}[/]; expected 400s {result['expected_4xx']}; "
        f"{result['write_cycles']} write cycles ({result['packs_written']:,} packs); "
        f"replication to every node p50 {lag['p50']} s, p95 {lag['p95']} s"
    )
    for sample in result["error_samples"]:
        console.print(f"[red]✗[/] {sample}")
    digests = set(result["digests"].values())
    if len(digests) == 1:
        console.print(
            f"[green]✓[/] all {len(result['digests'])} nodes hold the same ledger ({digests.pop()[:16]}…)"
        )
    if result["ok"]:
        console.print(f"[bold green]✓ soak passed[/] ({result['memory_bound']})")
    else:
        for problem in result["problems"]:
            console.print(f"[bold red]✗[/] {problem}")


@click.command("soak")
@click.option("--minutes", type=AsciiFloatRange(min=0.05), default=5.0, show_default=True)
@click.option(
    "--clients",
    type=AsciiIntRange(1, 64),
    default=4,
    show_default=True,
    help="Verification clients.",
)
@click.option(
    "--rate",
    type=AsciiFloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Verifications per second per client.",
)
@click.option(
    "--batch",
    type=AsciiIntRange(1, 1000),
    default=20,
    show_default=True,
    help="Packs per write cycle.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default="soak-out",
    show_default=True,
    help="Folder for the network's data (replaced if it holds an earlier soak).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def soak_command(
    minutes: float, clients: int, rate: float, batch: int, out: Path, as_json: bool
) -> None:
    """Run the demo network under a steady verify + write load and check it holds up: 0 failed
    requests, flat memory in every node process, and one ledger at every node at the end.

    \b
    Examples:
      medtrace soak --minutes 5
      python -m medtrace.cli.soak --minutes 1 --clients 8 --json
    """
    duration = minutes * 60
    settings = Settings(duration, clients, rate, batch, sample_s=min(5.0, max(1.0, duration / 20)))
    try:
        soaked = soak(settings, out, console=None if as_json else console)
    except SoakRefused as exc:
        fail(str(exc))
    except (RuntimeError, OSError) as exc:
        fail(f"the soak could not run: {exc}")
    result = soaked.to_json()
    (out / MARKER).write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print_json(result)
    else:
        _print(result)
    if not result["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    soak_command()
