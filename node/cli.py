"""The ``medtrace`` command: one CLI, a subcommand group per concern.

Each group lives beside the code it drives (``keys/cli.py``, ``node/ledger_cli.py`` …) and is
imported only when invoked, so ``medtrace --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: name -> (module, attribute, one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "keys": (
        "keys.cli",
        "keys_group",
        "Create a consortium, add or revoke members, rotate feed keys.",
    ),
    "ledger": ("node.ledger_cli", "ledger_group", "Inspect and re-verify a node's stored ledger."),
    "node": ("node.node_cli", "node_group", "Create, run and administer an organisation's node."),
    "sync": ("node.sync_cli", "sync_group", "Carry ledger updates by file to a post with no link."),
    "demo": ("node.demo", "demo_command", "Run the end-to-end demo and write a report."),
    "scan": (
        "scanner.cli",
        "scan_command",
        "Read a pack's code and verify it: RELEASE, HOLD or REJECT.",
    ),
    "labels": (
        "scanner.labels_cli",
        "labels_group",
        "Make pack labels: GS1 DataMatrix and Digital Link QR.",
    ),
    "bench": (
        "bench.cli",
        "bench_command",
        "Measure throughput beside raw SQLite and Ed25519 floors.",
    ),
    "soak": (
        "bench.soak",
        "soak_command",
        "Run the demo network under steady load: 0 errors, flat memory.",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attribute, _ = spec
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[2]) for name, spec in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medtrace")
def cli() -> None:
    """medtrace: a permissioned traceability ledger for medical products.

    Manufacturers commission serialised packs, distributors and customs follow them, pharmacists
    verify and dispense them; every step is a signed, hash-chained entry that every node can
    re-verify.
    """


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="medtrace")
