"""``medtrace product register|show`` and ``medtrace customs declare|decide|inspected`` (ADR
0020, ADR 0022, docs/spec/customs.md, docs/spec/cli.md).

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
from ledger.lifecycle.customs_decisions import DECISIONS, MAX_FINDINGS, MAX_NOTE, OUTCOMES
from ledger.lifecycle.declarations import REFERENCE, declaration_step
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


@click.group("customs", short_help="Customs: lodge declarations, decide, record inspections.")
def customs_group() -> None:
    """Customs work at a border post's node (docs/spec/customs.md): lodge import
    declarations, decide about their consignments, record what inspections found."""


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
    Each declaration is scored by the node (indicators R1 to R11, docs/spec/risk.md): its
    lane (green, yellow, red, blue), score and reasons are shown in a table; where the node
    has a learned model (risk.model), a "learned" column shows its score (0 to 1) and the
    feature that moved it most.

    \b
    With --json: {"declared": [{"reference", "entry", "packages", "risk"}], "count", "node"}.
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
    _lanes(declared)


#: How each lane is shown (issue 16; docs/spec/risk.md "Lanes").
_LANE_STYLE = {"green": "green", "yellow": "yellow", "red": "bold red", "blue": "blue"}


def _lanes(declared: list[dict[str, Any]]) -> None:
    """Each declaration's lane and score, and why (the reasons of every non-green lane)."""
    scored = [d for d in declared if isinstance(d.get("risk"), dict)]
    if not scored:
        return
    learned = any(isinstance(d["risk"].get("learned"), dict) for d in scored)
    table = Table("reference", "lane", "score", *(["learned"] if learned else []), "reasons")
    for d in scored:
        risk = d["risk"]
        lane = str(risk["lane"])
        reasons = "; ".join(f"{r['code']} {r['name']}" for r in risk.get("reasons", []))
        style = _LANE_STYLE.get(lane, "")
        cells = [escape(d["reference"]), f"[{style}]{lane}[/]", str(risk["score"])]
        if learned:  # the learned score where the node has a model (risk.model)
            cells.append(_learned(risk.get("learned")))
        table.add_row(*cells, escape(reasons) or "-")
    out().print(table)


def _learned(learned: Any) -> str:
    """The learned score and its largest contribution, e.g. ``0.93 (R1_never_commissioned +2.1)``."""
    if not isinstance(learned, dict):
        return "-"
    top = (learned.get("contributions") or [{}])[0]
    why = f" ({top['feature']} {top['contribution']:+.1f})" if "feature" in top else ""
    return escape(f"{learned['score']:.2f}{why}")


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


# -- decisions and inspection outcomes (ADR 0022) ----------------------------------------------


def _reference_path(reference: str) -> str:
    if not REFERENCE.match(reference):
        raise WorkError(
            f"expected a declaration reference of 1 to 35 of A-Z 0-9 / -, found {reference!r}"
        )
    return f"/api/v1/declarations/{reference}"


def _recorded(answer: dict[str, Any], what: str, target: Target, url: str) -> None:
    if target.as_json:
        print_json(answer | {"node": url})
        return
    held = f", packages held by inspect {answer['inspect'][:12]}…" if answer.get("inspect") else ""
    out().print(
        f"[green]✓[/] {escape(what)} of declaration {escape(str(answer['reference']))} "
        f"recorded at {escape(url)} (entry {escape(str(answer['entry'])[:12])}…{held})"
    )


@customs_group.command("decide")
@click.argument("reference")
@click.option("--release", is_flag=True, help="Release the consignment.")
@click.option("--hold", is_flag=True, help="Hold it for inspection.")
@click.option("--detain", is_flag=True, help="Detain it.")
@click.option("--seize", is_flag=True, help="Seize it (final).")
@click.option("--note", help=f"Why, in at most {MAX_NOTE} characters (signed, replicated).")
@node_options
def decide_command(
    reference: str,
    release: bool,
    hold: bool,
    detain: bool,
    seize: bool,
    note: str | None,
    target: Target,
) -> None:
    """Record a customs decision about the consignment of declaration REFERENCE, lodged at
    this customs node: a signed entry naming the declaration, replicated to every node. A
    hold, detention or seizure also quarantines the declared packages the ledger knows; a
    release lets them go (refused for a recalled lot or a dispensed pack). A seizure is final.

    \b
    With --json: {"reference", "decision", "entry", "inspect", "node"}.
    \b
    Examples:
      medtrace customs decide DE-2026-000123 --hold --note "seal broken"
      medtrace customs decide DE-2026-000123 --seize --json
    """
    chosen = [n for n, on in zip(DECISIONS, (release, hold, detain, seize), strict=True) if on]
    if len(chosen) != 1:
        raise WorkError(
            "expected one of --release, --hold, --detain or --seize, found "
            + (", ".join(f"--{c}" for c in chosen) or "none")
        )
    (decision,) = chosen
    if note is not None and not (note.strip() and len(note) <= MAX_NOTE):
        raise WorkError(f"--note: expected a text of 1 to {MAX_NOTE} characters")
    path = _reference_path(reference) + "/decision"
    body = {"decision": decision} | ({"note": note} if note is not None else {})
    api = target.connect()
    try:
        answer = api.post(path, body, "decision")
    finally:
        api.close()
    _recorded(answer, decision.capitalize(), target, api.url)


@customs_group.command("inspected")
@click.argument("reference")
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    required=True,
    help="What the inspection found.",
)
@click.option("--findings", help=f"What was found, in at most {MAX_FINDINGS} characters.")
@node_options
def inspected_command(reference: str, outcome: str, findings: str | None, target: Target) -> None:
    """Record what an inspection of the consignment of declaration REFERENCE found:
    found_falsified, found_compliant or not_inspected (how good the targeting is, issue 16).

    \b
    With --json: {"reference", "outcome", "entry", "node"}.
    \b
    Examples:
      medtrace customs inspected DE-2026-000123 --outcome found_falsified --findings "no hologram"
      medtrace customs inspected DE-2026-000123 --outcome not_inspected --json
    """
    if findings is not None and not (findings.strip() and len(findings) <= MAX_FINDINGS):
        raise WorkError(f"--findings: expected a text of 1 to {MAX_FINDINGS} characters")
    path = _reference_path(reference) + "/inspection"
    body = {"outcome": outcome} | ({"findings": findings} if findings is not None else {})
    api = target.connect()
    try:
        answer = api.post(path, body, "inspection outcome")
    finally:
        api.close()
    _recorded(answer, f"Outcome {outcome}", target, api.url)
