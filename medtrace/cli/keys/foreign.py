"""``medtrace keys trust-foreign`` / ``distrust-foreign``: pin another consortium's genesis as a
foreign root, or stop trusting it (docs/spec/cross-border.md, ADR 0028). Each writes membership
version N+1, signed by the governance threshold like any governance change."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from keys.consortium import Consortium
from ledger.errors import LedgerError
from ledger.membership import Membership, MembershipChain, SignedMembership, foreign_root
from medtrace.cli.console import done, fail, passphrase_from_file
from medtrace.cli.keys.options import dir_option, passphrase_option

_sign_with_option = click.option(
    "--sign-with",
    "sign_with",
    multiple=True,
    metavar="NAME",
    help="Sign with only these governance keys (repeatable; default: every one in DIR).",
)


def read_foreign_genesis(path: Path) -> SignedMembership:
    """The other consortium's signed genesis (its ``DIR/membership/v0001.json``, or what its
    node serves as the first of ``GET /api/v1/membership``'s versions), checked: version 1,
    signed by its own threshold."""
    try:
        raw = json.loads(path.read_bytes())
        if isinstance(raw, dict) and isinstance(raw.get("versions"), list) and raw["versions"]:
            raw = raw["versions"][0]  # a node's membership answer: its first version
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object {membership, signatures}")
        signed = SignedMembership.from_wire(raw)
        MembershipChain(signed, signed.id)  # version 1, no previous, its own threshold
    except OSError as exc:
        fail(f"--genesis-file {path}: cannot be read ({exc.strerror or exc})")
    except (ValueError, LedgerError) as exc:
        fail(f"--genesis-file {path}: not a signed genesis membership: {exc}")
    return signed


def _publish(
    consortium: Consortium,
    proposed: Membership,
    sign_with: tuple[str, ...],
    passphrase_file: Path | None,
    what: str,
) -> None:
    secret = passphrase_from_file(passphrase_file)
    signed = consortium.publish(
        consortium.sign(proposed, secret, sign_with=list(sign_with) or None)
    )
    done(
        f"membership [bold]v{signed.membership.version}[/] written "
        f"(id {signed.id[:16]}…, signed by {', '.join(sorted(signed.signatures))}): "
        f"{escape(what)}"
    )


@click.command("trust-foreign", short_help="Pin another consortium's genesis as a foreign root.")
@dir_option
@click.option(
    "--genesis-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The other consortium's signed genesis: its DIR/membership/v0001.json (checked: "
    "version 1 under its own threshold; its id is pinned, its name is the default --name).",
)
@click.option("--genesis", "genesis_id", help="Or its genesis id (64 hex digits) alone.")
@click.option("--name", help="A display name (default: the genesis file's consortium name).")
@click.option("--country", required=True, help="Its country, ISO 3166-1 alpha-2 (e.g. DE, NO, FR).")
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    required=True,
    metavar="PREFIX",
    help="A GS1 company prefix whose GTINs its ledger answers for (repeatable).",
)
@click.option(
    "--endpoint",
    help="The base URL of its verification service (a node of that consortium), e.g. "
    "https://verify.example.no:8443.",
)
@_sign_with_option
@passphrase_option
def trust_foreign_command(
    directory: Path,
    genesis_file: Path | None,
    genesis_id: str | None,
    name: str | None,
    country: str,
    prefixes: tuple[str, ...],
    endpoint: str | None,
    sign_with: tuple[str, ...],
    passphrase_file: Path | None,
) -> None:
    """Write membership version N+1 trusting another consortium for the GTINs under its company
    prefixes: its genesis becomes a foreign root. A node then verifies a pack under those
    prefixes against that consortium's ledger (asked at --endpoint, verified here from its
    genesis). Pinning the same genesis again replaces its name, country, prefixes and endpoint.

    \b
    Example:
      medtrace keys trust-foreign --dir DIR --genesis-file ../no/membership/v0001.json \\
          --country NO --prefix 7040001 --endpoint https://verify.example.no:8443
    """
    if (genesis_file is None) == (genesis_id is None):
        fail("expected either --genesis-file FILE or --genesis ID, found both or neither")
    if genesis_file is not None:
        signed = read_foreign_genesis(genesis_file)
        genesis_id, name = signed.id, name or signed.membership.consortium
    if not name:
        fail("expected --name with --genesis ID")
    assert genesis_id is not None
    consortium = Consortium.open(directory)
    if genesis_id.strip().lower() == consortium.genesis_id:
        fail("expected another consortium's genesis, found this consortium's own")
    try:
        root = foreign_root(genesis_id, name, country, prefixes, endpoint)
        proposed = consortium.membership.with_foreign_root(root)
    except LedgerError as exc:
        fail(str(exc))
    if proposed.foreign_roots == consortium.membership.foreign_roots:
        fail(f"expected a change, found version {consortium.version} pins this root already")
    what = (
        f"foreign root {root.name} ({root.country}, genesis {root.genesis[:16]}…) for prefixes "
        f"{', '.join(root.prefixes)}" + (f" at {root.endpoint}" if root.endpoint else "")
    )
    _publish(consortium, proposed, sign_with, passphrase_file, what)


@click.command("distrust-foreign", short_help="Stop trusting a foreign root.")
@dir_option
@click.option("--genesis", "genesis_id", required=True, help="The foreign root's genesis id.")
@_sign_with_option
@passphrase_option
def distrust_foreign_command(
    directory: Path, genesis_id: str, sign_with: tuple[str, ...], passphrase_file: Path | None
) -> None:
    """Write membership version N+1 without the foreign root of --genesis: packs under its
    prefixes are then unknown here, as any pack of no trusted ledger.

    \b
    Example:
      medtrace keys distrust-foreign --dir DIR --genesis 8f3c…e21a
    """
    consortium = Consortium.open(directory)
    try:
        proposed = consortium.membership.without_foreign_root(genesis_id.strip().lower())
    except LedgerError as exc:
        fail(str(exc))
    _publish(consortium, proposed, sign_with, passphrase_file, f"foreign root {genesis_id} removed")


__all__ = ["distrust_foreign_command", "read_foreign_genesis", "trust_foreign_command"]
