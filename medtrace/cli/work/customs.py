"""``medtrace product register|show`` and ``medtrace customs declare`` (ADR 0020,
docs/spec/customs.md, docs/spec/cli.md).

A declarations file is checked here in full (the API's schema and the ledger's checks, the same
code the node runs) before the first request is sent, so a wrong value stores nothing; then the
declarations go in requests of ``--batch``, each all or nothing at the node, with a progress bar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from api.customs_schemas import DECLARATIONS, MAX_DECLARATIONS, PRODUCT
from api.problems import Problem
from api.validation import check_body
from ledger.errors import MalformedEntry
from ledger.lifecycle.declarations import declaration_step
from ledger.lifecycle.products import product_step
from medtrace.cli.console import AsciiIntRange, err_console, out, print_json
from medtrace.cli.console import progress_bar as bar
from medtrace.cli.work.client import NodeApi, WorkError
from medtrace.cli.work.target import Target, node_options


def _read_json(source: str) -> Any:
    """JSON from a file, or from standard input for ``-``; one line naming what is wrong."""
    name = "standard input" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkError(f"{name}: expected a readable UTF-8 JSON file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkError(
            f"{name}: expected JSON, found an error at line {exc.lineno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise WorkError(f"{name}: expected JSON nested less deeply") from None


def _checked(value: Any, schema: Any, name: str, build: Any, prefix: str = "$") -> None:
    """The node's own checks, here: the schema, then the ledger's (HS chapter, packages …)."""
    try:
        check_body(value, schema)
    except Problem as exc:
        raise WorkError(f"{name}: {exc.detail}") from None
    items = value["declarations"] if schema is DECLARATIONS else [value]
    for i, item in enumerate(items):
        try:
            build(item)
        except MalformedEntry as exc:
            where = f"$.declarations[{i}]" if schema is DECLARATIONS else prefix
            raise WorkError(f"{name}: {where}{str(exc).removeprefix('$')}") from None


# -- products ----------------------------------------------------------------------------------


@click.group("product", short_help="Register a GTIN's product master data, or show it.")
def product_group() -> None:
    """Product master data: what each GTIN is (name, INN, form, strength, pack, ATC, HS code,
    net mass, marketing-authorisation holder, markets), signed by its owner; the reference
    price sealed (docs/spec/customs.md)."""


@product_group.command("register")
@click.option("--file", "source", help="A registration as JSON (a file, or - for stdin).")
@click.option("--gtin", help="The GTIN (under your company prefixes).")
@click.option("--name", help="The product name.")
@click.option("--common-name", help="The INN, e.g. amoxicillin.")
@click.option("--form", "form_", help="Pharmaceutical form, e.g. 'capsule, hard'.")
@click.option("--strength", help="e.g. '500 mg'.")
@click.option("--pack-size", type=AsciiIntRange(1, 100_000), help="Units per pack.")
@click.option("--pack-type", help="e.g. 'blister pack'.")
@click.option("--atc", help="WHO ATC code, e.g. J01CA04.")
@click.option("--hs-code", help="HS code, 6 digits of chapter 30, e.g. 300410.")
@click.option("--net-mass-kg", help="Net mass of one pack in kg, e.g. 0.028.")
@click.option("--price", help="Reference price (sealed), e.g. 7.90.")
@click.option("--currency", help="ISO 4217 currency of the price, e.g. EUR.")
@click.option("--mah", help="Marketing-authorisation holder.")
@click.option("--market", "markets", multiple=True, help="A market (ISO 3166 code); repeat.")
@node_options
def register_command(source: str | None, target: Target, **given: Any) -> None:
    """Register (or supersede) a GTIN's product master data at a manufacturer's node: from
    --file (the JSON of docs/spec/customs.md), or from the options, all of them required.

    \b
    Examples:
      medtrace product register --file amoxicillin.json
      medtrace product register --gtin 04012345000016 --name "Amoxicillin Acme 500 mg" \\
          --common-name amoxicillin --form "capsule, hard" --strength "500 mg" \\
          --pack-size 20 --pack-type "blister pack" --atc J01CA04 --hs-code 300410 \\
          --net-mass-kg 0.028 --price 7.90 --currency EUR --mah "Acme Pharma GmbH" \\
          --market DE --market AT
    """
    if source is not None:
        if any(v for v in given.values()):
            raise WorkError("expected either --file or the field options, found both")
        request = _read_json(source)
        name = "standard input" if source == "-" else source
    else:
        request = _from_options(given)
        name = "the options"
    _checked(request, PRODUCT, name, product_step)
    api = target.connect()
    try:
        answer = api.post("/api/v1/products", request, "product registration")
    finally:
        api.close()
    if target.as_json:
        print_json({**answer["product"], "node": api.url})
        return
    out().print(_product_table(answer["product"]))


_OPTION_FIELDS = {
    "gtin": "gtin",
    "name": "name",
    "common_name": "commonName",
    "form_": "form",
    "strength": "strength",
    "pack_size": "packSize",
    "pack_type": "packType",
    "atc": "atc",
    "hs_code": "hsCode",
    "net_mass_kg": "netMassKg",
    "mah": "mah",
}


def _from_options(given: dict[str, Any]) -> dict[str, Any]:
    missing = [
        "--market" if k == "markets" else f"--{k.rstrip('_').replace('_', '-')}"
        for k, v in given.items()
        if not v
    ]
    if missing:
        raise WorkError(f"expected --file FILE or every field option, found no {missing[0]}")
    request = {field: given[option] for option, field in _OPTION_FIELDS.items()}
    request["referencePrice"] = {"amount": given["price"], "currency": given["currency"]}
    request["markets"] = list(given["markets"])
    return request


def _product_table(shown: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None)
    table.add_row("gtin", escape(str(shown.get("gtin"))))
    for name, value in (shown.get("product") or {}).items():
        text = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(name, escape(text))
    price = shown.get("referencePrice")
    table.add_row(
        "referencePrice",
        escape(f"{price['amount']} {price['currency']}") if price else "[dim]sealed[/]",
    )
    table.add_row("owner", escape(str(shown.get("owner"))))
    table.add_row("version", escape(str(shown.get("version"))))
    table.add_row("entry", escape(str(shown.get("entry"))))
    return table


@product_group.command("show")
@click.argument("gtin")
@node_options
def show_command(gtin: str, target: Target) -> None:
    """Show the product master data in force for GTIN at the node (any token); the reference
    price only to an operator or auditor of the node that registered it.

    \b
    Examples:
      medtrace product show 04012345000016
      medtrace product show 04012345000016 --json
    """
    api = target.connect()
    try:
        answer = api.call("GET", f"/api/v1/products/{gtin}", what="product query")
    finally:
        api.close()
    if target.as_json:
        print_json(answer)
        return
    out().print(_product_table(answer))


# -- declarations ------------------------------------------------------------------------------


@click.group("customs", short_help="Customs: lodge import declarations.")
def customs_group() -> None:
    """Customs work at a border post's node (docs/spec/customs.md)."""


