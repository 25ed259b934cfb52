"""``medtrace keys`` commands that change the membership: add an organisation or a feed,
revoke one, rotate a feed key. Each writes version N+1, signed by the governance threshold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import click
from rich.markup import escape

from keys.consortium import Consortium
from keys.keystore import fingerprint
from ledger.digits import ascii_int
from ledger.kinds import Kind, Role
from ledger.membership import SignedMembership
from medtrace.cli.console import AsciiIntRange, F, done, passphrase_from_file
from medtrace.cli.keys.options import dir_option, passphrase_option

_feed_option = click.option("--feed", "feed_id", required=True, help="The feed id, ORG/SITE.")


def _from_seq_option(help: str) -> Callable[[F], F]:
    return click.option("--from-seq", required=True, type=AsciiIntRange(min=0), help=help)


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
    @passphrase_option
    @functools.wraps(change)
    def command(
        directory: Path, sign_with: tuple[str, ...], passphrase_file: Path | None, **options: Any
    ) -> None:
        consortium = Consortium.open(directory)
        signing = _Signing(
            passphrase=passphrase_from_file(passphrase_file), sign_with=list(sign_with) or None
        )
        signed, what = change(consortium, signing, **options)
        done(
            f"membership [bold]v{signed.membership.version}[/] written "
            f"(id {signed.id[:16]}…, signed by {', '.join(sorted(signed.signatures))}): "
            f"{escape(what)}"
        )

    return command


@click.command("add-org", short_help="Add an organisation with a key per feed.")
@dir_option
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


@click.command("add-feed", short_help="Add a feed (writing site) to an organisation.")
@dir_option
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


@click.command("revoke-feed", short_help="Revoke a feed from a position on.")
@dir_option
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
        position = ascii_int(seq) if sep and feed else None
        if position is None or position < 0:
            raise click.BadParameter(
                f"expected FEED=N like acme/line-1=1200 (N in digits 0-9), found {value!r}"
            )
        if feed in positions:
            raise click.BadParameter(f"expected each feed once, found {feed!r} twice")
        positions[feed] = position
    return positions


@click.command("revoke-org", short_help="Revoke every feed of an organisation.")
@dir_option
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


@click.command("rotate", short_help="Give a feed a new key from a position on.")
@dir_option
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


__all__ = [
    "add_feed_command",
    "add_org_command",
    "revoke_feed_command",
    "revoke_org_command",
    "rotate_command",
]
