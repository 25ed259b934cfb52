"""``medtrace show``: what the node knows about a pack or a container, as a table (or the API's
JSON answer with ``--json``)."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ledger.identifiers import parse_subject
from medtrace.cli.console import out, print_json
from medtrace.cli.work.items import subject
from medtrace.cli.work.target import Target, node_options

_PACK_ROWS: tuple[str, ...] = (
    "pack",
    "lot",
    "expiry",
    "status",
    "effective_status",
    "custodian",
    "destination",
    "container",
    "changed_by",
    "changed_at",
)
_CONTAINER_ROWS: tuple[str, ...] = (
    "container",
    "status",
    "custodian",
    "destination",
    "parent",
    "packs",
)


def _table(answer: dict[str, Any], rows: tuple[str, ...]) -> Table:
    table = Table(show_header=False, box=None)
    for name in rows:
        value = answer.get(name)
        table.add_row(name, "-" if value is None else escape(str(value)))
    children = answer.get("children")
    if isinstance(children, list):
        table.add_row("children", escape(", ".join(map(str, children[:20]))) or "-")
        if len(children) > 20:
            table.add_row("", f"… and {len(children) - 20} more")
    for alert in answer.get("alerts") or []:
        table.add_row(
            f"[red]alert {escape(str(alert.get('code')))}[/]", escape(str(alert.get("message")))
        )
    return table


@click.command(
    "show",
    short_help="Show a pack's or a container's state at the node.",
)
@click.argument("item")
@click.option("--gtin", help="The GTIN of an ITEM given as a bare serial.")
@node_options
def show_command(item: str, gtin: str | None, target: Target) -> None:
    """Show what the node knows about a pack (status, custodian, container, lot, expiry, alerts)
    or a container (status, custodian, contents). An operator's, auditor's or verifier's token.

    ITEM is a GS1 Digital Link URI, (01)…(21)… or (00)…, an 18-digit SSCC, or a serial with
    --gtin. With --json: the node's answer as is (docs/spec/api.md, Queries).

    \b
    Examples:
      medtrace show 040123450000000016
      medtrace show --gtin 04012345000016 2NVSZP7AV2HT --json
    """
    uri = subject(item, gtin)
    api = target.connect()
    try:
        parsed = parse_subject(uri)
        if parsed.sscc is not None:
            answer, rows = api.container(parsed.sscc), _CONTAINER_ROWS
        else:
            assert parsed.gtin is not None
            assert parsed.serial is not None
            answer, rows = api.pack(parsed.gtin, parsed.serial), _PACK_ROWS
    finally:
        api.close()
    if target.as_json:
        print_json(answer)
    else:
        out().print(_table(answer, rows))


COMMANDS = {"show": lambda: show_command}
