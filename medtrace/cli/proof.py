"""``medtrace proof verify``: a proof file checked with nothing but the genesis id.

::

    medtrace scan label.png --node $URL --token $T --genesis $G --export-proof pack.proof.json
    medtrace proof verify pack.proof.json --genesis $G [--json]

The file (docs/spec/proofs.md, "Proof files") is one pack's provenance as a verifier is sent
it, with the membership versions, the verdict's summary and the feeds' cosigned checkpoints.
No node and no network are asked. Exit codes: 0 RELEASE, 1 HOLD, 2 REJECT (the verdict the
file proves, as of its export), 4 not a proof file / another consortium / unreadable, 5 the
file was tampered with (``proof_file_tampered``: one line naming what failed).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from medtrace.cli.console import out
from medtrace.cli.offline_files import load_json_file, refuse
from scanner.outcome import Outcome
from scanner.proof_file import (
    TAMPERED,
    ProofReport,
    ProofTampered,
    ProofUnusable,
    export_proof,
    verify_proof,
)
from scanner.sources.fallback import Sources
from scanner.verdict import Decision

TAMPERED_EXIT = 5
USAGE_EXIT = 4
_EXIT = {Decision.RELEASE: 0, Decision.HOLD: 1, Decision.REJECT: 2}
_COLOUR = {Decision.RELEASE: "green", Decision.HOLD: "yellow", Decision.REJECT: "red"}


def write_proof(path: Path, sources: Sources, outcome: Outcome) -> None:
    """Write the proof file of ``outcome`` (``medtrace scan … --export-proof FILE``); raises
    ``ProofUnusable`` when the verdict rests on no verified entries (the node unreachable)."""
    genesis = sources.genesis or (sources.local.pin if sources.local is not None else None)
    if not genesis:
        raise ProofUnusable("--export-proof needs the pinned genesis id (--genesis)")
    doc = export_proof(
        outcome,
        genesis=genesis,
        checkpoints=sources.proof_checkpoints(outcome),
        in_transit_ok=sources.in_transit_ok,
        custodian=sources.custodian,
    )
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@click.group("proof")
def proof_group() -> None:
    """Check a proof file (medtrace scan … --export-proof FILE) offline."""


def _show(report: ProofReport) -> None:
    decision = report.verdict.decision
    colour = _COLOUR[decision]
    head = Text(justify="center")
    head.append(f"{decision.value}\n", style=f"bold {colour}")
    head.append(f"{report.pack}\nexported {report.exported_at}")
    console = out()
    console.print(Panel(head, title="medtrace proof verify", border_style=colour))
    console.print(
        f"{report.entries} entries and {report.memberships} membership versions verified "
        "from the genesis alone"
    )
    for reason in report.verdict.reasons:
        console.print(f"• [bold]{escape(reason.code)}[/]  {escape(reason.message)}")
    data = report.to_json()
    if not data["checkpoints"]:
        console.print(
            "[yellow]no cosigned checkpoint in the file:[/] that the node showed everyone the "
            "same history is not attested"
        )
    for c in data["checkpoints"]:
        console.print(
            f"[green]✓[/] checkpoint {escape(c['feed'])} at size {c['size']}, cosigned by "
            f"{', '.join(c['cosigned_by'])}: {c['age_at_export_s']} s before the export, "
            f"{c['age_now_s']} s ago"
        )
    if report.not_covered:
        console.print(f"[yellow]{len(report.not_covered)} entries no checkpoint covers[/]")
    now = report.verdict_now.decision
    if now is not decision:
        codes = ", ".join(r.code for r in report.verdict_now.reasons)
        console.print(
            f"[{_COLOUR[now]}]judged today the same entries give {now.value} ({codes})[/]"
        )


@proof_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--genesis",
    envvar="MEDTRACE_GENESIS",
    help="The consortium's genesis membership id, pinned out of band (or MEDTRACE_GENESIS); "
    "required.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on one line.")
def verify_command(file: Path, genesis: str | None, as_json: bool) -> None:
    """Verify a proof file with nothing but the genesis id: membership chain, every entry's
    signature and disclosed path, the verdict, the checkpoints and their cosignatures.

    \b
    Exit codes: 0 RELEASE, 1 HOLD, 2 REJECT (the verdict the file proves), 4 not a proof file
    or of another consortium, 5 tampered (proof_file_tampered).
    \b
    Example:
      medtrace proof verify border.proof.json --genesis $GENESIS
    """
    if not genesis:
        refuse(
            "usage",
            "expected --genesis ID (or MEDTRACE_GENESIS): the pinned genesis id",
            USAGE_EXIT,
            as_json,
        )
    doc = load_json_file(file, "proof file", USAGE_EXIT, as_json)
    try:
        report = verify_proof(doc, genesis, now=datetime.now(UTC))
    except ProofTampered as exc:
        refuse(TAMPERED, f"{file}: {exc}", TAMPERED_EXIT, as_json)
    except ProofUnusable as exc:
        refuse("usage", f"{file}: {exc}", USAGE_EXIT, as_json)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        _show(report)
    sys.exit(_EXIT[report.verdict.decision])
