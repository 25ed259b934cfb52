"""``medtrace keys tls-…``: the consortium's TLS certificate authority and the nodes'
certificates it issues (ADR 0011)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from keys.consortium import Consortium
from keys.keystore import resolve_passphrase
from keys.tls import NODE_DAYS, ca_paths, create_ca, issue_node_files
from medtrace.cli.console import AsciiIntRange, done, passphrase_from_file
from medtrace.cli.console import fail as _fail
from medtrace.cli.keys.options import dir_option, passphrase_option


@click.command("tls-ca", short_help="Create the consortium's TLS CA (if it has none).")
@dir_option
@passphrase_option
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
        passphrase_from_file(passphrase_file), purpose=f"the TLS CA of {directory}", confirm=True
    )
    cert = create_ca(consortium.path, consortium.name, secret)
    done(
        f"TLS CA of {escape(consortium.name)} written to "
        f"{escape(str(ca_paths(consortium.path)[1]))} (valid until {cert.not_valid_after_utc:%Y-%m-%d})"
    )


@click.command("tls-issue", short_help="Issue a node's TLS certificate from the CA.")
@dir_option
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
    type=AsciiIntRange(1, 3650),
    default=NODE_DAYS,
    show_default=True,
    help="Validity of the certificate.",
)
@click.option("--force", is_flag=True, help="Replace the node's existing TLS key and certificate.")
@passphrase_option
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
        passphrase_from_file(passphrase_file), purpose=f"the TLS CA of {directory}"
    )
    cert = issue_node_files(consortium.path, org.id, hosts, out, secret, days=days, overwrite=force)
    done(
        f"TLS certificate for {escape(org.id)} ({escape(', '.join(hosts))}) in "
        f"{escape(str(out))}, valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )


__all__ = ["tls_ca_command", "tls_issue_command"]
