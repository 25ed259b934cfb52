"""The business steps that name packs and containers: aggregate, unpack, ship, return, dispense,
destroy, report-stolen, export, sample, lock, unlock, inspect. Each is one ``POST
/api/v1/actions/{kind}`` signed by the node's feed; the answer is one line (or one JSON object:
``{"kind", "entry", "subjects", "refs", "body", "node"}``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from medtrace.cli.console import done, print_json
from medtrace.cli.work.client import NodeApi
from medtrace.cli.work.items import ITEMS_HELP, items_arguments, subject, subjects
from medtrace.cli.work.target import Target, node_options


def count_subjects(uris: Sequence[str]) -> str:
    """``3 packs and 1 container``, or the one subject itself."""
    if len(uris) == 1:
        return uris[0]
    packs = sum(1 for u in uris if "/21/" in u)
    containers = sum(1 for u in uris if "/00/" in u)
    parts = [
        f"{n:,} {word}{'' if n == 1 else 's'}"
        for n, word in ((packs, "pack"), (containers, "container"))
        if n
    ]
    return " and ".join(parts) or f"{len(uris)} subjects"


def submit(
    target: Target,
    kind: str,
    uris: Sequence[str],
    *,
    refs: Sequence[str] = (),
    body: dict[str, Any] | None = None,
    said: str,
    shown: Sequence[str] | None = None,
    api: NodeApi | None = None,
) -> dict[str, Any]:
    """Sign one step at the node and report it (``said``: the past tense, e.g. "shipped {}";
    ``shown``: the subjects it names, when not all of them; ``api``: a node already connected)."""
    api = api or target.connect()
    try:
        answer = api.action(kind, {"subjects": list(uris), "refs": list(refs), "body": body or {}})
    finally:
        api.close()
    entry = answer.get("entry")
    entry_id = str(entry.get("id")) if isinstance(entry, dict) else None
    result = {
        "kind": kind,
        "entry": entry_id,
        "subjects": list(uris),
        "refs": list(refs),
        "body": body or {},
        "node": api.url,
    }
    if target.as_json:
        print_json(result)
    else:
        what = count_subjects(uris if shown is None else shown)
        done(f"{escape(said.replace('{}', what, 1))} [dim](entry {entry_id})[/]")
    return result


@dataclass(frozen=True)
class Step:
    """A step on ITEMS with no more than what ``extra`` options add to its body."""

    name: str
    kind: str
    said: str
    summary: str
    example: str


PLAIN_STEPS = (
    Step(
        "dispense",
        "dispense",
        "dispensed {}",
        "Dispense packs at a pharmacy counter (decommission them).",
        "medtrace dispense '(01)04012345000016(21)2NVSZP7AV2HT'",
    ),
    Step(
        "destroy",
        "destroy",
        "destroyed {}",
        "Record packs or containers as destroyed (irreversible).",
        "medtrace destroy --gtin 04012345000016 2NVSZP7AV2HT CP9RPZT55NBA",
    ),
    Step(
        "report-stolen",
        "stolen",
        "reported stolen: {}",
        "Report packs or containers stolen: every scan of them is then REJECT.",
        "medtrace report-stolen 040123450000000016",
    ),
    Step(
        "export",
        "export",
        "exported {}",
        "Record packs or containers as exported out of the market.",
        "medtrace export 040123450000000016",
    ),
    Step(
        "lock",
        "lock",
        "locked {}",
        "Lock packs or containers pending an investigation (medtrace unlock lifts it).",
        "medtrace lock --gtin 04012345000016 2NVSZP7AV2HT",
    ),
    Step(
        "unlock",
        "unlock",
        "unlocked {}",
        "Unlock locked packs or containers: back to what they were.",
        "medtrace unlock --gtin 04012345000016 2NVSZP7AV2HT",
    ),
)


def _help(summary: str, example: str, more: str = "") -> str:
    return f"{summary}\n\n{ITEMS_HELP}{more}\n\n\b\nExample:\n  {example}"


def plain_command(step: Step) -> click.Command:
    @click.command(step.name, help=_help(step.summary, step.example), short_help=step.summary)
    @items_arguments
    @node_options
    def command(
        items: tuple[str, ...], items_file: Path | None, gtin: str | None, target: Target
    ) -> None:
        submit(target, step.kind, subjects(items, items_file, gtin), said=step.said)

    return command


def _moving(name: str, kind: str, said: str, summary: str, example: str) -> click.Command:
    @click.command(name, help=_help(summary, example), short_help=summary)
    @items_arguments
    @click.option("--to", "destination", required=True, help="The member organisation's id.")
    @node_options
    def command(
        items: tuple[str, ...],
        items_file: Path | None,
        gtin: str | None,
        destination: str,
        target: Target,
    ) -> None:
        uris = subjects(items, items_file, gtin)
        submit(target, kind, uris, body={"destination": destination}, said=said + destination)

    return command


ship_command = _moving(
    "ship",
    "ship",
    "shipped {} to ",
    "Ship packs or containers to a member organisation (they are in transit until received).",
    "medtrace ship 040123450000000016 --to dist",
)
return_command = _moving(
    "return",
    "return",
    "returned {} to ",
    "Return packs or containers up the chain to a member organisation (recalled, withdrawn "
    "or expired stock too: that is how a recall is carried out).",
    "medtrace return 040123450000000016 --to acme",
)


@click.command(
    "aggregate",
    short_help="Pack packs or containers into a case or pallet (an SSCC).",
    help=_help(
        "Pack packs or containers into a case or pallet, named by its SSCC (created when new; "
        "items leave the container they were in).",
        "medtrace aggregate 040123450000000016 --gtin 04012345000016 --file serials.txt",
        "\n\nmedtrace unpack takes items out again.",
    ),
)
@click.argument("sscc")
@items_arguments
@node_options
def aggregate_command(
    sscc: str, items: tuple[str, ...], items_file: Path | None, gtin: str | None, target: Target
) -> None:
    container = subject(sscc)
    uris = subjects(items, items_file, gtin)
    submit(target, "pack", [container, *uris], said="packed {} into " + container, shown=uris)


@click.command(
    "unpack",
    short_help="Take packs or containers out of a case or pallet (all, without ITEMS).",
    help=_help(
        "Take packs or containers out of a case or pallet (its SSCC); without ITEMS, all of them.",
        "medtrace unpack 040123450000000016",
    ),
)
@click.argument("sscc")
@items_arguments
@node_options
def unpack_command(
    sscc: str, items: tuple[str, ...], items_file: Path | None, gtin: str | None, target: Target
) -> None:
    container = subject(sscc)
    uris = subjects(items, items_file, gtin) if items or items_file else []
    said = "took {} out of " + container if uris else "unpacked {}"
    submit(target, "unpack", [container, *uris], said=said, shown=uris or [container])


@click.command(
    "sample",
    short_help="Take packs as samples (--free: free samples).",
    help=_help(
        "Take packs as samples (decommission them); --free records free samples.",
        "medtrace sample --free --gtin 04012345000016 2NVSZP7AV2HT",
    ),
)
@items_arguments
@click.option("--free", is_flag=True, help="Free samples.")
@node_options
def sample_command(
    items: tuple[str, ...], items_file: Path | None, gtin: str | None, free: bool, target: Target
) -> None:
    body = {"free": True} if free else {}
    said = "took {} as free samples" if free else "took {} as samples"
    submit(target, "sample", subjects(items, items_file, gtin), body=body, said=said)


@click.command(
    "inspect",
    short_help="Customs: release, hold or detain packs or containers.",
    help=_help(
        "Customs: record an inspection of packs or containers: release, hold or detain (hold "
        "and detain quarantine them; release gives them back their status).",
        "medtrace inspect 040123450000000016 --decision hold --reason 'seal broken'",
    ),
)
@items_arguments
@click.option(
    "--decision", required=True, type=click.Choice(["release", "hold", "detain"]), help="The call."
)
@click.option("--reason", "reasons", multiple=True, help="Why (repeatable).")
@node_options
def inspect_command(
    items: tuple[str, ...],
    items_file: Path | None,
    gtin: str | None,
    decision: str,
    reasons: tuple[str, ...],
    target: Target,
) -> None:
    body: dict[str, Any] = {"decision": decision}
    if reasons:
        body["reasons"] = list(reasons)
    said = {"release": "released {}", "hold": "held {}", "detain": "detained {}"}[decision]
    submit(target, "inspect", subjects(items, items_file, gtin), body=body, said=said)


COMMANDS: dict[str, Callable[[], click.Command]] = {
    **{step.name: (lambda step=step: plain_command(step)) for step in PLAIN_STEPS},  # type: ignore[misc]
    "ship": lambda: ship_command,
    "return": lambda: return_command,
    "aggregate": lambda: aggregate_command,
    "unpack": lambda: unpack_command,
    "sample": lambda: sample_command,
    "inspect": lambda: inspect_command,
}
