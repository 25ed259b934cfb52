"""The ``medtrace`` command: one CLI, a subcommand group per concern.

Each group is a module of ``medtrace.cli`` and is imported only when invoked, so ``medtrace
--help`` stays fast (the scanner's decoders and the servers load in a second or more). The
imports are plain deferred ``from … import`` statements, so the import graph sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from medtrace.cli.console import CleanErrorGroup


def _keys() -> click.Command:
    from medtrace.cli.keys import keys_group  # noqa: PLC0415

    return keys_group


def _ledger() -> click.Command:
    from medtrace.cli.ledger import ledger_group  # noqa: PLC0415

    return ledger_group


def _node() -> click.Command:
    from medtrace.cli.node import node_group  # noqa: PLC0415
    from medtrace.cli.node_foreign import foreign_group  # noqa: PLC0415

    node_group.add_command(foreign_group)  # node.py is at the module size limit
    return node_group


def _sync() -> click.Command:
    from medtrace.cli.sync import sync_group  # noqa: PLC0415

    return sync_group


def _demo() -> click.Command:
    from medtrace.cli.demo import demo_command  # noqa: PLC0415

    return demo_command


def _scan() -> click.Command:
    from medtrace.cli.scan import scan_command  # noqa: PLC0415

    return scan_command


def _proof() -> click.Command:
    from medtrace.cli.proof import proof_group  # noqa: PLC0415

    return proof_group


def _case() -> click.Command:
    from medtrace.cli.case import case_group  # noqa: PLC0415

    return case_group


def _labels() -> click.Command:
    from medtrace.cli.labels import labels_group  # noqa: PLC0415

    return labels_group


def _bench() -> click.Command:
    from medtrace.cli.bench import bench_command  # noqa: PLC0415

    return bench_command


def _soak() -> click.Command:
    from medtrace.cli.soak import soak_command  # noqa: PLC0415

    return soak_command


def _profile() -> click.Command:
    from medtrace.cli.profile import profile_group  # noqa: PLC0415

    return profile_group


def _product() -> click.Command:
    from medtrace.cli.work.customs import product_group  # noqa: PLC0415

    return product_group


def _customs() -> click.Command:
    from medtrace.cli.work.customs import customs_group  # noqa: PLC0415

    return customs_group


def _risk() -> click.Command:
    from medtrace.cli.risk import risk_group  # noqa: PLC0415

    return risk_group


def _verify_remote() -> click.Command:
    from medtrace.cli.vrs import verify_remote_command  # noqa: PLC0415

    return verify_remote_command


def _work(name: str) -> Callable[[], click.Command]:
    """A loader of one of the work commands (medtrace/cli/work/, docs/spec/cli.md)."""

    def load() -> click.Command:
        from medtrace.cli.work.registry import load  # noqa: PLC0415

        return load(name)

    return load


#: The everyday work against a node: name -> one-line help.
_WORK: dict[str, str] = {
    "commission": "Commission serialised packs: GTIN, lot, expiry; fresh or given serials.",
    "aggregate": "Pack packs or containers into a case or pallet (an SSCC).",
    "unpack": "Take packs or containers out of a case or pallet.",
    "ship": "Ship packs or containers to a member organisation.",
    "receive": "Receive packs or containers shipped or returned to you.",
    "return": "Return packs or containers up the chain.",
    "recall": "Recall a lot (irreversible).",
    "withdraw": "Withdraw a product (irreversible).",
    "dispense": "Dispense packs at a pharmacy counter.",
    "destroy": "Record packs or containers as destroyed.",
    "report-stolen": "Report packs or containers stolen.",
    "export": "Record packs or containers as exported out of the market.",
    "sample": "Take packs as samples.",
    "lock": "Lock packs or containers pending an investigation.",
    "unlock": "Unlock locked packs or containers.",
    "inspect": "Customs: release, hold or detain packs or containers.",
    "undo": "Undo a pack's last dispense, export or sample.",
    "pull": "Have the node pull from its peers now.",
    "show": "Show a pack's or a container's state at the node.",
}

#: name -> (loader, one-line help)
_COMMANDS: dict[str, tuple[Callable[[], click.Command], str]] = {
    "keys": (_keys, "Create a consortium, add or revoke members, rotate feed keys."),
    "ledger": (_ledger, "Inspect and re-verify a node's stored ledger."),
    "node": (_node, "Create, run and administer an organisation's node."),
    "sync": (_sync, "Carry ledger updates by file to a post with no link."),
    "demo": (_demo, "Run the end-to-end demo and write a report."),
    "scan": (_scan, "Read a pack's code and verify it: RELEASE, HOLD or REJECT."),
    "labels": (_labels, "Make pack labels: GS1 DataMatrix and Digital Link QR."),
    "case": (_case, "Cases between authorities: export, verify offline, import."),
    "proof": (_proof, "Verify a pack's proof file offline with nothing but the genesis id."),
    "bench": (_bench, "Measure throughput beside raw SQLite and Ed25519 floors."),
    "soak": (_soak, "Run the demo network under steady load: 0 errors, flat memory."),
    "profile": (_profile, "Set, show or clear your node, token, CA and pinned genesis."),
    "product": (_product, "Register a GTIN's product master data, or show it."),
    "customs": (_customs, "Customs: lodge import declarations."),
    "verify-remote": (_verify_remote, "Ask another party's GS1 verification service (VRS)."),
    "risk": (_risk, "Train, measure and explain the learned risk score of declarations."),
    **{name: (_work(name), line) for name, line in _WORK.items()},
}


class _LazyGroup(CleanErrorGroup):
    """Loads a command when invoked; an error no group below explains is one line here."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        return None if spec is None else spec[0]()

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[1]) for name, spec in sorted(_COMMANDS.items())]
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
