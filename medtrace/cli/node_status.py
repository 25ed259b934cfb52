"""``medtrace node status``: the node's view of its network, from ``GET /api/v1/network``.

The same answer as the ``/network`` page: every peer, reachable or not, how many entries it is
behind us and ahead of us, when this node last reached it, the feeds it holds frozen at a fork,
and whether its ledger digest equals ours (docs/spec/api.md, "The network").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import requests
from rich.markup import escape
from rich.table import Table

from keys.tls import NODE_CA_FILE
from medtrace.cli.console import fail, out, print_json
from node.config import ConfigError, load_config
from node.https import ca_session

NETWORK_PATH = "/api/v1/network"
#: A node listening on every address is asked on loopback (not a bind: nothing listens here).
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104
#: The node asks every peer itself; a dead one costs it a few seconds.
TIMEOUT_S = 30.0


def _node_url(node: str | None, data: Path | None) -> str:
    if node:
        if not node.startswith(("http://", "https://")):
            fail(f"expected --node URL like https://127.0.0.1:8101, found {node[:80]!r}")
        return node.rstrip("/")
    if data is None:
        raise click.UsageError("expected --node URL or --data DIR (the node's data directory)")
    try:
        config = load_config(data)
    except ConfigError as exc:
        fail(str(exc))
    # A node listening on every address (0.0.0.0 or ::) is asked on this machine's loopback.
    host = "127.0.0.1" if config.host in _ANY_ADDRESS else config.host
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if config.tls else 'http'}://{host}:{config.port}"


def _ca(ca: Path | None, data: Path | None, url: str) -> Path | None:
    if ca is not None or data is None or not url.startswith("https://"):
        return ca
    default = data / NODE_CA_FILE
    return default if default.is_file() else None


def fetch_network(url: str, token: str, ca: Path | None) -> dict[str, Any]:
    """The node's answer, or one line saying why there is none."""
    try:
        with ca_session(ca) as session:
            answer = session.get(
                url + NETWORK_PATH,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=TIMEOUT_S,
            )
    except requests.exceptions.SSLError:
        fail(f"{url}: the certificate is not trusted: give the consortium's CA with --ca")
    except requests.ConnectionError as exc:
        # Deferred: the scanner's modules load its decoders; only a failure needs this one.
        from scanner.sources.online import connection_problem  # noqa: PLC0415

        fail(connection_problem(url, exc))
    except requests.Timeout:
        fail(f"{url} did not answer within {TIMEOUT_S:.0f} s")
    try:
        value = answer.json()
    except ValueError:
        value = None
    if answer.status_code != 200 or not isinstance(value, dict):
        detail = value.get("detail") if isinstance(value, dict) else None
        fail(
            f"expected the network view from {url}, found {answer.status_code} "
            f"{answer.reason}: {detail or 'not JSON'}"
        )
    return value


def _lag(value: int | None) -> str:
    return "—" if value is None else str(value)


def _time(text: str | None) -> str:
    return text.replace("T", " ").removesuffix("Z")[:19] + " UTC" if text else "never"


def show(view: dict[str, Any]) -> None:
    """The rich form: a line about this node, then one row per peer."""
    console = out()
    age = view.get("newest_cosigned_checkpoint_age_s")
    agreement = view["agreement"]
    feeds = len(view["feeds"])
    console.print(
        f"[bold]{escape(view['node'])}[/] ({escape(view['feed'])}): {view['entries']} entries in "
        f"{feeds} feed{'' if feeds == 1 else 's'}, digest {view['digest'][:16]}…, asked at "
        f"{_time(view['at'])}",
        highlight=False,
    )
    frozen = ", ".join(view["frozen_feeds"]) or "none"
    console.print(
        f"frozen feeds here: {escape(frozen)}; forks held: {len(view['forks'])}; newest cosigned "
        f"checkpoint: {'—' if age is None else f'{age:.0f} s old'}",
        highlight=False,
    )
    table = Table("peer", "url", "state")
    table.add_column("behind us", justify="right")
    table.add_column("ahead of us", justify="right")
    for name in ("last contact", "digest", "frozen feeds"):
        table.add_column(name)
    errors = []
    for peer in view["peers"]:
        state = "[green]reachable[/]" if peer["reachable"] else "[red]unreachable[/]"
        if peer["error"]:
            errors.append(f"[red]{escape(peer['name'])}[/]: {escape(peer['error'])}")
        agrees = peer["digest_agrees"]
        digest = (
            "—"
            if agrees is None
            else "[green]agrees[/]"
            if agrees
            else f"[yellow]differs[/] {escape((peer['digest'] or '')[:12])}…"
        )
        table.add_row(
            escape(peer["name"]),
            escape(peer["url"]),
            state,
            _lag(peer["behind"]),
            _lag(peer["ahead"]),
            _time(peer["last_contact"]),
            digest,
            escape(", ".join(peer["frozen_feeds"]) or ("none" if peer["reachable"] else "—")),
        )
    console.print(table)
    for line in errors:
        console.print(line, highlight=False)
    console.print(
        f"{agreement['reachable']} of {agreement['peers']} peers reachable, "
        f"{agreement['agreeing']} hold exactly our ledger",
        highlight=False,
    )


@click.command("status", short_help="Every peer: reachable, lag, last contact, digest agreement.")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="The node's data directory: its address (and CA) come from node.json.",
)
@click.option("--node", envvar="MEDTRACE_NODE", help="The node's base URL (instead of --data).")
@click.option(
    "--token",
    envvar="MEDTRACE_TOKEN",
    required=True,
    help="An operator or auditor token of that node (or MEDTRACE_TOKEN).",
)
@click.option(
    "--ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="MEDTRACE_CA",
    help="Trust only this CA certificate for an https node (default with --data: DATA/tls-ca.crt).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the node's JSON answer on one line.")
def status_command(
    data: Path | None, node: str | None, token: str, ca: Path | None, as_json: bool
) -> None:
    """Ask the node for its view of the network (GET /api/v1/network).

    For every peer, reachable or not: how many entries it is behind us and ahead of us, when
    this node last reached it, the feeds it holds frozen at a fork, and whether its ledger
    digest equals ours. The newest cosigned checkpoint's age shows "—" (null in --json) until
    the network publishes checkpoints.

    \b
    Examples:
      medtrace node status --data nodes/acme --token "$OPERATOR"
      medtrace node status --node https://127.0.0.1:8101 --ca nodes/acme/tls-ca.crt \\
          --token "$AUDITOR" --json
    """
    url = _node_url(node, data)
    view = fetch_network(url, token, _ca(ca, data, url))
    if as_json:
        print_json(view)
        return
    show(view)
