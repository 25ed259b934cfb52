"""``medtrace node token …``: the bearer tokens a node issues (node/tokens.py; docs/spec/api.md,
"Tokens"), a verifier token optionally bound to a foreign consortium (``--consortium``;
docs/spec/cross-border.md, "Signed requests between consortia")."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ledger.errors import LedgerError
from medtrace.cli.console import (
    AsciiInt,
    AsciiIntRange,
    directory_option,
    done,
    existing_store_url,
)
from medtrace.cli.console import err as _err
from medtrace.cli.console import fail as _fail
from medtrace.cli.console import out as _out
from node.config import load_config
from node.store import Store
from node.tokens import TokenRole, Tokens, expiry_in_days

_GENESIS = re.compile(r"\A[0-9a-f]{64}\Z")
_data_option = directory_option(
    "--data", "data", help="The node's data directory (node.json, feed.key, node.db)."
)


@contextmanager
def existing_store(data: Path) -> Iterator[Store]:
    """The store of the node at ``data``, which must exist."""
    config = load_config(data)
    # An existing store only: `node init` creates it, a typo must not.
    store = Store(existing_store_url(config.database_url(data)))
    try:
        yield store
    finally:
        store.close()


@click.group("token", short_help="Create, revoke and list bearer tokens.")
def token_group() -> None:
    """Bearer tokens for the users, devices and peers of this node (stored hashed).

    \b
    Roles:
      operator  write what the node's feed may write; read and verify
      verifier  verification queries and alerts only (a pharmacist's scanner)
      peer      replication endpoints only (give it to another node)
      auditor   read alerts, feeds and provenance; no writes

    --data must be a node's data directory made by `medtrace node init`: these commands never
    create its store, and a missing or wrong path is one error line, exit 1.
    """


def _foreign_root(data: Path, store: Store, genesis: str) -> str:
    """``genesis`` checked to be a foreign root of the node's current membership; its name."""
    if not _GENESIS.match(genesis):
        _fail(f"--consortium: expected a genesis id of 64 hex digits, found {genesis[:80]!r}")
    try:
        membership = store.membership_chain(load_config(data).genesis_id).current
    except LedgerError as exc:
        _fail(f"--consortium: this node's membership cannot be read: {exc}")
    root = membership.foreign_root_for_genesis(genesis)
    if root is None:
        _fail(
            f"--consortium: expected a foreign root of this consortium's membership "
            f"v{membership.version} (medtrace keys trust-foreign), found {genesis[:16]}…, "
            "which it does not pin"
        )
    return f"{root.name} ({root.country})"


@token_group.command("create")
@_data_option
@click.option("--user", required=True, help="Who or what holds the token (e.g. scanner-3).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in TokenRole]),
    default=TokenRole.VERIFIER.value,
    show_default=True,
    help="What the token may do.",
)
@click.option("--expires-days", type=AsciiIntRange(1, 3650), help="Expire after N days.")
@click.option(
    "--consortium",
    "consortium",
    metavar="GENESIS",
    help="Bind a verifier token to the foreign consortium of this genesis id (a foreign root "
    "of this node's membership): a request with it then counts only when signed by the current "
    "key of a feed of that consortium's membership. Recommended for every token given to "
    "another consortium's node.",
)
def token_create_command(
    data: Path, user: str, role: str, expires_days: int | None, consortium: str | None
) -> None:
    """Create a token and print it (only it) on stdout, once: it is stored hashed.

    \b
    Examples:
      medtrace node token create --data nodes/apo --user scanner-1 --role verifier
      TOKEN=$(medtrace node token create --data nodes/acme --user apo-node --role peer)
      medtrace node token create --data nodes/acme --user no-tull --role verifier \\
          --consortium 5b0c51d9e8a1f2c3…   # another consortium's node; it signs its requests
    """
    expires = expiry_in_days(expires_days) if expires_days is not None else None
    with existing_store(data) as store:
        bound = None
        if consortium is not None:
            consortium = consortium.strip().lower()
            bound = _foreign_root(data, store, consortium)
        token, info = Tokens(store).create(user, role, expires, consortium=consortium)
    sys.stdout.write(token + "\n")
    _err().print(
        f"[green]✓[/] token {info.id} for {escape(user)} ({role}"
        + (f", expires {info.expires}" if info.expires else "")
        + (f", bound to {escape(bound)}: requests must be signed by its members" if bound else "")
        + "): shown once, store it now"
    )


@token_group.command("revoke")
@_data_option
@click.option("--id", "token_id", type=AsciiInt(), help="Revoke the token with this id.")
@click.option("--user", help="Revoke every token of this user.")
def token_revoke_command(data: Path, token_id: int | None, user: str | None) -> None:
    """Revoke a token (by --id) or all tokens of a user (--user); effective at once.

    \b
    Example:
      medtrace node token revoke --data nodes/apo --id 3
    """
    if (token_id is None) == (user is None):
        raise click.UsageError("expected exactly one of --id and --user")
    with existing_store(data) as store:
        count = Tokens(store).revoke(token_id, user=user)
    if count == 0:
        what = f"id {token_id}" if token_id is not None else f"user {user!r}"
        _fail(f"expected an active token with {what}, found none")
    done(f"revoked {count} token(s)")


@token_group.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def token_list_command(data: Path, as_json: bool) -> None:
    """List tokens (never the tokens themselves: a fingerprint of each hash; a bound token's
    consortium as its genesis id)."""
    with existing_store(data) as store:
        infos = Tokens(store).list()
    if as_json:
        sys.stdout.write(json.dumps({"tokens": [i.to_json() for i in infos]}) + "\n")
        return
    table = Table("id", "user", "role", "created", "expires", "state", "fingerprint", "consortium")
    for info in infos:
        state = "revoked" if info.revoked else "active" if info.active() else "expired"
        table.add_row(
            str(info.id),
            escape(info.user),
            info.role.value,
            info.created,
            info.expires or "—",
            state,
            info.fingerprint,
            f"{info.consortium[:16]}…" if info.consortium else "—",
        )
    _out().print(table)


__all__ = ["token_group"]
