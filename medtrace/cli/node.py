"""``medtrace node …``: create, run and administer one organisation's node.

Errors are one red line on stderr and exit code 1 (2 for a usage error); no traceback, and never
a token (beyond ``token create``'s own stdout), the passphrase or key material.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import click
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from keys.consortium import Consortium
from keys.consortium.arguments import check_name, split_feed_id
from keys.keystore import PASSPHRASE_ENV, KeyStoreError, load_private_key, resolve_passphrase
from keys.tls import NodeTlsFiles
from keys.tls_contexts import server_context
from medtrace.cli.console import (
    AsciiIntRange,
    CleanErrorGroup,
    directory_option,
    done,
    message_of,
    passphrase_file_option,
    passphrase_from_file,
    print_json,
)
from medtrace.cli.console import fail as _fail
from medtrace.cli.console import out as _out
from medtrace.cli.node_status import status_command
from medtrace.cli.node_tokens import token_group
from medtrace.serve.run import serve
from medtrace.serve.settings import ServerKind, server_for
from node.config import (
    CONFIG_FILE,
    DB_FILE,
    KEY_FILE,
    ConfigError,
    NodeConfig,
    PeerConfig,
    load_config,
    save_config,
)
from node.datadir import init_node
from node.tokens import TokenError, looks_like_token
from node.unlock import PASSPHRASE_FILE, AppError, resolve_node_passphrase

#: A peer's base URL. The host is ASCII (an IDN in its xn-- form) and the port ASCII digits: with
#: any character allowed before it, "host:8101" in full-width digits passed as a host name.
_URL = re.compile(
    r"\Ahttps?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(?::[0-9]{1,5})?(?:/[^\s?#]*)?\Z"
)
#: Files a data directory may hold before ``init`` (anything else needs --force).
_HARMLESS = frozenset({".DS_Store"})


class _NodeGroup(CleanErrorGroup):
    """Every expected failure becomes one red line on stderr and exit code 1."""

    expected: ClassVar[tuple[type[Exception], ...]] = (
        ConfigError,
        AppError,
        TokenError,
        *CleanErrorGroup.expected,
    )

    def explain(self, exc: Exception) -> str | None:
        if isinstance(exc, SQLAlchemyError):
            cause = getattr(exc, "orig", None) or exc
            said = message_of(cause)
            return (
                f"the node's database cannot be used: {said}"
                if said
                else ("the node's database cannot be used")
            )
        return super().explain(exc)


# -- shared options and helpers -------------------------------------------------------------------


_data_option = directory_option(
    "--data", "data", help="The node's data directory (node.json, feed.key, node.db)."
)
_passphrase_option = passphrase_file_option(
    f"Read the key passphrase from this file (first line) instead of ${PASSPHRASE_ENV}."
)


def _read_passphrase_file(path: Path | None) -> str | None:
    """``--passphrase-file`` as text, the form a node's passphrase takes (``node.unlock``)."""
    secret = passphrase_from_file(path)
    return None if secret is None else secret.decode("utf-8", errors="strict")


def parse_peer(text: str) -> PeerConfig:
    """``NAME=URL=TOKEN`` (the URL may not contain '=' ; the token never does)."""
    name, sep, rest = text.partition("=")
    url, sep2, token = rest.rpartition("=")
    if not sep or not sep2 or not name or not url or not token:
        raise click.BadParameter(
            f"expected NAME=URL=TOKEN, found {text.split('=', maxsplit=1)[0]}=…"
        )
    return _peer(name, url, token)


def _peer(name: str, url: str, token: str) -> PeerConfig:
    try:
        check_name(name, "peer name")
    except KeyStoreError as exc:
        raise click.BadParameter(str(exc)) from None
    if not _URL.match(url):
        raise click.BadParameter(
            "expected a base URL like http://127.0.0.1:8101 (an ASCII host, a port of digits "
            f"0-9), found {url!r}"
        )
    if not looks_like_token(token):
        raise click.BadParameter(
            "expected a bearer token issued by that node (mt_ and 43 characters), found "
            "something else (not shown)"
        )
    return PeerConfig(name=name, url=url.rstrip("/"), token=token)


# -- the group -------------------------------------------------------------------------------------


