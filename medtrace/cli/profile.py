"""``medtrace profile``: set, show and clear the node a person works against (the profile the
work commands and ``medtrace scan`` take their node, token, CA and genesis from)."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from medtrace.cli.console import FilePath, done, err, out, print_json
from medtrace.cli.profile_store import (
    Profile,
    clear_profile,
    genesis_fingerprint,
    load_profile,
    profile_path,
    save_profile,
    token_label,
)
from medtrace.cli.work.client import NodeApi, WorkError
from medtrace.cli.work.target import confirm_genesis, handled, read_token_file

_GENESIS_ID = re.compile(r"\A[0-9a-f]{64}\Z")  # a SHA-256, hex


@click.group("profile")
def profile_group() -> None:
    """Your node, token, CA and pinned genesis, so that the work commands (commission, ship,
    receive, …) and medtrace scan need no --node, --token, --ca or --genesis.

    The profile is $MEDTRACE_PROFILE, else $XDG_CONFIG_HOME/medtrace/profile.json (default
    ~/.config/medtrace/profile.json), mode 0600. Options given to a command override it.
    """


@profile_group.command("set")
@click.option("--node", required=True, help="The node's base URL, e.g. https://127.0.0.1:8101.")
@click.option("--token", help="A token of that node (prefer --token-file: shells keep history).")
@click.option("--token-file", type=FilePath(exists=True), help="Read the token from this file.")
@click.option(
    "--ca",
    type=FilePath(exists=True),
    help="The consortium's CA certificate for an https node, e.g. DATA/tls-ca.crt.",
)
@click.option("--genesis", help="The genesis id to pin (default: the node's, once you confirm).")
@click.option("--yes", is_flag=True, help="Pin the node's genesis without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored profile as JSON.")
def set_command(
    node: str,
    token: str | None,
    token_file: Path | None,
    ca: Path | None,
    genesis: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Store the node you work against. Without --genesis the node's genesis id is fetched,
    checked (the genesis it names must hash to it and carry its governance signatures) and shown
    with its fingerprint for you to confirm (--yes: without asking); it stays pinned, and every
    command refuses a node of another consortium. A node that cannot be reached now gets its
    genesis pinned, the same way, on first use.

    \b
    Examples:
      medtrace profile set --node https://127.0.0.1:8101 --token-file acme.token \\
          --ca nodes/acme/tls-ca.crt
      medtrace profile set --node http://127.0.0.1:8101 --token "$OPERATOR" --genesis 973b41a0…
    """
    with handled(as_json):
        if (token is None) == (token_file is None):
            raise WorkError("expected exactly one of --token T and --token-file FILE")
        secret = read_token_file(token_file) if token_file else str(token)
        if genesis is not None and not _GENESIS_ID.match(genesis):
            raise WorkError(
                f"--genesis: expected a 64-hex-digit genesis id, found {genesis[:70]!r}"
            )
        profile = Profile(node.rstrip("/"), secret, str(ca.resolve()) if ca else None, genesis)
        if genesis is None:
            profile = _pin(profile, yes)
        path = save_profile(profile)
        _show(profile, path, as_json)


def _pin(profile: Profile, yes: bool) -> Profile:
    assert profile.node is not None
    assert profile.token is not None
    api = NodeApi(profile.node, profile.token, Path(profile.ca) if profile.ca else None)
    try:
        consortium = api.consortium()
    except WorkError as exc:
        if not exc.down:  # it answered and refused, or speaks HTTPS: the profile would not work
            raise
        err().print(
            f"[yellow]genesis not pinned yet[/] ({escape(str(exc))}): the first command that "
            "reaches the node shows it for you to confirm"
        )
        return profile
    finally:
        api.close()
    assert consortium is not None  # probe=True: never None
    confirm_genesis(consortium, api.url, yes=yes)
    return profile.with_genesis(consortium.genesis)


def _show(profile: Profile, path: Path, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "path": str(path),
                "node": profile.node,
                "token": token_label(profile.token) if profile.token else None,
                "ca": profile.ca,
                "genesis": profile.genesis,
                "genesis_fingerprint": genesis_fingerprint(profile.genesis)
                if profile.genesis
                else None,
            }
        )
        return
    table = Table(show_header=False, box=None)
    table.add_row("profile", escape(str(path)))
    table.add_row("node", escape(profile.node or "-"))
    table.add_row("token", escape(token_label(profile.token)) if profile.token else "-")
    table.add_row("ca", escape(profile.ca or "-"))
    if profile.genesis:
        table.add_row("genesis", f"{profile.genesis}")
        table.add_row("fingerprint", genesis_fingerprint(profile.genesis))
    else:
        table.add_row("genesis", "[yellow]not pinned yet[/] (pinned on first use)")
    out().print(table)


@profile_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def show_command(as_json: bool) -> None:
    """Show the profile (the token as its last four characters and fingerprint, never itself).

    \b
    With --json: {"path", "node", "token", "ca", "genesis", "genesis_fingerprint"}.
    \b
    Example:
      medtrace profile show --json
    """
    with handled(as_json):
        path = profile_path()
        profile = load_profile(path)
        if profile is None:
            raise WorkError(
                f"no profile at {path}: medtrace profile set --node URL --token-file FILE"
            )
        _show(profile, path, as_json)


@profile_group.command("clear")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def clear_command(as_json: bool) -> None:
    """Remove the profile (its token with it).

    \b
    Example:
      medtrace profile clear
    """
    with handled(as_json):
        path = profile_path()
        removed = clear_profile(path)
        if as_json:
            print_json({"path": str(path), "removed": removed})
        elif removed:
            done(f"removed the profile {escape(str(path))}")
        else:
            done(f"no profile at {escape(str(path))}: nothing to remove")
