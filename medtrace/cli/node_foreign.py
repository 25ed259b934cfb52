"""``medtrace node foreign``: how this node asks the ledgers of the foreign roots its membership
pins (docs/spec/cross-border.md, ADR 0028): the verifier token each of those consortia issued to
it, and where to reach it when not at the root's endpoint. Stored in node.json (0600)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.markup import escape
from rich.table import Table

from medtrace.cli.console import directory_option, done, fail, out, print_json
from node.config import CONFIG_FILE, ForeignConfig, load_config, save_config

_GENESIS = re.compile(r"\A[0-9a-f]{64}\Z")
_data_option = directory_option("--data", "data", help="The node's data directory.")


@click.group("foreign", short_help="Tokens for asking foreign roots' ledgers.")
def foreign_group() -> None:
    """The verifier tokens this node asks other consortia's ledgers with (for packs under a
    foreign root's company prefixes: medtrace keys trust-foreign). Restart the node to use a
    change."""


@foreign_group.command("add")
@_data_option
@click.option("--genesis", required=True, help="The foreign root's genesis id (64 hex digits).")
@click.option(
    "--token",
    required=True,
    help="A verifier token that consortium's node issued to this node "
    "(medtrace node token create --role verifier, run there).",
)
@click.option("--url", default="", help="Its base URL, when not the foreign root's endpoint.")
@click.option(
    "--ca",
    default="",
    help="The CA certificate its TLS certificate chains to (a path, relative to --data or "
    "absolute; default: the system's CAs).",
)
@click.option(
    "--resolver",
    default="",
    help="A GS1 Digital Link resolver to ask for its verification service "
    "(linkType=gs1:verificationService) when neither --url nor the root's endpoint names one.",
)
def foreign_add_command(
    data: Path, genesis: str, token: str, url: str, ca: str, resolver: str
) -> None:
    """Add the token for a foreign root, or replace the one for the same genesis.

    \b
    Example:
      medtrace node foreign add --data nodes/customs --genesis 8f3c…e21a \\
          --token mt_… --ca foreign-no-ca.crt
    """
    genesis = genesis.strip().lower()
    if not _GENESIS.match(genesis):
        fail(f"--genesis: expected a genesis id of 64 hex digits, found {genesis[:80]!r}")
    for name, value in (("--url", url), ("--resolver", resolver)):
        if value and urlsplit(value).scheme not in ("http", "https"):
            fail(f"{name}: expected http:// or https://, found {value[:80]!r}")
    if ca and not (data / ca).is_file():
        fail(f"--ca: no file at {data / ca}")
    config = load_config(data)
    others = tuple(f for f in config.foreign if f.genesis != genesis)
    entry = ForeignConfig(genesis, token.strip(), url.rstrip("/"), ca, resolver.rstrip("/"))
    save_config(data, replace(config, foreign=(*others, entry)))
    what = "replaced" if len(others) != len(config.foreign) else "added"
    done(f"foreign ledger {genesis[:16]}… {what}" + (f": {escape(url)}" if url else ""))


@foreign_group.command("remove")
@_data_option
@click.option("--genesis", required=True, help="The foreign root's genesis id.")
def foreign_remove_command(data: Path, genesis: str) -> None:
    """Forget the token for a foreign root."""
    config = load_config(data)
    genesis = genesis.strip().lower()
    others = tuple(f for f in config.foreign if f.genesis != genesis)
    if len(others) == len(config.foreign):
        fail(f"expected a foreign ledger {genesis[:16]}… in {data / CONFIG_FILE}, found none")
    save_config(data, replace(config, foreign=others))
    done(f"foreign ledger {genesis[:16]}… removed")


@foreign_group.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def foreign_list_command(data: Path, as_json: bool) -> None:
    """List the foreign ledgers this node may ask (tokens are not shown).

    With --json: {"foreign": [{"genesis": …, "url": …, "ca": …, "resolver": …}, …]} on one
    line.
    """
    config = load_config(data)
    rows = [
        {"genesis": f.genesis, "url": f.url, "ca": f.ca, "resolver": f.resolver}
        for f in config.foreign
    ]
    if as_json:
        print_json({"foreign": rows})
        return
    table = Table("genesis", "url", "ca", "resolver")
    for row in rows:
        where = escape(row["url"] or "(the root's endpoint)")
        table.add_row(row["genesis"], where, row["ca"], escape(row["resolver"]))
    out().print(table)


__all__ = ["foreign_group"]
