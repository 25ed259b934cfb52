"""``medtrace risk report``: per indicator, lane and the random selection, how many declarations
were inspected and how many inspections found something, read offline from a customs node's
store (docs/spec/risk.md "The report")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ledger.errors import LedgerError
from ledger.membership import Membership
from medtrace.cli.console import (
    DirectoryPath,
    err,
    existing_data_dir,
    existing_store_url,
    fail,
    out,
    print_json,
    progress_bar,
)
from node.config import ConfigError, NodeConfig, load_config
from node.risk.declared import declarations, read_store
from node.risk.declared_features import NodeDeclarations
from node.risk.lanes import RiskConfig, RiskConfigError
from node.risk.lanes import load_config as load_risk_config
from node.risk.report import RiskReport, Tally, risk_report
from node.store import Store


@contextmanager
def customs_node(data: Path) -> Iterator[tuple[NodeConfig, RiskConfig, Store, Membership]]:
    """A customs node's data directory opened offline: its configuration, its ``risk`` section,
    its store and its verified membership; every refusal is one line."""
    existing_data_dir(data)
    try:
        config = load_config(data)
        risk = load_risk_config(config.extra.get("risk"))
    except (ConfigError, RiskConfigError) as exc:
        fail(str(exc))
    with Store(existing_store_url(config.database_url(data))) as store:
        try:
            membership = store.membership_chain(config.genesis_id).current
        except LedgerError as exc:
            fail(f"{data}: expected the node's verified membership, found: {exc}")
        yield config, risk, store, membership


def node_declarations(paths: Sequence[Path], hidden: bool) -> NodeDeclarations:
    """The declarations of customs nodes' data directories (``--format medtrace``), in order,
    each with its rule indicators as when lodged and its inspection outcome."""
    parts = []
    for data in paths:
        spinner = err().status(f"reading the declarations of {escape(str(data))}")
        with (
            customs_node(data) as (config, risk, store, membership),
            nullcontext() if hidden else spinner,
        ):
            parts.append(read_store(store, membership, config.org, risk))
    return declarations(parts)


def _rate(t: Tally) -> str:
    return "-" if t.hit_rate is None else f"{t.hit_rate:.3f}"


def show(report: RiskReport) -> None:
    table = Table(
        title=f"risk report of {report.org}: {report.overall.declarations:,} declarations"
    )
    for column in ("reason", "declarations", "inspected", "found", "hit rate"):
        table.add_column(column, justify="left" if column == "reason" else "right")

    def row(label: str, t: Tally) -> None:
        table.add_row(label, str(t.declarations), str(t.inspected), str(t.found), _rate(t))

    for code, tally in report.indicators.items():
        row(code, tally)
    table.add_section()
    for lane, tally in report.lanes.items():
        row(f"lane {lane}", tally)
    row("random selection", report.random)
    table.add_section()
    row("all declarations", report.overall)
    out().print(table)
    unevaluated = [f"{c} {t.unevaluated}" for c, t in report.indicators.items() if t.unevaluated]
    if unevaluated:
        out().print("not evaluated (a field this node cannot read): " + ", ".join(unevaluated))


@click.command("report", short_help="Hit rate of each indicator, lane and the random selection.")
@click.option(
    "--data",
    required=True,
    type=DirectoryPath(),
    help="The customs node's data directory (node.json; its store is read, nothing written).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def report_command(data: Path, as_json: bool) -> None:
    """Score every declaration the customs node took again, as it was scored when lodged, and
    set it beside its newest inspection outcome: per indicator R1 to R11, per lane, for the
    random selection and overall, how many declarations it fired on, how many of those were
    inspected (outcome found_falsified or found_compliant), how many found something
    (found_falsified) and the hit rate (found / inspected; "-" when none was inspected).

    Reads the node's store offline with its node.json "risk" configuration; the node may be
    running.

    \b
    Examples:
      medtrace risk report --data nodes/border
      medtrace risk report --data nodes/border --json
    """
    with (
        customs_node(data) as (config, risk, store, membership),
        progress_bar(hidden=as_json, target=err()) as bar,
    ):
        task = bar.add_task("scoring", total=None)
        report = risk_report(
            store, membership, config.org, risk, progress=lambda n: bar.advance(task, n)
        )
    if as_json:
        print_json(report.to_json())
        return
    show(report)
