"""``medtrace keys``: create a consortium, add or revoke members, rotate feed keys, show, verify.

Every command works on a consortium directory (``--dir``, see docs/spec/keys.md). The passphrase
that protects the private keys comes from ``--passphrase-file``, else ``$MEDTRACE_PASSPHRASE``, else
a hidden prompt when stdin is a terminal. Errors are one red line on stderr and exit code 1
(2 for a usage error); key material and the passphrase are never printed.

This module is the group; its commands are in ``keys_consortium`` (create, show, verify),
``keys_membership`` (the changes that write version N+1) and ``keys_tls`` (the TLS CA).
"""

from __future__ import annotations

import click

from medtrace.cli.console import CleanErrorGroup
from medtrace.cli.keys.consortium import create_command, show_command, verify_command
from medtrace.cli.keys.foreign import distrust_foreign_command, trust_foreign_command
from medtrace.cli.keys.membership import (
    add_feed_command,
    add_org_command,
    revoke_feed_command,
    revoke_org_command,
    rotate_command,
)
from medtrace.cli.keys.tls import tls_ca_command, tls_issue_command
from medtrace.cli.keys.witnesses import witness_policy_command


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


for _command in (
    create_command,
    add_org_command,
    add_feed_command,
    revoke_feed_command,
    revoke_org_command,
    rotate_command,
    witness_policy_command,
    trust_foreign_command,
    distrust_foreign_command,
    show_command,
    verify_command,
    tls_ca_command,
    tls_issue_command,
):
    keys_group.add_command(_command)


__all__ = ["keys_group"]
