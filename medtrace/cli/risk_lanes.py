"""``medtrace risk simulate``, ``seed`` and ``draw``: the rule indicators R1 to R11 and the lanes
measured on the generator's labelled declarations, and the random selection's seed committed
before and replayed after (docs/spec/risk.md "Lanes", ADR 0027)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.table import Table

from medtrace.cli.console import done, err, fail, out, print_json, progress_bar
from node.risk.generator import KINDS, Generator, evaluate_set
from node.risk.lanes import RandomSelection, RiskConfig, commitment, draw, new_seed

_RATE = click.FloatRange(0.0, 1.0)


@click.command("simulate", short_help="Recall of falsified declarations against inspections.")
@click.option(
    "--declarations",
    "count",
    default=10_000,
    show_default=True,
    type=click.IntRange(11, 200_000),
    help="Declarations to generate.",
)
@click.option(
    "--falsified",
    default=0.05,
    show_default=True,
    type=_RATE,
    help="Share of falsified declarations (the kinds R1 to R11 in turn).",
)
@click.option(
    "--random-rate",
    default=0.02,
    show_default=True,
    type=_RATE,
    help="Rate of the random selection among green declarations.",
)
@click.option(
    "--seed",
    "data_seed",
    default=16,
    show_default=True,
    type=int,
    help="Seed of the generator: the same seed, the same set.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the ledger (generator.db), labels (labels.jsonl) and a node.json in this "
    "directory: a customs node's data directory for `medtrace risk report` and `train`.",
)
@click.option(
    "--outcomes",
    is_flag=True,
    help="After scoring, record an inspection outcome on every declaration (found_falsified "
    "on the falsified, found_compliant on the others): data to train the learned score on.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def simulate_command(
    count: int, falsified: float, random_rate: float, data_seed: int, keep: Path | None,
    outcomes: bool, as_json: bool,
) -> None:  # fmt: skip
    """Build a ledger of legitimate flows and falsified declarations of every kind R1 to R11 in
    a scratch node store, score every declaration with the default lanes, and print the recall
    of the falsified ones against the inspection rate (red or yellow lane), per kind.

    \b
    Examples:
      medtrace risk simulate
      medtrace risk simulate --declarations 2000 --falsified 0.08 --json
      medtrace risk simulate --keep sim/   # sim/generator.db, sim/labels.jsonl, sim/node.json
      medtrace risk simulate --declarations 3000 --falsified 0.1 --outcomes --keep sim/
    """
    if keep is not None and keep.exists() and any(keep.iterdir()):
        fail(f"--keep: expected a new or empty directory, found files in {keep}")
    with tempfile.TemporaryDirectory(prefix="medtrace-risk-") as scratch:
        root = keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        generator = Generator(root, data_seed)
        try:
            with progress_bar(hidden=as_json, target=err()) as bar:
                task = bar.add_task("generating", total=None)
                labels = generator.build(count, falsified)
                bar.update(task, total=len(labels), completed=0, description="scoring")
                seed = new_seed()
                config = RiskConfig(random=RandomSelection(random_rate, seed, commitment(seed)))
                result = evaluate_set(
                    generator.store, generator.membership, labels, config,
                    progress=lambda n: bar.advance(task, n),
                )  # fmt: skip
            if outcomes:
                generator.record_outcomes(labels)
            if keep is not None:
                generator.node_json()
        finally:
            generator.close()
    if as_json:
        print_json(result.to_json())
        return
    table = Table(title=f"{result.declarations:,} declarations, {result.falsified:,} falsified")
    for column in ("kind", "falsified", "inspected", "recall"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in KINDS:
        n, caught = result.kinds.get(kind, [0, 0])
        table.add_row(kind, str(n), str(caught), f"{caught / n:.3f}" if n else "-")
    table.add_row("all", str(result.falsified), str(result.caught), f"{result.recall:.3f}")
    out().print(table)
    out().print(
        f"inspection rate {result.inspection_rate:.2%} ({result.inspected:,} of "
        f"{result.declarations:,}; red {result.red:,}); recall {result.recall:.2%}; "
        f"random selection {result.selection_rate:.2%} at a rate of {random_rate:.2%}; "
        f"{60 * result.declarations / result.seconds:,.0f} declarations scored per minute"
    )


@click.command("seed", short_help="A new random-selection seed and its commitment.")
def seed_command() -> None:
    """Print a new seed for the random selection and its commitment (SHA-256 of the seed).

    Publish the commitment before the seed is used (node.json "risk.random.commitment", and
    wherever auditors will look); keep the seed ("risk.random.seed") secret until the period
    ends, then reveal it so that every draw can be replayed with `medtrace risk draw`.

    \b
    Example:
      medtrace risk seed
    """
    seed = new_seed()
    out().print(f"seed        {seed.hex()}\ncommitment  {commitment(seed)}")


@click.command("draw", short_help="Replay random selections from a revealed seed.")
@click.option("--seed", "seed_hex", required=True, help="The revealed seed, hex.")
@click.option("--rate", required=True, type=_RATE, help="The selection rate of the period.")
@click.option("--commitment", "committed", help="The commitment published before: checked.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
@click.argument("references", nargs=-1, required=True)
def draw_command(
    seed_hex: str, rate: float, committed: str | None, as_json: bool, references: tuple[str, ...]
) -> None:
    """Replay the random draw of each declaration REFERENCE: HMAC-SHA256(seed, reference), its
    first 8 bytes as a fraction of 2^64, selected when below the rate.

    \b
    Example:
      medtrace risk draw --seed 3f…a1 --rate 0.02 --commitment 9c…0e DE-2026-000123
    """
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        fail(f"--seed: expected the seed as hex, found {seed_hex[:20]!r}")
    if committed is not None and commitment(seed) != committed.lower():
        fail(f"--commitment: expected {commitment(seed)} (SHA-256 of the seed), found {committed}")
    draws = {ref: draw(seed, ref) for ref in references}
    if as_json:
        print_json({"commitment": commitment(seed), "rate": rate, "draws": {
            ref: {"draw": d, "selected": d < rate} for ref, d in draws.items()}})  # fmt: skip
        return
    for ref, d in draws.items():
        out().print(f"{ref}  {d:.6f}  {'selected' if d < rate else 'not selected'}")
    if committed is not None:
        done("the seed matches the commitment")
