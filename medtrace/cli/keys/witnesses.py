"""``medtrace keys witness-policy``: who witnesses the feeds' checkpoints, how many cosignatures a
reader needs, how old the newest may be (docs/spec/membership.md, "The witness policy")."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from keys.consortium import Consortium
from ledger.errors import MembershipError
from ledger.membership import WitnessPolicy
from ledger.membership.keys import public_key_bytes
from medtrace.cli.console import AsciiIntRange, done, fail, passphrase_from_file
from medtrace.cli.keys.options import dir_option, passphrase_option


def _witnesses(values: tuple[str, ...]) -> dict[str, bytes | None]:
    witnesses: dict[str, bytes | None] = {}
    for value in values:
        org, _, key = value.partition("=")
        try:
            witnesses[org] = public_key_bytes(key, f"witness key of {org}") if key else None
        except MembershipError as exc:
            fail(f"--witness {value[:80]}: {exc}")
    return witnesses


@click.command("witness-policy", short_help="Set who witnesses checkpoints, the quorum, max age.")
@dir_option
@click.option(
    "--witness",
    "witness",
    multiple=True,
    metavar="ORG[=KEY]",
    help="A witness organisation (repeatable); with =KEY (base64 of a raw Ed25519 public key) "
    "it cosigns with that key instead of its nodes' feed keys.",
)
@click.option(
    "--quorum",
    type=AsciiIntRange(min=1),
    default=1,
    show_default=True,
    help="How many witness organisations must have cosigned a checkpoint.",
)
@click.option(
    "--max-age",
    "max_age",
    type=AsciiIntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds the newest cosignature may be old when a reader checks it.",
)
@click.option(
    "--default",
    "use_default",
    is_flag=True,
    help="Remove the policy: every organisation witnesses, quorum 1, max age 3600 s.",
)
@click.option(
    "--sign-with",
    "sign_with",
    multiple=True,
    metavar="NAME",
    help="Sign with only these governance keys (repeatable; default: every one in DIR).",
)
@passphrase_option
def witness_policy_command(
    directory: Path,
    witness: tuple[str, ...],
    quorum: int,
    max_age: int,
    use_default: bool,
    sign_with: tuple[str, ...],
    passphrase_file: Path | None,
) -> None:
    """Write membership version N+1 with a witness policy for the feeds' checkpoints.

    Without a policy (every consortium until it sets one) every organisation witnesses with its
    nodes' feed keys, one cosignature is needed and the newest may be an hour old. A feed's own
    organisation never counts as its witness.

    \b
    Example:
      medtrace keys witness-policy --dir DIR --witness customs --witness regulator \\
          --witness distributor --quorum 2 --max-age 900
      medtrace keys witness-policy --dir DIR --default
    """
    if use_default == bool(witness):
        fail("expected either --witness ORG (one or more) or --default, found both or neither")
    policy = None if use_default else WitnessPolicy(_witnesses(witness), quorum, max_age)
    consortium = Consortium.open(directory)
    if consortium.membership.witness_policy == policy:
        fail(f"expected another witness policy than version {consortium.version}'s, found the same")
    proposed = consortium.membership.with_witness_policy(policy)
    secret = passphrase_from_file(passphrase_file)
    signed = consortium.publish(
        consortium.sign(proposed, secret, sign_with=list(sign_with) or None)
    )
    what = (
        "the default witness policy"
        if policy is None
        else f"witnesses {', '.join(sorted(policy.witnesses))}, quorum {quorum}, "
        f"max age {max_age} s"
    )
    done(
        f"membership [bold]v{signed.membership.version}[/] written "
        f"(id {signed.id[:16]}…, signed by {', '.join(sorted(signed.signatures))}): "
        f"{escape(what)}"
    )


__all__ = ["witness_policy_command"]
