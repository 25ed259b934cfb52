"""``medtrace ledger …``: look into and re-verify a stored ledger."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import LedgerError
from ledger.membership import Membership
from medtrace.cli.console import console, existing_store_url, fail, print_json, progress_bar
from node.store import Store
from node.verify import verify_store


def _membership(store: Store, genesis: str | None) -> Membership:
    pinned = genesis or store.meta("genesis_id")
    if pinned is None:
        fail("the store names no genesis membership; pass --genesis ID (see `medtrace keys show`)")
    return store.membership_chain(pinned).current


@click.group("ledger")
def ledger_group() -> None:
    """Inspect and re-verify a node's stored ledger."""


@ledger_group.command("verify")
@click.option(
    "--db", "db", required=True, help="SQLite file of a node, or a database URL (postgresql://…)."
)
@click.option(
    "--genesis", help="Pin this genesis membership id instead of the one the store names."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def verify_command(db: str, genesis: str | None, as_json: bool) -> None:
    """Re-verify every stored entry (bytes, signature, chain, membership, kind) and the
    pack-state projection. Exit 0 when all holds; otherwise exit 1 naming the first broken entry.

    --db must name an existing SQLite file (it is never created) or a database URL; a missing
    path, a directory or a file that is not SQLite is one error line and exit 1.

    Example: medtrace ledger verify --db demo-out/nodes/manufacturer/node.db
    """
    store = Store(existing_store_url(db))
    try:
        membership = _membership(store, genesis)
        total = store.count("entries")
        with progress_bar(label="verifying", hidden=as_json) as progress:
            task = progress.add_task("entries", total=total)
            report = verify_store(
                store, membership, lambda done: progress.update(task, completed=done)
            )
    except LedgerError as exc:
        _verify_failed(type(exc).__name__, str(exc), as_json)
    except SQLAlchemyError:
        _verify_failed(
            "UnreadableStore",
            "the store could not be read: it is damaged or was changed behind the node's back",
            as_json,
        )
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "ok": True,
                "feeds": report.feeds,
                "entries": report.entries,
                "packs": report.packs,
                "alerts": report.alerts,
            }
        )
        return
    table = Table(title="ledger verified", show_header=False)
    for label, value in (
        ("feeds", report.feeds),
        ("entries", report.entries),
        ("packs", report.packs),
        ("alerts", report.alerts),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    console.print("[bold green]OK[/] every entry and the projection verify")


def _verify_failed(error: str, message: str, as_json: bool) -> None:
    if as_json:
        print_json({"ok": False, "error": error, "message": message})
        raise SystemExit(1)
    fail(message)


@ledger_group.command("heads")
@click.option("--db", "db", required=True, help="SQLite file of a node, or a database URL.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def heads_command(db: str, as_json: bool) -> None:
    """Show every feed's size and head, and the digest over all heads.

    --db must name an existing SQLite file (it is never created) or a database URL.
    """
    store = Store(existing_store_url(db))
    try:
        heads = store.ledger_heads()
    finally:
        store.close()
    if as_json:
        # Exactly what the digest covers: a frozen feed also shows its fork point
        # (docs/spec/replication.md, "The digest").
        print_json({"digest": heads.digest, "feeds": heads.feeds_json()})
        return
    table = Table("feed", "size", "head", "frozen at")
    for head in sorted(heads.feeds.values(), key=lambda h: h.feed):
        table.add_row(
            head.feed,
            f"{head.size:,}",
            (head.head or "")[:16] + "…",
            "" if head.frozen_at is None else str(head.frozen_at),
        )
    console.print(table)
    console.print(f"digest [bold]{heads.digest}[/]")
