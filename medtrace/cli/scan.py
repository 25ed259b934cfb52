"""``medtrace scan``: from a photo or a scanned text to RELEASE / HOLD / REJECT.

::

    medtrace scan label.png --node http://127.0.0.1:8104 --token $SCANNER --genesis $GENESIS
    medtrace scan ']d201095060001343521728103110A2611<GS>21ABC123' --offline nodes/pharmacy
    medtrace scan photos/ --offline nodes/customs --json          # a folder: batch mode
    medtrace scan label.png --decode-only --json                  # what the code says, no ledger
    medtrace scan label.png --node … --then dispense --operator-token $OPERATOR

Exit codes: 0 RELEASE, 1 HOLD, 2 REJECT, 3 scan error (nothing readable, a syntax problem in the
code), 4 usage or I/O error (bad options, unreadable data directory, a refused token or action).
A batch exits with the worst verdict (REJECT over HOLD over a scan error over RELEASE).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import LedgerError
from medtrace.cli import scan_consignment
from medtrace.cli.console import AsciiIntRange, err_console, fail, message_of, progress_bar
from medtrace.cli.profile_store import ProfileError
from medtrace.cli.proof import write_proof
from medtrace.cli.scan_output import (
    Result,
    batch_counts,
    decoded_result,
    error_result,
    pack_result,
    results_together,
    show_batch,
    worst_code,
)
from medtrace.cli.scan_report import Reporter
from medtrace.cli.work.client import WorkError
from medtrace.cli.work.target import Defaults, profile_defaults
from scanner.actions import ACTIONS, ActionRefused, Operator
from scanner.outcome import Outcome
from scanner.proof_file import ProofUnusable
from scanner.reading.inputs import (
    ScannedInput,
    UnreadableInput,
    folder_images,
    read_image_file,
    read_input,
)
from scanner.sources.fallback import Sources
from scanner.sources.offline import open_local, parse_age
from scanner.verifying import VerifyError

USAGE = 4


class UsageProblem(Exception):
    """Bad options, unreadable files, a refused token: exit 4."""


@dataclass
class Settings:
    """How to verify each input, and what to do after the verdict (``--then``)."""

    sources: Sources
    case: scan_consignment.CaseOptions = field(default_factory=scan_consignment.CaseOptions)
    then: str | None = None
    operator: Operator | None = None
    export_proof: Path | None = None
    reporter: Reporter | None = None  # medtrace/cli/scan_report.py


def run_item(scanned: ScannedInput, settings: Settings | None) -> Result:
    """Verify what one input holds (``settings`` None: decode only)."""
    if scanned.unreadable:
        return error_result(scanned)
    if settings is None:
        return decoded_result(scanned)
    then, operator = settings.then, settings.operator
    results: list[Result] = []
    for scan in scanned.packs:
        outcome = settings.sources.verify(scan)
        if settings.reporter is not None:  # a failed verdict raises an alert (ADR 0022)
            settings.reporter.report(outcome)
        if settings.export_proof is not None:
            _export(settings, scanned, outcome)
        pack_action = operator.act_on_pack(then, outcome) if then and operator else None
        results.append(pack_result(outcome, pack_action))
    for sscc in scanned.containers:  # a case or pallet: every pack, checked at the node
        case = scan_consignment.check(settings.sources, settings.case, sscc)
        results.append(scan_consignment.result(case, scan_consignment.act(then, operator, case)))
    return results[0] if len(results) == 1 else results_together(results)


def _export(settings: Settings, scanned: ScannedInput, outcome: Outcome) -> None:
    if len(scanned.packs) != 1 or scanned.containers:
        raise UsageProblem("--export-proof takes one pack's code, not a case or several codes")
    assert settings.export_proof is not None
    try:
        write_proof(settings.export_proof, settings.sources, outcome)
    except ProofUnusable as exc:
        raise UsageProblem(f"--export-proof: {exc}") from None


def _settings(
    node: str | None,
    token: str | None,
    genesis: str | None,
    offline: Path | None,
    max_age: str,
    customs: bool,
    custodian: str | None,
    then: str | None,
    operator_token: str | None,
    ca: Path | None,
    case: scan_consignment.CaseOptions,
) -> Settings:
    if node is None and offline is None:
        raise UsageProblem(
            "expected --node URL --token T --genesis ID (online) or --offline DATA, "
            "or --decode-only"
        )
    if node is not None and (not token or not genesis):
        raise UsageProblem("--node needs --token (a verifier token) and --genesis (the pinned id)")
    operator = None
    if then is not None:
        if node is None or not operator_token:
            raise UsageProblem(f"--then {then} needs --node and --operator-token")
        operator = Operator(node, operator_token, ca)
        if then == "dispense" and custodian is None:
            # a counter dispenses only what it holds: the node would refuse any other pack
            custodian = operator.organisation()
    try:
        age = parse_age(max_age)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    sources = Sources(
        node,
        token,
        genesis,
        max_age=age,
        in_transit_ok=customs or then in ("release", "detain"),
        custodian=custodian,
        ca=ca,
    )
    if offline is not None:
        sources.local = open_local(offline, pin=genesis)
    return Settings(sources, case, then, operator)


@click.command("scan")
@click.argument("target", metavar="IMAGE_OR_TEXT", required=False)
@click.option(
    "--node",
    envvar="MEDTRACE_NODE",
    help="Verify online at this node (base URL; or MEDTRACE_NODE; default: the profile's "
    "unless --offline is given).",
)
@click.option(
    "--token",
    envvar="MEDTRACE_TOKEN",
    help="A verifier token of that node (or MEDTRACE_TOKEN; default: the profile's).",
)
@click.option(
    "--genesis",
    envvar="MEDTRACE_GENESIS",
    help="The pinned genesis membership id (or MEDTRACE_GENESIS; default: the profile's). "
    "Offline it defaults to the data directory's.",
)
@click.option(
    "--offline",
    type=click.Path(path_type=Path),
    help="Verify against a node data directory, its SQLite file, or a sync bundle on this "
    "machine (with --node: only when the node cannot be reached).",
)
@click.option(
    "--max-age",
    default="24h",
    show_default=True,
    help="Offline data older than this gives HOLD (stale_data), and so does an offline "
    "checkpoint whose newest cosignature is older (stale_checkpoint): 90s, 30m, 24h, 7d.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the panel.")
@click.option("--decode-only", is_flag=True, help="Only decode and parse; ask no ledger.")
@click.option(
    "--customs",
    is_flag=True,
    help="Customs: a pack in transit is expected (not a reason to hold). A case's or "
    "pallet's code is checked whole at the node: every pack, nested cases included.",
)
@click.option(
    "--custodian",
    help="Your organisation id: a RELEASE then also needs the ledger to show the pack with you "
    "(with --then dispense it defaults to the organisation of the --node).",
)
@click.option(
    "--then",
    "then",
    type=click.Choice(ACTIONS),
    help="After the verdict: dispense (RELEASE only), customs release / detain (a pack or a "
    "whole case), or undo the pack's last decommissioning.",
)
@click.option(
    "--declaration",
    metavar="REF",
    help="Check a declaration lodged at the --node (customs): every pack of its packages "
    "against the ledger and the declared goods, consignor and consignee. Give no code then.",
)
@click.option("--case-limit", type=AsciiIntRange(1), hidden=True)  # gone: see _one_target
@click.option(
    "--operator-token",
    envvar="MEDTRACE_OPERATOR_TOKEN",
    help="An operator token of the node, for --then (or MEDTRACE_OPERATOR_TOKEN; default: the "
    "profile's token).",
)
@click.option(
    "--ca",
    envvar="MEDTRACE_CA",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Trust only this CA certificate for an https --node: the consortium's, e.g. "
    "DATA/tls-ca.crt of a node (or MEDTRACE_CA; default: the profile's).",
)
@click.option(
    "--export-proof",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the pack's proof file here: its entries with their disclosed paths, the "
    "membership, the verdict and the feeds' cosigned checkpoints (medtrace proof verify).",
)
@click.option(
    "--no-report",
    is_flag=True,
    help="Do not report a REJECT or an evidence HOLD to the node (by default an online scan "
    "reports it, and the node raises an alert that reaches the regulator; an offline scan "
    "cannot report).",
)
def scan_command(
    target: str | None,
    node: str | None,
    token: str | None,
    genesis: str | None,
    offline: Path | None,
    max_age: str,
    as_json: bool,
    decode_only: bool,
    customs: bool,
    custodian: str | None,
    then: str | None,
    declaration: str | None,
    case_limit: int | None,
    operator_token: str | None,
    ca: Path | None,
    export_proof: Path | None,
    no_report: bool,
) -> None:
    """Read a pack's code (an image file, a folder of images, or the scanned text) and verify
    the pack's provenance itself: RELEASE, HOLD or REJECT with reasons and the custody timeline.

    IMAGE_OR_TEXT is a PNG/JPEG/WebP file, a folder (batch mode), the text a keyboard-wedge
    scanner typed (GS as <GS> or lost; with or without ]d2), a GS1 Digital Link URI, or "-" to
    read one scan per line from standard input.

    A node that cannot be reached is HOLD (ledger_unreachable) saying why: nothing answers at
    the port, or the port answers HTTPS (use https:// and --ca). A token the node refuses is
    one error line, exit 4; so is an --offline path that is missing or not a data directory,
    SQLite file or bundle.

    Every entry the verdict rests on must be in a feed checkpoint cosigned under the
    membership's witness policy (offline: no older than --max-age); otherwise HOLD
    (no_cosigned_checkpoint, stale_checkpoint, too_few_cosignatures, not_included,
    split_view). The output says how old the newest cosigned checkpoint is, and names the
    product of the pack's GTIN (no product registered: HOLD unregistered_product with
    --customs, a warning otherwise).

    A case's or pallet's code (an SSCC, AI 00) or --declaration REF checks the whole
    consignment at the node in one request: every pack, nested cases included, one verdict
    with counts, reasons, the products and the offending packs (named to an operator token of
    a customs or regulator node; a verifier token gets counts), with a progress bar. Offline
    the same check runs on a node's data directory.

    A pack of another country's consortium (its GTIN under a foreign root the node's
    membership pins) is verified by the node against that consortium's ledger; the output says
    which country's ledger answered and how old its checkpoint was (no --export-proof for it).

    Without --node, --offline or --decode-only it verifies at the node of your profile
    (medtrace profile set), with the profile's token, CA and pinned genesis; options override
    them, and the profile's token and CA go to the profile's node only.

    \b
    Exit codes: 0 RELEASE, 1 HOLD, 2 REJECT, 3 scan error, 4 usage or I/O error.
    \b
    Examples:
      medtrace scan label.png --decode-only
      medtrace scan label.png                     # at the node of medtrace profile set
      medtrace scan label.png --node http://127.0.0.1:8104 --token $T --genesis $G
      medtrace scan label.png --node https://127.0.0.1:8104 --ca nodes/pharmacy/tls-ca.crt \\
          --token $T --genesis $G
      medtrace scan '(01)09506000134352(17)281031(10)A2611(21)4TQ2M8ZK1V9C' --offline nodes/pharmacy
      medtrace scan photos/ --offline border.bundle --genesis $G --customs --json
      medtrace scan label.png --offline nodes/customs --customs --export-proof pack.proof.json
      medtrace scan '(00)095060000000900001' --node $N --token $T --genesis $G --customs \\
          --operator-token $OP                       # a pallet: every pack on it
      medtrace scan --declaration DE-2026-000123 --node $N --token $T --genesis $G \\
          --operator-token $OP                       # the declared consignment
    """
    settings: Settings | None = None
    try:
        _one_target(target, declaration, case_limit, decode_only)
        if not decode_only and offline is None:
            node, token, ca, genesis, operator_token = _profile(
                Defaults(node, token, ca, genesis, operator_token)
            )
        if not decode_only:
            settings = _settings(
                node,
                token,
                genesis,
                offline,
                max_age,
                customs,
                custodian,
                then,
                operator_token,
                ca,
                scan_consignment.CaseOptions(customs, declaration, operator_token, as_json),
            )
        if settings is not None and not no_report:
            settings.reporter = Reporter(settings.sources)
        if export_proof is not None:
            if settings is None or target in (None, "-") or Path(target).is_dir():
                raise UsageProblem("--export-proof takes one pack's code, verified (no batch)")
            settings.export_proof = export_proof
        if target is None:  # --declaration: the consignment it names
            assert settings is not None
            code = _show(
                scan_consignment.declaration_result(
                    settings.sources, settings.case, settings.then, settings.operator
                ),
                as_json,
            )
        else:
            code = _run(target, settings, as_json)
    except (UsageProblem, VerifyError, UnreadableInput, ActionRefused) as exc:
        _fail("usage", str(exc), as_json)
    except (SQLAlchemyError, LedgerError, OSError) as exc:
        _fail("io", message_of(exc) or "the store or a file could not be read", as_json)
    finally:
        if settings is not None:
            settings.sources.close()
    sys.exit(code)


def _one_target(
    target: str | None, declaration: str | None, case_limit: int | None, decode_only: bool
) -> None:
    if case_limit is not None:
        raise UsageProblem(
            "--case-limit is gone: a case or pallet is checked whole at the node, every pack "
            '(docs/spec/scanner.md, "Cases, pallets and declarations")'
        )
    if (target is None) == (declaration is None):
        raise UsageProblem(
            "expected IMAGE_OR_TEXT (a photo, a folder, a scanned code or -) or --declaration "
            "REF, one of the two"
        )
    if declaration is not None and decode_only:
        raise UsageProblem("--declaration is checked at a node: it cannot be --decode-only")


def _profile(given: Defaults) -> tuple[str | None, str | None, Path | None, str | None, str | None]:
    """The profile's node, token, CA and genesis where no option gave them (``medtrace
    profile``); its node only when neither --node nor --offline is given."""
    try:
        d = profile_defaults(given)
    except (WorkError, ProfileError) as exc:
        raise UsageProblem(str(exc)) from None
    return d.node, d.token, d.ca, d.genesis, d.operator_token


def _fail(code: str, message: str, as_json: bool) -> NoReturn:
    if not as_json:
        fail(message, USAGE)
    sys.stdout.write(json.dumps({"error": {"code": code, "hint": message}}) + "\n")
    sys.exit(USAGE)


def _run(target: str, settings: Settings | None, as_json: bool) -> int:
    path = Path(target)
    if target == "-":
        lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
        inputs = [(f"line {n}", partial(read_input, line)) for n, line in enumerate(lines, 1)]
        return _batch(inputs, settings, as_json)
    if path.is_dir():
        images = folder_images(path)
        if not images:
            raise UsageProblem(f"{path}: no image files (PNG, JPEG, WebP …) in the folder")
        return _batch([(str(p), partial(read_image_file, p)) for p in images], settings, as_json)
    return _show(run_item(read_input(target), settings), as_json)


def _show(result: Result, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(result.json, ensure_ascii=False) + "\n")
    else:
        result.render()
    return result.code


def _batch(
    inputs: Sequence[tuple[str, Callable[[], ScannedInput]]],
    settings: Settings | None,
    as_json: bool,
) -> int:
    rows: list[tuple[str, Result, ScannedInput]] = []
    with progress_bar(target=err_console, hidden=as_json) as progress:
        task = progress.add_task("scanning", total=len(inputs))
        for label, load in inputs:
            scanned = load()
            rows.append((label, run_item(scanned, settings), scanned))
            progress.advance(task)
    code = worst_code([r.code for _, r, _ in rows])
    if as_json:
        files = [{"input": label, "exit": r.code, "result": r.json} for label, r, _ in rows]
        counts = batch_counts(rows, decoded=settings is None)
        sys.stdout.write(
            json.dumps({"inputs": files, "summary": counts, "exit": code}, ensure_ascii=False)
            + "\n"
        )
        return code
    show_batch(rows, decoded=settings is None)
    return code