def _declarations(value: Any) -> list[Any]:
    if isinstance(value, dict) and "declarations" in value:
        found = value["declarations"]
    elif isinstance(value, list):
        found = value
    else:
        found = [value]
    return found if isinstance(found, list) else [found]


@customs_group.command("declare")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--batch",
    type=AsciiIntRange(1, MAX_DECLARATIONS),
    default=100,
    show_default=True,
    help="Declarations per request (each request is all or nothing at the node).",
)
@node_options
def declare_command(source: str, batch: int, target: Target) -> None:
    """Lodge import declarations at a customs node: FILE (or - for stdin) holds one
    declaration, a list of them, or {"declarations": [...]} (docs/spec/customs.md).

    Every declaration is checked here first, with the node's own checks: one wrong value is
    one error line naming its path, and nothing is sent. Then they go in requests of --batch
    with a progress bar.

    \b
    With --json: {"declared": [{"reference", "entry", "packages"}], "count", "node"}.
    \b
    Examples:
      medtrace customs declare declarations.json
      cat today.json | medtrace customs declare - --json
    """
    name = "standard input" if source == "-" else source
    items = _declarations(_read_json(source))
    for start in range(0, max(len(items), 1), MAX_DECLARATIONS):
        _checked(
            {"declarations": items[start : start + MAX_DECLARATIONS]},
            DECLARATIONS,
            name,
            declaration_step,
        )
    api = target.connect()
    declared: list[dict[str, Any]] = []
    try:
        _send(api, items, batch, declared, hidden=target.as_json)
    finally:
        api.close()
    if target.as_json:
        print_json({"declared": declared, "count": len(declared), "node": api.url})
        return
    out().print(f"[green]✓[/] {len(declared)} declarations lodged at {escape(api.url)}")


def _send(
    api: NodeApi, items: list[Any], batch: int, declared: list[dict[str, Any]], *, hidden: bool
) -> None:
    with bar(target=err_console, hidden=hidden or len(items) <= batch) as progress:
        task = progress.add_task("declaring", total=len(items))
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            try:
                answer = api.post("/api/v1/declarations", {"declarations": chunk}, "declaration")
            except WorkError as exc:
                if declared:
                    exc.args = (f"{exc} ({len(declared)} declarations were lodged before)",)
                raise
            declared.extend(answer.get("declared", []))
            progress.advance(task, len(chunk))
