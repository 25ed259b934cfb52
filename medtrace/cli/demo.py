"""``medtrace demo``: the whole supply chain in one run, with a report."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import requests
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from keys.keystore import KeyStoreError, atomic_write, ensure_private_dir
from ledger.errors import LedgerError
from medtrace.cli.console import console, fail, message_of
from medtrace.demo.abroad import Abroad, play_abroad
from medtrace.demo.scenario import Step, Story, play, unexpected
from node.config import ConfigError
from node.localnet.country_b import COUNTRY_A, COUNTRY_B, SERVICE_A, CountryB, create_country_b
from node.localnet.http_actor import HttpNode
from node.localnet.network import create_consortium
from node.localnet.processes import (
    SECRETS_DIR,
    Layout,
    ProcessNetwork,
    build_process_network,
    init_network,
    passphrase_file,
)
from node.localnet.running import RunningNode, running_nodes

PHASES = 14
_MARKER = "report.json"
_COLOURS = {"RELEASE": "bold green", "HOLD": "bold yellow", "REJECT": "bold red"}


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / _MARKER).exists() and not (out / "consortium").exists():
            fail(f"{out} is not empty and holds no earlier demo; choose another --out")
        running = running_nodes(out)
        if running:
            fail(_still_running(out, running))
        shutil.rmtree(out)
    out.mkdir(parents=True)
    out.chmod(0o700)


def _still_running(out: Path, running: list[RunningNode]) -> str:
    """Why an earlier demo cannot be replaced yet, and how to stop what serves from it."""
    one = len(running) == 1
    names = ", ".join(f"{n.name} (pid {n.pid})" if n.pid else n.name for n in running)
    pids = [str(n.pid) for n in running if n.pid]
    how = f"kill {' '.join(pids)}" if len(pids) == len(running) else "Ctrl-C where it runs"
    return (
        f"expected no node running from {out}/nodes before the demo replaces {out}, found "
        f"{'node' if one else 'nodes'} {names}: stop {'it' if one else 'them'} ({how}) and run "
        "the demo again; nothing was removed"
    )


def _passphrase(out: Path) -> str:
    given = os.environ.get("MEDTRACE_PASSPHRASE")
    if given:
        return given
    secret = secrets.token_urlsafe(24)
    # A demo keeps its throw-away consortium passphrase beside the nodes' own ones, outside every
    # node's data directory (node/localnet/processes.py: secrets/<node>.passphrase).
    ensure_private_dir(out / SECRETS_DIR)
    atomic_write(
        passphrase_file(out, "consortium"), secret.encode() + b"\n", mode=0o600, overwrite=False
    )
    return secret


def _steps_table(steps: list[Step]) -> Table:
    table = Table(
        "step", "actor", "verdict", "product", "reasons", "alerts", title="What each actor saw"
    )
    for step in steps:
        verdict = f"[{_COLOURS[step.verdict]}]{step.verdict}[/]" if step.verdict else "[dim]—[/]"
        table.add_row(
            step.name,
            step.actor,
            verdict,
            step.product or "",
            _reasons(step),
            ", ".join(step.alerts),
        )
    return table


@click.command("demo")
@click.option(
    "--out",
    "out",
    default="demo-out",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the consortium, the node data directories and report.json (replaced if it holds an earlier demo).",
)
@click.option(
    "--setup-only",
    is_flag=True,
    help="Create the consortium and the node data directories, then stop (no processes).",
)
@click.option(
    "--docker",
    is_flag=True,
    help="With --setup-only: lay the network out for docker/compose.yaml (service names, PostgreSQL regulator).",
)
@click.option(
    "--regulator-database",
    default="postgresql+psycopg://medtrace:medtrace@postgres:5432/regulator",
    show_default=True,
    help="With --docker: the regulator node's database URL.",
)
@click.option(
    "--no-tls",
    is_flag=True,
    help="Plain HTTP between the nodes and their clients (default: HTTPS and mutual TLS between "
    "nodes, with certificates from the consortium's CA).",
)
def demo_command(
    out: Path, setup_only: bool, docker: bool, regulator_database: str, no_tls: bool
) -> None:
    """Run the demo network end to end: five organisations, each its own node process on
    loopback, and a batch of 10,000 packs commissioned, aggregated, shipped across a border,
    inspected, received, verified and dispensed; then a cloned serial, a recalled lot, a
    mislabelled pack and an unknown one. Then a second country (another consortium, a customs
    node and a regulator node under OUT/abroad): a case of packs is exported to it, its customs
    verify them against the first country's ledger, find the clone, and send the case to the
    first country's regulator node, which imports it as an alert.

    Writes OUT/report.json and exits non-zero if a node fails, a verdict is not the expected
    one, or the nodes do not converge. Every node process is stopped at the end, also on
    Ctrl-C and on failure.

    Every node serves HTTPS with a certificate from the consortium's CA and replicates over
    mutual TLS; clients trust DATA/tls-ca.crt of a node (--no-tls: plain HTTP).

    \b
    Examples:
      medtrace demo --out demo-out
      medtrace demo --out demo-out --no-tls                 # plain HTTP
      medtrace node run --data demo-out/nodes/pharmacy      # one node again, afterwards
      medtrace demo --setup-only --docker --out /data       # what docker/compose.yaml runs
    """
    try:
        _demo(
            out,
            setup_only=setup_only,
            docker=docker,
            regulator_database=regulator_database,
            tls=not no_tls,
        )
    except click.exceptions.Exit:  # a RuntimeError too: fail() has already said why
        raise
    except (
        LedgerError,
        KeyStoreError,
        ConfigError,
        SQLAlchemyError,
        requests.RequestException,
        RuntimeError,
        OSError,
    ) as exc:
        if os.environ.get("MEDTRACE_DEBUG"):
            raise
        fail(f"the demo stopped: {message_of(exc) or 'an unexpected failure'}")


def _demo(out: Path, *, setup_only: bool, docker: bool, regulator_database: str, tls: bool) -> None:
    _prepare(out)
    passphrase = _passphrase(out)
    with console.status("creating the consortium and its keys"):
        consortium = create_consortium(out / "consortium", passphrase)
    if setup_only:
        layout = Layout.docker(regulator_database, tls=tls) if docker else Layout.loopback(tls=tls)
        init_network(out, consortium, passphrase, layout)
        console.print(
            f"[bold green]✓[/] consortium and {len(layout.ports)} node data directories in {out}/nodes"
        )
        return
    layout = Layout.loopback(tls=tls)
    with console.status(f"creating country {COUNTRY_B}'s consortium; each country pins the other"):
        abroad = create_country_b(out, consortium, passphrase, layout)
    with console.status("creating the node data directories and tokens"):
        network = build_process_network(out, consortium, passphrase, tls=tls, layout=layout)
        abroad.init(out / "nodes" / SERVICE_A)
    try:
        with console.status(
            f"starting seven node processes: five in {COUNTRY_A}, two in {COUNTRY_B}"
        ):
            abroad.launch()
            network.start()
            abroad.wait()
        story = Story(
            dict(network.actors),
            consortium.membership,
            network.converge,
            labels=out / "labels",
            genesis=consortium.genesis_id,
        )
        with Progress(
            TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("starting", total=PHASES)
            for phase in play(story):
                progress.update(task, description=phase, advance=1)
            there = Abroad(abroad.nodes, abroad.converge, abroad.genesis, out)
            for phase in play_abroad(story, there):
                progress.update(task, description=phase, advance=1)
            progress.update(task, description="done", completed=PHASES)
        report = _report(network, story.steps, abroad)
        failed = [out / "nodes" / n for n in network.failed()]
        failed += [abroad.out / "nodes" / n for n in abroad.failed()]
    finally:
        try:
            network.stop()
        finally:
            abroad.stop()
    (out / _MARKER).write_text(json.dumps(report, indent=2) + "\n")
    console.print(_steps_table(story.steps))
    nodes = Table("node", "country", "role", "url", "digest", title="Nodes at the end")
    for country, found in ((COUNTRY_A, report["nodes"]), (COUNTRY_B, report["abroad"]["nodes"])):
        for name, node in found.items():
            nodes.add_row(name, country, node["role"], node["url"], node["digest"][:16] + "…")
    console.print(nodes)
    console.print(_pins_table(report["abroad"]["pins"]))
    problems = unexpected(story.steps, story.regulator_alerts, ledger_a=consortium.genesis_id)
    problems += [f"node {d.name} exited before the end (see {d}/node.log)" for d in failed]
    digests = {n["digest"] for n in report["nodes"].values()}
    if len(digests) != 1:
        problems.append(f"the nodes did not converge: {len(digests)} different digests")
    if len({n["digest"] for n in report["abroad"]["nodes"].values()}) != 1:
        problems.append(f"the nodes of {COUNTRY_B} did not converge")
    console.print(f"report: {out / _MARKER}")
    if problems:
        for problem in problems:
            console.print(f"[bold red]✗[/] {problem}")
        raise SystemExit(1)
    console.print(
        f"[bold green]✓[/] every verdict as expected; all {len(report['nodes'])} nodes of "
        f"{COUNTRY_A} hold the same ledger ({digests.pop()[:16]}…), both of {COUNTRY_B} theirs"
    )


def _reasons(step: Step) -> str:
    """The step's reasons, else its note; both for a step with details (which ledger answered a
    scan abroad, what a case file held)."""
    reasons = ", ".join(step.reasons)
    if reasons and step.details and step.note:
        return f"{escape(reasons)}\n[dim]{escape(step.note)}[/]"
    return escape(reasons or step.note)


def _pins_table(pins: list[dict[str, Any]]) -> Table:
    table = Table(
        "consortium", "pins", "country", "prefixes", "endpoint", "signed by", title="Foreign roots"
    )
    for pin in pins:
        table.add_row(
            f"{pin['consortium']} (v{pin['membership_version']})",
            f"{pin['pins']} ({pin['genesis'][:16]}…)",
            pin["country"],
            ", ".join(pin["prefixes"]),
            pin["endpoint"] or "",
            ", ".join(pin["signed_by"]),
        )
    return table


def _report(network: ProcessNetwork, steps: list[Step], abroad: CountryB) -> dict[str, Any]:
    def nodes(found: Mapping[str, HttpNode], data: Path) -> dict[str, Any]:
        return {
            name: {
                "role": node.role.value,
                "data": str(data / name),
                "url": node.url,
                "digest": node.digest(),
            }
            for name, node in found.items()
        }

    return {
        "country": COUNTRY_A,
        "genesis": abroad.pin_of_a().genesis,
        "nodes": nodes(network.nodes, Path("nodes")),
        "abroad": {
            "country": COUNTRY_B,
            "consortium": abroad.consortium.name,
            "genesis": abroad.genesis,
            "nodes": nodes(abroad.nodes, Path(abroad.out.name) / "nodes"),
            "pins": [pin.to_json() for pin in abroad.pins],
        },
        "steps": [step.to_json() for step in steps],
    }
