"""``medtrace keys`` commands on a consortium as a whole: create one, show it, verify its chain."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from keys.consortium import DEFAULT_THRESHOLD, Consortium
from keys.keystore import resolve_passphrase
from ledger.errors import LedgerError
from medtrace.cli.console import AsciiIntRange, done, passphrase_from_file, print_json
from medtrace.cli.console import err as _err
from medtrace.cli.console import fail as _fail
from medtrace.cli.console import out as _out
from medtrace.cli.keys.options import dir_option, passphrase_option


@click.command("create", short_help="Create a consortium: governance keys and genesis v1.")
@dir_option
@click.option("--name", required=True, help="The consortium's name (recorded in every version).")
@click.option(
    "--governance",
    "governance",
    type=AsciiIntRange(1, 99),
    default=3,
    show_default=True,
    help="Number of governance keys to generate (named gov-1 … gov-N).",
)
@click.option(
    "--threshold",
    type=AsciiIntRange(1, 99),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Governance signatures each new membership version needs.",
)
@passphrase_option
def create_command(
    directory: Path, name: str, governance: int, threshold: int, passphrase_file: Path | None
) -> None:
    """Create a consortium: governance keys and the genesis membership (v1).

    DIR must be empty or absent. Pin the printed genesis id in every node's configuration.

    \b
    Example:
      medtrace keys create --dir data/consortium --name "EU pilot" --governance 5 --threshold 3
    """
    names = [f"gov-{i}" for i in range(1, governance + 1)]
    consortium = Consortium.create(
        directory,
        name,
        governance=names,
        threshold=threshold,
        passphrase=passphrase_from_file(passphrase_file),
    )
    done(
        f"consortium [bold]{escape(name)}[/] created in {escape(str(directory))}: "
        f"{threshold}-of-{governance} governance, genesis id [bold]{consortium.genesis_id}[/]"
    )


def _range(from_seq: int, until_seq: int | None) -> str:
    return f"[{from_seq}, {'∞' if until_seq is None else until_seq})"


@click.command("show", short_help="Show organisations, feeds, keys and ranges.")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def show_command(directory: Path, as_json: bool) -> None:
    """Show the current membership: organisations, feeds, key fingerprints and ranges.

    Needs no passphrase: everything shown is public.

    \b
    Examples:
      medtrace keys show --dir DIR
      medtrace keys show --dir DIR --json | jq '.organisations[].feeds[].id'
    """
    consortium = Consortium.open(directory)
    summary = consortium.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    out = _out()
    gov = summary["governance"]
    out.print(
        f"[bold]{escape(summary['consortium'])}[/]: membership [bold]v{summary['version']}[/] "
        f"(id {summary['membership_id'][:16]}…), genesis id {summary['genesis_id']}"
    )
    out.print(
        f"governance {gov['threshold']}-of-{len(gov['keys'])}: "
        + ", ".join(f"{k['name']} {k['fingerprint']}" for k in gov["keys"])
    )
    table = Table(show_lines=True)
    table.add_column("organisation", overflow="fold", min_width=20)
    for column in ("feed", "key", "positions", "state"):
        table.add_column(column, no_wrap=True)
    for org in summary["organisations"]:
        prefixes = ", ".join(org["company_prefixes"]) or "—"
        cell = (
            f"[bold]{escape(org['id'])}[/] {escape(org['name'])}\n{org['role']}\n"
            f"GLN {org['gln']}\nprefixes {escape(prefixes)}"
        )
        feeds, keys, ranges, states = [], [], [], []
        for spec in org["feeds"]:
            for index, key in enumerate(spec["keys"]):
                if key["until_seq"] is None:
                    state = "[green]current[/]"
                elif index == len(spec["keys"]) - 1:
                    state = "[red]revoked[/]"
                else:
                    state = "[dim]retired[/]"
                feeds.append(escape(spec["id"]) if index == 0 else "")
                keys.append(key["fingerprint"])
                ranges.append(_range(key["from_seq"], key["until_seq"]))
                states.append(state)
        if not feeds:
            feeds, keys, ranges, states = ["—"], ["—"], ["—"], ["[dim]no feeds[/]"]
        table.add_row(cell, *("\n".join(col) for col in (feeds, keys, ranges, states)))
    if not summary["organisations"]:
        out.print("no organisations yet (add one with: medtrace keys add-org)")
    else:
        out.print(table)
    for root in summary["foreign_roots"]:  # other consortia pinned (keys trust-foreign)
        out.print(
            f"foreign root [bold]{escape(root['name'])}[/] ({root['country']}): genesis "
            f"{root['genesis']}, prefixes {', '.join(root['prefixes'])}, "
            f"endpoint {escape(root['endpoint'] or '—')}"
        )


@click.command("verify", short_help="Verify the membership chain from the genesis.")
@dir_option
@click.option(
    "--genesis-id",
    help="The genesis id you pinned out of band; DIR's own consortium.json must agree.",
)
@click.option(
    "--keys",
    "check_keys",
    is_flag=True,
    help="Also decrypt every key file and check it holds the key membership lists "
    "(needs the passphrase).",
)
@passphrase_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of the tick line."
)
def verify_command(
    directory: Path,
    genesis_id: str | None,
    check_keys: bool,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Verify the membership chain from the pinned genesis to the current version.

    Exit 0 when every version follows the one before it and carries the governance signatures
    of both thresholds; otherwise exit 1 with the precise error.

    With --json: {"ok": true, "name", "genesis_id", "version", "organisations", "feeds",
    "keys_checked"} on one line of stdout; a chain that does not verify is {"ok": false,
    "error", "message"} (exit 1), key files that do not match add "problems". A missing
    directory or one that is not a consortium's is one error line on stderr either way.

    \b
    Examples:
      medtrace keys verify --dir DIR
      medtrace keys verify --dir DIR --genesis-id 3f1c…  --keys
      medtrace keys verify --dir DIR --json | jq .version
    """
    try:
        consortium = Consortium.open(directory, genesis_id=genesis_id)
    except LedgerError as exc:
        if not as_json:
            raise
        print_json({"ok": False, "error": type(exc).__name__, "message": str(exc)})
        raise SystemExit(1) from None
    m = consortium.membership
    feeds = sum(1 for _ in m.feeds())
    if check_keys:
        secret = resolve_passphrase(
            passphrase_from_file(passphrase_file), purpose=f"the keys in {directory}"
        )
        problems = consortium.check_keys(secret)
        if problems and as_json:
            print_json(
                {
                    "ok": False,
                    "error": "KeyFilesDisagree",
                    "message": f"{len(problems)} key file(s) do not hold the keys "
                    f"membership v{m.version} lists",
                    "problems": problems,
                }
            )
            raise SystemExit(1)
        if problems:
            err = _err()
            for problem in problems:
                err.print(f"[red]✗ {escape(problem)}[/]")
            _fail(f"{len(problems)} key file(s) do not hold the keys membership v{m.version} lists")
    if as_json:
        print_json(
            {
                "ok": True,
                "name": consortium.name,
                "genesis_id": consortium.genesis_id,
                "version": m.version,
                "organisations": len(m.organisations),
                "feeds": feeds,
                "keys_checked": check_keys,
            }
        )
        return
    done(
        f"{escape(consortium.name)}: membership v1 … v{m.version} verified from "
        f"genesis {consortium.genesis_id} ({len(m.organisations)} organisations, {feeds} feeds"
        f"{', every key file checked' if check_keys else ''})"
    )


__all__ = ["create_command", "show_command", "verify_command"]
