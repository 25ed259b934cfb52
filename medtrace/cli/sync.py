"""``medtrace sync …``: carry ledger updates by file to a post with no link, and back.

At the connected node::

    medtrace sync export --data nodes/distributor --out to-post.mtb [--since post-heads.json]

At the post (its node's data directory, or only its store)::

    medtrace sync import --data nodes/customs to-post.mtb
    medtrace sync heads --data nodes/customs --out post-heads.json     # carried back

A bundle carries the exporter's cosigned checkpoints (and checkpoint fork evidence), so that
``medtrace scan --offline`` against the bundle or the post's data directory can show that the
witnesses saw the same history (ADR 0024). ``import`` verifies entries like replication does and
each checkpoint as a peer's; it exits 0 when everything in the bundle was taken
(or already held), 2 when some entries or checkpoints were refused or the file was cut short
(the valid rest is kept, the table says what), and 1 when the file could not be used at all, e.g. a bundle of
another consortium (one line naming both consortia and their genesis ids; nothing stored).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from medtrace.cli.console import (
    DirectoryPath,
    FilePath,
    console,
    existing_data_dir,
    existing_store_url,
    fail,
    message_of,
    print_json,
)
from node.config import ConfigError, load_config
from node.replication.bundle_format import BundleError, read_heads
from node.replication.bundles import export_bundle, import_bundle, write_heads
from node.store import Store

PARTIAL_EXIT = 2


def _open(data: Path | None, db: str | None, *, must_exist: bool) -> tuple[Store, str | None, str]:
    """The store, the pinned genesis id (if the node configuration names one), a node label."""
    if (data is None) == (db is None):
        fail("expected exactly one of --data DIR (a node's data directory) or --db URL")
    if data is not None:
        existing_data_dir(data)
        try:
            config = load_config(data)
        except ConfigError as exc:
            fail(str(exc))
        return Store(existing_store_url(config.database_url(data))), config.genesis_id, config.name
    assert db is not None
    if must_exist or "://" in db or Path(db).exists():
        # A file that is there must be SQLite; only import may start a new store file.
        existing_store_url(db)
    return Store(db), None, ""


_DATA = click.option(
    "--data",
    type=DirectoryPath(),
    help="A node's data directory (with node.json).",
)
_DB = click.option("--db", help="A store alone: SQLite file or database URL (postgresql://…).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group("sync")
def sync_group() -> None:
    """Carry ledger updates by file to a post with no link (bundles), and its heads back.

    --data must be a node's data directory and --db an existing SQLite file (or a database
    URL); only `import --db NEW.db` creates a store, and removes it again if the bundle cannot
    be read. A wrong path is one error line, exit 1.
    """


@sync_group.command("export")
@_DATA
@_DB
@click.option("--out", required=True, type=FilePath(), help="Bundle file.")
@click.option(
    "--since",
    type=FilePath(exists=True),
    help="The post's heads (`medtrace sync heads`): export only what it lacks.",
)
@_JSON
def export_command(
    data: Path | None, db: str | None, out: Path, since: Path | None, as_json: bool
) -> None:
    """Write a bundle: every feed's entries (or those beyond --since), the membership, and
    every feed's newest cosigned checkpoints (which offline scans need).

    Example: medtrace sync export --data nodes/distributor --out to-post.mtb --since heads.json
    """
    store, _, _ = _open(data, db, must_exist=True)
    try:
        heads = read_heads(since) if since is not None else None
        summary = export_bundle(store, out, since=heads)
    except (BundleError, OSError, SQLAlchemyError) as exc:
        fail(f"export failed: {exc}")
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "out": str(summary.path),
                "entries": summary.entries,
                "feeds": summary.feeds,
                "memberships": summary.memberships,
                "bytes": summary.bytes,
                "digest": summary.digest,
                "checkpoints": summary.checkpoints,
            }
        )
        return
    console.print(
        f"wrote [bold]{summary.path}[/]: {summary.entries:,} entries of {summary.feeds} feeds, "
        f"{summary.memberships} membership versions, {summary.checkpoints} checkpoints, "
        f"{summary.bytes:,} bytes; digest {summary.digest[:16]}…"
    )


@sync_group.command("import")
@_DATA
@_DB
@click.option("--genesis", help="Pin this genesis membership id (a store without a node.json).")
@click.argument("bundle", type=FilePath(exists=True))
@_JSON
def import_command(
    data: Path | None, db: str | None, genesis: str | None, bundle: Path, as_json: bool
) -> None:
    """Verify and store a bundle's membership versions, entries and checkpoints.

    A checkpoint that does not verify is refused and counted (exit 2); one that contradicts
    the entries or checkpoints held is kept as evidence, the feed frozen, an alert raised.

    Example: medtrace sync import --data nodes/customs to-post.mtb
    """
    new_file = None if db is None or "://" in db or Path(db).exists() else Path(db)
    store, pinned, _ = _open(data, db, must_exist=False)
    try:
        summary = import_bundle(store, bundle, genesis_id=genesis or pinned)
    except BundleError as exc:
        _forget(store, new_file)
        if as_json:
            print_json({"ok": False, "error": type(exc).__name__, "message": str(exc)})
            raise SystemExit(1) from None
        fail(f"{bundle}: {exc}")
    except SQLAlchemyError as exc:
        _forget(store, new_file)
        fail(f"the store could not be written: {message_of(exc) or 'the database refused it'}")
    finally:
        store.close()
    result = summary.to_json()
    partial = bool(summary.rejected or summary.truncated)
    if as_json:
        print_json({"ok": not partial, **result})
    else:
        table = Table(title=f"imported {bundle.name}", show_header=False)
        for label in ("entries", "added", "duplicates", "alerts", "forks", "rejected"):
            table.add_row(label, f"{result[label]:,}")
        if summary.memberships_adopted:
            table.add_row("membership", ", ".join(f"v{v}" for v in summary.memberships_adopted))
        table.add_row("checkpoints", _checkpoint_counts(result["checkpoints"]))
        table.add_row("digest", summary.digest_after[:16] + "…")
        console.print(table)
        if summary.truncated:
            console.print(f"[bold yellow]cut short:[/] {summary.truncated}")
        if result["refusals"]:
            refused = Table("entry", "reason", title="refused")
            for item in result["refusals"][:20]:
                refused.add_row((item["entry"] or "?")[:16], item["reason"])
            console.print(refused)
        for why in result["checkpoints"]["refusals"][:20]:
            console.print(f"[bold red]checkpoint refused:[/] {why}")
        for why in result["checkpoints"]["fork_reasons"][:20]:
            console.print(f"[bold red]checkpoint fork (feed frozen, alert raised):[/] {why}")
        if summary.bundle_digest == summary.digest_after:
            console.print("[bold green]OK[/] this store now holds what the exporter held")
    if partial:
        raise SystemExit(PARTIAL_EXIT)


def _checkpoint_counts(counts: dict[str, object]) -> str:
    shown = ("taken", "held", "ahead", "frozen", "fork", "refused")
    return ", ".join(f"{counts[k]} {k}" for k in shown if counts[k]) or "none in the bundle"


def _forget(store: Store, new_file: Path | None) -> None:
    """Remove the SQLite file this import created when nothing was imported into it: a bundle
    that cannot be read must not leave an empty store behind."""
    store.close()
    if new_file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            new_file.with_name(new_file.name + suffix).unlink(missing_ok=True)


@sync_group.command("heads")
@_DATA
@_DB
@click.option("--out", required=True, type=FilePath(), help="Heads file.")
@_JSON
def heads_command(data: Path | None, db: str | None, out: Path, as_json: bool) -> None:
    """Write this store's heads, to send back for the next `export --since`.

    Example: medtrace sync heads --data nodes/customs --out post-heads.json
    """
    store, _, name = _open(data, db, must_exist=True)
    try:
        doc = write_heads(store, out, name)
    except (OSError, SQLAlchemyError) as exc:
        fail(f"cannot write the heads: {exc}")
    finally:
        store.close()
    if as_json:
        print_json({"out": str(out), "digest": doc["digest"], "feeds": len(doc["feeds"])})
        return
    console.print(f"wrote [bold]{out}[/]: {len(doc['feeds'])} feeds, digest {doc['digest'][:16]}…")
