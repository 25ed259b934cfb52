"""``medtrace keys``: create a consortium, add or revoke members, rotate feed keys, show, verify.

Every command works on a consortium directory (``--dir``, see docs/spec/keys.md). The passphrase
that protects the private keys comes from ``--passphrase-file``, else ``$MEDTRACE_PASSPHRASE``, else
a hidden prompt when stdin is a terminal. Errors are one red line on stderr and exit code 1
(2 for a usage error); key material and the passphrase are never printed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import click
from rich.markup import escape
from rich.table import Table

from keys.cli_shared import CleanErrorGroup, F, directory_option, passphrase_file_option
from keys.cli_shared import err as _err
from keys.cli_shared import fail as _fail
from keys.cli_shared import out as _out
from keys.consortium import DEFAULT_THRESHOLD, Consortium
from keys.keystore import PASSPHRASE_ENV, fingerprint, read_passphrase_file, resolve_passphrase
from keys.tls import NODE_DAYS, ca_paths, create_ca, issue_node_files
from ledger.kinds import Kind, Role
from ledger.membership import SignedMembership

# -- shared options ------------------------------------------------------------------------------

_dir_option = directory_option("--dir", "directory", help="The consortium directory.")
_passphrase_option = passphrase_file_option(
    f"Read the passphrase from this file (first line) instead of ${PASSPHRASE_ENV} or the prompt."
)
_feed_option = click.option("--feed", "feed_id", required=True, help="The feed id, ORG/SITE.")


def _from_seq_option(help: str) -> Callable[[F], F]:
    return click.option("--from-seq", required=True, type=click.IntRange(min=0), help=help)


def _read_passphrase_file(path: Path | None) -> bytes | None:
    return None if path is None else read_passphrase_file(path)


class _Signing(TypedDict):
    """The keywords every membership change of ``Consortium`` takes to sign version N+1."""

    passphrase: bytes | None
    sign_with: list[str] | None


#: What a membership change returns: the version it wrote and what changed, for the one line.
_Written = tuple[SignedMembership, str]


def _membership_change(change: Callable[..., _Written]) -> Callable[..., None]:
    """Make ``change(consortium, signing, **options)`` a command that writes version N+1.

    Put it under the command's own options: it adds --sign-with and --passphrase-file after
    them, opens the consortium of --dir (which the command declares first) and prints the
    version written.
    """

    @click.option(
        "--sign-with",
        "sign_with",
        multiple=True,
        metavar="NAME",
        help="Sign with only these governance keys (repeatable; default: every one in DIR). "
        "A version short of the threshold is refused and not written.",
    )
    @_passphrase_option
    @functools.wraps(change)
    def command(
        directory: Path, sign_with: tuple[str, ...], passphrase_file: Path | None, **options: Any
    ) -> None:
        consortium = Consortium.open(directory)
        signing = _Signing(
            passphrase=_read_passphrase_file(passphrase_file), sign_with=list(sign_with) or None
        )
        signed, what = change(consortium, signing, **options)
        _out().print(
            f"[green]✓[/] membership [bold]v{signed.membership.version}[/] written "
            f"(id {signed.id[:16]}…, signed by {', '.join(sorted(signed.signatures))}): "
            f"{escape(what)}"
        )

    return command


# -- the group -----------------------------------------------------------------------------------


@click.group("keys", cls=CleanErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
def keys_group() -> None:
    """Create a consortium, add or revoke members, rotate feed keys.

    A consortium directory holds the signed membership versions (public) and the encrypted
    governance and feed keys (mode 0600). Each change writes membership version N+1, signed by
    the governance threshold, and is verified before and after it is written.

    The passphrase comes from --passphrase-file, else $MEDTRACE_PASSPHRASE, else a prompt.

    \b
    Example:
      export MEDTRACE_PASSPHRASE='correct horse battery staple'
      medtrace keys create  --dir data/consortium --name "EU pilot"
      medtrace keys add-org --dir data/consortium --id acme --name "Acme Pharma" \\
          --role manufacturer --gln 4012345000009 --prefix 4012345 --feed line-1
      medtrace keys show    --dir data/consortium
      medtrace keys verify  --dir data/consortium
    """


@keys_group.command("create", short_help="Create a consortium: governance keys and genesis v1.")
@_dir_option
@click.option("--name", required=True, help="The consortium's name (recorded in every version).")
@click.option(
    "--governance",
    "governance",
    type=click.IntRange(1, 99),
    default=3,
    show_default=True,
    help="Number of governance keys to generate (named gov-1 … gov-N).",
)
@click.option(
    "--threshold",
    type=click.IntRange(1, 99),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Governance signatures each new membership version needs.",
)
@_passphrase_option
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
        passphrase=_read_passphrase_file(passphrase_file),
    )
    _out().print(
        f"[green]✓[/] consortium [bold]{escape(name)}[/] created in {escape(str(directory))}: "
        f"{threshold}-of-{governance} governance, genesis id [bold]{consortium.genesis_id}[/]"
    )


@keys_group.command("add-org", short_help="Add an organisation with a key per feed.")
@_dir_option
@click.option("--id", "org_id", required=True, help="Organisation id, e.g. acme (a-z, 0-9, -).")
@click.option("--name", required=True, help="The organisation's legal name.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="Its role.")
@click.option("--gln", required=True, help="Its 13-digit GS1 Global Location Number.")
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    metavar="PREFIX",
    help="A GS1 company prefix it owns (repeatable; a manufacturer commissions only these GTINs).",
)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="SITE",
    help="A writing site; its feed id is ID/SITE (repeatable; default: main).",
)
@_membership_change
def add_org_command(
    consortium: Consortium,
    signing: _Signing,
    org_id: str,
    name: str,
    role: str,
    gln: str,
    prefixes: tuple[str, ...],
    feeds: tuple[str, ...],
) -> _Written:
    """Add an organisation, generating one key per feed.

    \b
    Examples:
      medtrace keys add-org --dir DIR --id acme --name "Acme Pharma" --role manufacturer \\
          --gln 4012345000009 --prefix 4012345 --feed line-1 --feed warehouse
      medtrace keys add-org --dir DIR --id apo-nord --name "Apotheke Nord" --role pharmacy \\
          --gln 4098765000003
    """
    sites = feeds or ("main",)
    signed = consortium.add_organisation(
        org_id, name=name, role=role, gln=gln, company_prefixes=prefixes, feeds=sites, **signing
    )
    feed_ids = ", ".join(f"{org_id}/{s}" for s in sites)
    return signed, f"organisation {org_id} ({role}) with feeds {feed_ids}"


@keys_group.command("add-feed", short_help="Add a feed (writing site) to an organisation.")
@_dir_option
@click.option("--org", "org_id", required=True, help="A listed organisation id.")
@click.option("--site", required=True, help="The new site; the feed id is ORG/SITE.")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([k.value for k in Kind]),
    help="Narrow the kinds the feed may write (repeatable; default: all its role allows).",
)
@_membership_change
def add_feed_command(
    consortium: Consortium, signing: _Signing, org_id: str, site: str, kinds: tuple[str, ...]
) -> _Written:
    """Add a feed (a writing site) to an organisation, with a new key.

    \b
    Example:
      medtrace keys add-feed --dir DIR --org acme --site line-2
      medtrace keys add-feed --dir DIR --org acme --site returns --kind receive --kind return
    """
    signed = consortium.add_feed(org_id, site, kinds=kinds or None, **signing)
    return signed, f"feed {org_id}/{site}"


@keys_group.command("revoke-feed", short_help="Revoke a feed from a position on.")
@_dir_option
@_feed_option
@_from_seq_option(
    "First position no key may sign (entries before it stay valid; 0 revokes them all)."
)
@_membership_change
def revoke_feed_command(
    consortium: Consortium, signing: _Signing, feed_id: str, from_seq: int
) -> _Written:
    """Revoke a feed from a position on (usually its current size).

    \b
    Example:
      medtrace keys revoke-feed --dir DIR --feed acme/line-1 --from-seq 1200
    """
    signed = consortium.revoke_feed(feed_id, from_seq, **signing)
    return signed, f"feed {feed_id} revoked from seq {from_seq}"


def _parse_positions(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, int]:
    positions: dict[str, int] = {}
    for value in values:
        feed, sep, seq = value.rpartition("=")
        if not sep or not feed or not seq.isdigit():
            raise click.BadParameter(f"expected FEED=N like acme/line-1=1200, found {value!r}")
        if feed in positions:
            raise click.BadParameter(f"expected each feed once, found {feed!r} twice")
        positions[feed] = int(seq)
    return positions


@keys_group.command("revoke-org", short_help="Revoke every feed of an organisation.")
@_dir_option
@click.option("--id", "org_id", required=True, help="The organisation id.")
@click.option(
    "--from-seq",
    "positions",
    multiple=True,
    required=True,
    metavar="FEED=N",
    callback=_parse_positions,
    help="Revoke FEED from position N (repeat for every feed of the organisation; N=0 revokes "
    "its whole history).",
)
@_membership_change
def revoke_org_command(
    consortium: Consortium, signing: _Signing, org_id: str, positions: dict[str, int]
) -> _Written:
    """Revoke every feed of an organisation, each from its own position.

    Every feed of the organisation must be named: a forgotten or mistyped feed is an error,
    never a silent revocation of its whole history.

    \b
    Example:
      medtrace keys revoke-org --dir DIR --id acme \\
          --from-seq acme/line-1=1200 --from-seq acme/warehouse=310
    """
    signed = consortium.revoke_organisation(org_id, positions, **signing)
    where = ", ".join(f"{f} from seq {n}" for f, n in sorted(positions.items()))
    return signed, f"organisation {org_id} revoked: {where}"


@keys_group.command("rotate", short_help="Give a feed a new key from a position on.")
@_dir_option
@_feed_option
@_from_seq_option("First position the new key signs; the old key stays valid before it.")
@_membership_change
def rotate_command(
    consortium: Consortium, signing: _Signing, feed_id: str, from_seq: int
) -> _Written:
    """Give a feed a new key from a position on.

    The old key file is kept beside the new one as SITE.retired-vNNNN.key (for audit).

    \b
    Example:
      medtrace keys rotate --dir DIR --feed acme/line-1 --from-seq 1200
    """
    signed = consortium.rotate_feed_key(feed_id, from_seq, **signing)
    new = signed.membership.feed(feed_id).keys[-1].public
    return signed, f"feed {feed_id} rotated to key {fingerprint(new)} from seq {from_seq}"


def _range(from_seq: int, until_seq: int | None) -> str:
    return f"[{from_seq}, {'∞' if until_seq is None else until_seq})"


@keys_group.command("show", short_help="Show organisations, feeds, keys and ranges.")
@_dir_option
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


@keys_group.command("verify", short_help="Verify the membership chain from the genesis.")
@_dir_option
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
@_passphrase_option
def verify_command(
    directory: Path, genesis_id: str | None, check_keys: bool, passphrase_file: Path | None
) -> None:
    """Verify the membership chain from the pinned genesis to the current version.

    Exit 0 when every version follows the one before it and carries the governance signatures
    of both thresholds; otherwise exit 1 with the precise error.

    \b
    Examples:
      medtrace keys verify --dir DIR
      medtrace keys verify --dir DIR --genesis-id 3f1c…  --keys
    """
    consortium = Consortium.open(directory, genesis_id=genesis_id)
    m = consortium.membership
    feeds = sum(1 for _ in m.feeds())
    if check_keys:
        secret = resolve_passphrase(
            _read_passphrase_file(passphrase_file), purpose=f"the keys in {directory}"
        )
        problems = consortium.check_keys(secret)
        if problems:
            err = _err()
            for problem in problems:
                err.print(f"[red]✗ {escape(problem)}[/]")
            _fail(f"{len(problems)} key file(s) do not hold the keys membership v{m.version} lists")
    _out().print(
        f"[green]✓[/] {escape(consortium.name)}: membership v1 … v{m.version} verified from "
        f"genesis {consortium.genesis_id} ({len(m.organisations)} organisations, {feeds} feeds"
        f"{', every key file checked' if check_keys else ''})"
    )


@keys_group.command("tls-ca", short_help="Create the consortium's TLS CA (if it has none).")
@_dir_option
@_passphrase_option
def tls_ca_command(directory: Path, passphrase_file: Path | None) -> None:
    """Create the TLS certificate authority of a consortium made before it had one.

    `keys create` makes it with the consortium; this adds one to an older directory, and never
    replaces an existing one (ADR 0011).

    \b
    Example:
      medtrace keys tls-ca --dir data/consortium
    """
    consortium = Consortium.open(directory)
    secret = resolve_passphrase(
        _read_passphrase_file(passphrase_file), purpose=f"the TLS CA of {directory}", confirm=True
    )
    cert = create_ca(consortium.path, consortium.name, secret)
    _out().print(
        f"[green]✓[/] TLS CA of {escape(consortium.name)} written to "
        f"{escape(str(ca_paths(consortium.path)[1]))} (valid until {cert.not_valid_after_utc:%Y-%m-%d})"
    )


@keys_group.command("tls-issue", short_help="Issue a node's TLS certificate from the CA.")
@_dir_option
@click.option("--org", "org_id", required=True, help="The organisation the node belongs to.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    metavar="HOST",
    help="A DNS name or IP address the node is reached at (repeatable).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The node's data directory: tls.key (encrypted, 0600), tls.crt and tls-ca.crt.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=NODE_DAYS,
    show_default=True,
    help="Validity of the certificate.",
)
@click.option("--force", is_flag=True, help="Replace the node's existing TLS key and certificate.")
@_passphrase_option
def tls_issue_command(
    directory: Path,
    org_id: str,
    hosts: tuple[str, ...],
    out: Path,
    days: int,
    force: bool,
    passphrase_file: Path | None,
) -> None:
    """Issue a TLS key and certificate for an organisation's node (server and client).

    The key is encrypted with the same passphrase as the CA's (the node's passphrase); the
    certificate names the organisation in its URI SAN urn:medtrace:org:ORG. Set "tls": true in
    the node's node.json, or create the node with `medtrace node init --tls`.

    \b
    Example:
      medtrace keys tls-issue --dir data/consortium --org acme --host 127.0.0.1 \
          --host node1.example --out nodes/acme
    """
    consortium = Consortium.open(directory)
    org = consortium.membership.organisations.get(org_id)
    if org is None:
        listed = sorted(consortium.membership.organisations)
        _fail(
            f"expected an organisation listed in v{consortium.version} {listed}, found {org_id!r}"
        )
    secret = resolve_passphrase(
        _read_passphrase_file(passphrase_file), purpose=f"the TLS CA of {directory}"
    )
    cert = issue_node_files(consortium.path, org.id, hosts, out, secret, days=days, overwrite=force)
    _out().print(
        f"[green]✓[/] TLS certificate for {escape(org.id)} ({escape(', '.join(hosts))}) in "
        f"{escape(str(out))}, valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )


__all__ = ["keys_group"]