@click.group("node", cls=_NodeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def node_group() -> None:
    """Create, run and administer an organisation's node.

    \b
    A node holds one feed's key, stores every feed it sees, serves the HTTP API (docs/spec/api.md)
    and replicates with its peers. Typical set-up of a pharmacy node:

    \b
      export MEDTRACE_PASSPHRASE=…      # the passphrase of the consortium's keys
      medtrace node init --data nodes/pharmacy --consortium consortium \\
          --feed pharmacy/counter --port 8104
      medtrace node token create --data nodes/pharmacy --user scanner-1 --role verifier
      medtrace node run --data nodes/pharmacy
    """


@node_group.command("init", short_help="Create a node's data directory for one feed.")
@_data_option
@click.option(
    "--consortium",
    "consortium_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The consortium directory made by `medtrace keys create` (holds the feed's key).",
)
@click.option("--feed", "feed", required=True, help="The feed this node signs, ORG/SITE.")
@click.option("--name", help="A short node name for logs and peers (default: the ORG).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=AsciiIntRange(1, 65535))
@click.option(
    "--database",
    default="",
    help=f"A SQLAlchemy URL (postgresql://…); default: DATA/{DB_FILE} (SQLite).",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="NAME=URL=TOKEN",
    help="A peer node: its name, base URL and a 'peer' token it issued (repeatable).",
)
@click.option(
    "--keep-passphrase",
    is_flag=True,
    help=f"Also write the passphrase to DATA/{PASSPHRASE_FILE} (0600) so `node run` needs no "
    "environment: for demo and test nodes only.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS with a certificate issued now from the consortium's TLS CA (DATA/tls.*), "
    "and require peers to show theirs (ADR 0011).",
)
@click.option(
    "--tls-host",
    "tls_hosts",
    multiple=True,
    metavar="HOST",
    help="A DNS name or IP address the certificate covers (repeatable; default: --host, "
    "localhost and 127.0.0.1).",
)
@click.option("--force", is_flag=True, help="Re-initialise a non-empty data directory.")
@_passphrase_option
def init_command(
    data: Path,
    consortium_dir: Path,
    feed: str,
    name: str | None,
    host: str,
    port: int,
    database: str,
    peers: Sequence[str],
    keep_passphrase: bool,
    tls: bool,
    tls_hosts: Sequence[str],
    force: bool,
    passphrase_file: Path | None,
) -> None:
    """Create a node's data directory: the feed's key (re-encrypted, 0600), the membership
    chain and its pinned genesis in the node's store, and node.json; with --tls, a TLS key
    (0600) and certificate from the consortium's CA.

    \b
    Examples:
      medtrace node init --data nodes/acme --consortium consortium --feed acme/line-1
      medtrace node init --data nodes/apo --consortium consortium --feed apo/counter \\
          --port 8102 --peer acme=http://127.0.0.1:8101=mt_…
      medtrace node init --data nodes/acme --consortium consortium --feed acme/line-1 \
          --tls --tls-host acme.example --tls-host 10.0.0.5
    """
    if tls_hosts and not tls:
        raise click.UsageError("--tls-host needs --tls")
    org, _site = split_feed_id(feed)
    node_name = check_name(name or org, "node name")
    parsed_peers = tuple(parse_peer(p) for p in peers)
    if len({p.name for p in parsed_peers}) != len(parsed_peers):
        raise click.BadParameter("expected distinct peer names", param_hint="--peer")
    consortium = Consortium.open(consortium_dir)
    consortium.membership.feed(feed)  # UnknownFeed if the consortium does not list it
    secret = resolve_passphrase(
        _read_passphrase_file(passphrase_file), purpose=f"the key of feed {feed}"
    )
    init_node(
        data,
        consortium,
        NodeConfig(
            name=node_name,
            feed=feed,
            genesis_id=consortium.genesis_id,
            host=host,
            port=port,
            database=database,
            peers=parsed_peers,
            tls=tls,
        ),
        secret,
        keep_passphrase=keep_passphrase,
        force=force,
        tls_hosts=tls_hosts,
    )
    done(
        f"node [bold]{escape(node_name)}[/] for feed [bold]{escape(feed)}[/] in "
        f"{escape(str(data))} (membership v{consortium.version}, {len(parsed_peers)} peer(s)"
        f"{', HTTPS with a certificate from the consortium CA' if tls else ''})"
    )
    out = _out()
    out.print(
        f"  next: medtrace node token create --data {escape(str(data))} --user NAME --role operator"
    )
    out.print(f"        medtrace node run --data {escape(str(data))}")


@node_group.command("run", short_help="Serve the node's API and replicate.")
@_data_option
@click.option(
    "--port", type=AsciiIntRange(1, 65535), help="Listen on this port (default: node.json)."
)
@click.option("--host", help="Listen on this address (default: node.json).")
@click.option("--workers", type=AsciiIntRange(1, 64), help="Worker processes (default: node.json).")
@click.option(
    "--threads", type=AsciiIntRange(1, 256), help="Threads per worker (default: node.json)."
)
@click.option(
    "--server",
    type=click.Choice([k.value for k in ServerKind]),
    help="HTTP server (default: node.json, else auto: granian).",
)
@click.option("--log-stderr", is_flag=True, help="JSON log lines on stderr, on a terminal too.")
@_passphrase_option
def run_command(
    data: Path,
    log_stderr: bool,
    passphrase_file: Path | None,
    **overrides: Any,  # --port, --host, --workers, --threads, --server: None unless given
) -> None:
    """Serve the node's HTTP API until SIGTERM or Ctrl-C (both graceful).

    A node runs under granian, whether it serves plain HTTP or TLS; peers prove who they are by
    signing their requests with their feed key (ADR 0015).

    The passphrase of DATA/feed.key comes from --passphrase-file, else $MEDTRACE_PASSPHRASE,
    else DATA/passphrase (demo nodes), else a prompt.

    Logs are JSON lines. On a terminal the node prints a short banner (its name, feed and
    URLs) and appends the lines to DATA/node.log (0600). They go to stderr when it is not a
    terminal (systemd, docker, a redirect), or with --log-stderr. A port in use is one error
    line and exit status 1.

    \b
    Examples:
      MEDTRACE_PASSPHRASE=… medtrace node run --data nodes/acme
      medtrace node run --data demo-out/nodes/pharmacy --port 9104
    """
    config = load_config(data)
    server_for(config, overrides["server"])  # a bad choice fails before the passphrase is asked for
    try:
        secret = resolve_node_passphrase(data, _read_passphrase_file(passphrase_file))
    except AppError:
        if not (sys.stdin is not None and sys.stdin.isatty()):
            raise
        secret = resolve_passphrase(None, purpose=str(data / KEY_FILE)).decode("utf-8")
    # Check the passphrase here, once, before any worker is forked: a wrong one is one red line.
    load_private_key(data / KEY_FILE, secret)
    if config.tls:
        server_context(NodeTlsFiles.in_dir(data), secret)
    serve(data, config, secret, log_stderr=log_stderr, **overrides)


# -- peers -----------------------------------------------------------------------------------------


@node_group.group("peer", short_help="Add, list and remove peer nodes.")
def peer_group() -> None:
    """The nodes this node pulls from and hints after each write (stored in node.json, 0600)."""


@peer_group.command("add")
@_data_option
@click.option("--name", required=True, help="The peer's node name.")
@click.option("--url", required=True, help="Its base URL, e.g. http://127.0.0.1:8101.")
@click.option("--token", required=True, help="A token with role 'peer' that the peer issued.")
def peer_add_command(data: Path, name: str, url: str, token: str) -> None:
    """Add a peer, or replace the one with the same name. Restart the node to use it.

    \b
    Example:
      medtrace node peer add --data nodes/apo --name acme --url http://127.0.0.1:8101 \\
          --token "$(medtrace node token create --data nodes/acme --user apo --role peer)"
    """
    peer = _peer(name, url, token)
    config = load_config(data)
    others = tuple(p for p in config.peers if p.name != name)
    replaced = len(others) != len(config.peers)
    save_config(data, _with_peers(config, (*others, peer)))
    done(f"peer {escape(name)} {'replaced' if replaced else 'added'}: {escape(peer.url)}")


@peer_group.command("remove")
@_data_option
@click.option("--name", required=True, help="The peer's node name.")
def peer_remove_command(data: Path, name: str) -> None:
    """Remove a peer. Restart the node to stop using it."""
    config = load_config(data)
    others = tuple(p for p in config.peers if p.name != name)
    if len(others) == len(config.peers):
        _fail(f"expected a peer named {name!r} in {data / CONFIG_FILE}, found none")
    save_config(data, _with_peers(config, others))
    done(f"peer {escape(name)} removed")


@peer_group.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def peer_list_command(data: Path, as_json: bool) -> None:
    """List peers (names and URLs; tokens are not shown).

    With --json: {"peers": [{"name": …, "url": …}, …]} on one line.
    """
    config = load_config(data)
    if as_json:
        print_json({"peers": [{"name": p.name, "url": p.url} for p in config.peers]})
        return
    table = Table("name", "url")
    for peer in config.peers:
        table.add_row(escape(peer.name), escape(peer.url))
    _out().print(table)


def _with_peers(config: NodeConfig, peers: tuple[PeerConfig, ...]) -> NodeConfig:
    return replace(config, peers=peers)


node_group.add_command(status_command)  # medtrace/cli/node_status.py
node_group.add_command(token_group)  # medtrace/cli/node_tokens.py
