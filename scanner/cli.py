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
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import click
import requests
from rich.console import Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import LedgerError
from ledger.identifiers import container_uri, pack_uri, parse_subject
from ledger.kinds import Kind
from node.console import console, err_console
from scanner.decode import ImageError, decode_image
from scanner.read import ScanData, ScanError, no_pack_error, read_container, read_text, sort_codes
from scanner.verdict import Decision, Reason
from scanner.verify import (
    LocalData,
    NodeClient,
    NodeUnreachable,
    Outcome,
    VerifyError,
    membership_of,
    node_session,
    open_local,
    parse_age,
    undo_target,
    verify_offline,
    verify_online,
    worst,
)

EXIT = {Decision.RELEASE: 0, Decision.HOLD: 1, Decision.REJECT: 2}
SCAN_ERROR = 3
USAGE = 4
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
_STYLE = {Decision.RELEASE: "green", Decision.HOLD: "yellow", Decision.REJECT: "red"}
_ACTIONS = ("dispense", "release", "detain", "undo")


class UsageProblem(Exception):
    """Bad options, unreadable files, a refused token: exit 4."""


# -- inputs -------------------------------------------------------------------------------------


@dataclass
class Item:
    """One input: an image file or a text, and what was read from it."""

    label: str
    packs: list[ScanData] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    error: ScanError | None = None
    decode_s: float = 0.0


def read_item(target: str) -> Item:
    path = Path(target)
    if path.is_file():
        return read_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES and "://" not in target:
        raise UsageProblem(f"{target}: no such image file")
    item = Item("text")
    start = time.perf_counter()
    try:
        item.packs = [read_text(target)]
    except ScanError as exc:
        sscc = read_container(target) if exc.code == "container" else None
        if sscc is not None:
            item.containers = [sscc]
        else:
            item.error = exc
    item.decode_s = time.perf_counter() - start
    return item


def read_file(path: Path) -> Item:
    item = Item(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    start = time.perf_counter()
    try:
        report = decode_image(data)
    except ImageError as exc:
        item.error = ScanError(str(exc), "image")
        item.decode_s = time.perf_counter() - start
        return item
    codes = sort_codes(report.codes)
    item.packs, item.containers = codes.packs, codes.containers
    if not codes.packs and not codes.containers:
        item.error = no_pack_error(codes)
    item.decode_s = time.perf_counter() - start
    return item


def folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# -- verification -------------------------------------------------------------------------------


@dataclass
class Settings:
    node: str | None
    token: str | None
    genesis: str | None
    offline: Path | None
    max_age: timedelta
    in_transit_ok: bool
    custodian: str | None
    then: str | None
    operator_token: str | None
    case_limit: int = 100
    local: LocalData | None = None
    ca: Path | None = None

    def client(self, token: str) -> NodeClient:
        assert self.node is not None
        return NodeClient(self.node, token, session=node_session(self.ca))

    @property
    def online(self) -> bool:
        return self.node is not None

    def verify(self, scan: ScanData) -> Outcome:
        outcome: Outcome | None = None
        if self.node is not None:
            assert self.token is not None
            assert self.genesis is not None
            outcome = verify_online(
                scan,
                self.node,
                self.token,
                membership_pin=self.genesis,
                in_transit_ok=self.in_transit_ok,
                custodian=self.custodian,
                client=self.client(self.token),
            )
            unreachable = any(r.code == "ledger_unreachable" for r in outcome.verdict.reasons)
            if not (unreachable and self.local is not None):
                return outcome
        assert self.local is not None
        return verify_offline(
            scan,
            self.local,
            max_age=self.max_age,
            membership_pin=self.genesis,
            in_transit_ok=self.in_transit_ok,
            custodian=self.custodian,
        )

    def case_packs(self, sscc: str) -> list[str]:
        """The packs inside a case or pallet, as the ledger lists them."""
        if self.node is not None:
            assert self.token is not None
            client = self.client(self.token)
            try:
                return _remote_packs(client, sscc)
            except NodeUnreachable as exc:
                if self.local is None:
                    raise UsageProblem(f"cannot list the case: {exc}") from None
        assert self.local is not None
        pin = self.genesis or self.local.pin
        if not pin:
            raise UsageProblem("the data names no pinned genesis membership: pass --genesis")
        membership, problem, _ = membership_of(self.local.memberships, pin)
        if membership is None:
            assert problem is not None
            raise UsageProblem(f"cannot list the case: {problem.message}")
        try:
            return self.local.container_packs(sscc, membership)
        except VerifyError as exc:
            raise UsageProblem(str(exc)) from None


def _remote_packs(client: NodeClient, sscc: str, depth: int = 0) -> list[str]:
    try:
        answer = client.container(sscc)
    except VerifyError as exc:
        raise UsageProblem(str(exc)) from None
    packs: list[str] = []
    for child in answer.get("children", []):
        if not isinstance(child, str):
            continue
        if "/00/" in child and depth < 4:
            subject = parse_subject(child)
            assert subject.sscc is not None
            packs.extend(_remote_packs(client, subject.sscc, depth + 1))
        elif "/21/" in child:
            packs.append(child)
    return packs


@dataclass
class CaseOutcome:
    sscc: str
    outcomes: list[Outcome]
    total: int = 0  # packs the ledger lists in the case (``outcomes`` may be a sample)

    @property
    def decision(self) -> Decision:
        if not self.outcomes:
            return Decision.HOLD
        return worst(o.decision for o in self.outcomes)

    def reasons(self) -> list[Reason]:
        if not self.outcomes:
            return [Reason("empty_case", "the ledger lists no packs in this case")]
        counts = {d: sum(1 for o in self.outcomes if o.decision is d) for d in Decision}
        summary = ", ".join(f"{n} {d.value}" for d, n in counts.items() if n)
        checked = (
            f"{len(self.outcomes)} pack(s) in the case"
            if self.total <= len(self.outcomes)
            else f"a random sample of {len(self.outcomes)} of the {self.total} packs in the case"
        )
        reasons = [Reason("case", f"{checked}: {summary}")]
        for outcome in self.outcomes:
            if outcome.decision is not Decision.RELEASE:
                codes = ", ".join(r.code for r in outcome.verdict.reasons)
                reasons.append(
                    Reason(
                        outcome.decision.value.lower(),
                        f"pack {outcome.scan.serial}: {outcome.decision.value} ({codes})",
                    )
                )
        return reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.decision.value,
            "container": container_uri(self.sscc),
            "sscc": self.sscc,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons()],
            "packs": [o.to_json() for o in self.outcomes],
            "checked": len(self.outcomes),
            "total": self.total,
            "source": self.outcomes[0].source if self.outcomes else None,
            "freshness": self.outcomes[0].freshness.to_json() if self.outcomes else None,
        }


def verify_case(settings: Settings, sscc: str) -> CaseOutcome:
    """Every pack in the case, or a random sample of ``case_limit`` of them (seeded by the
    SSCC, so the same case always draws the same packs)."""
    packs = settings.case_packs(sscc)
    chosen = packs
    if len(packs) > settings.case_limit:
        chosen = sorted(random.Random(sscc).sample(packs, settings.case_limit))  # noqa: S311
    outcomes = []
    for uri in chosen:
        subject = parse_subject(uri)
        assert subject.gtin is not None
        assert subject.serial is not None
        scan = ScanData(subject.gtin, subject.serial, None, None, "case", uri, None)
        outcomes.append(settings.verify(scan))
    return CaseOutcome(sscc, outcomes, len(packs))


# -- actions ------------------------------------------------------------------------------------


@dataclass
class Action:
    kind: str
    done: bool
    detail: str
    entry: str | None = None
    failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "done": self.done, "entry": self.entry, "detail": self.detail}


def post_action(
    node: str,
    token: str,
    kind: Kind,
    subjects: Sequence[str],
    *,
    refs: Sequence[str] = (),
    body: dict[str, Any] | None = None,
    ca: Path | None = None,
) -> str:
    """Sign a step at the node (operator token); returns the new entry's id."""
    try:
        response = node_session(ca).post(
            f"{node.rstrip('/')}/api/v1/actions/{kind.value}",
            json={"subjects": list(subjects), "refs": list(refs), "body": body or {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except requests.RequestException as exc:
        raise UsageProblem(
            f"{node}: the {kind.value} could not be sent ({type(exc).__name__})"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 201:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        code = answer.get("code") if isinstance(answer, dict) else None
        raise UsageProblem(
            f"the node refused the {kind.value} ({response.status_code}"
            + (f", {code}" if code else "")
            + f"): {detail or response.reason}"
        )
    return str(answer["entry"]["id"])


def act_on_pack(settings: Settings, outcome: Outcome) -> Action:
    then = settings.then
    assert then is not None
    assert settings.node
    assert settings.operator_token
    decision = outcome.decision
    uri = pack_uri(outcome.scan.gtin, outcome.scan.serial)
    if then == "dispense":
        if decision is not Decision.RELEASE:
            return Action(then, False, f"not dispensed: the verdict is {decision.value}")
        entry = post_action(
            settings.node, settings.operator_token, Kind.DISPENSE, [uri], ca=settings.ca
        )
        return Action(then, True, "dispensed", entry)
    if then == "undo":
        target = undo_target(outcome.verdict)
        if target is None:
            return Action(
                then,
                False,
                "nothing to undo: the pack's last step is no dispense, export or sample",
            )
        entry = post_action(
            settings.node, settings.operator_token, Kind.UNDO, [uri], refs=[target], ca=settings.ca
        )
        return Action(then, True, f"undid {target[:16]}…", entry)
    return _inspect(settings, then, decision, uri)


def _inspect(settings: Settings, then: str, decision: Decision, subject: str) -> Action:
    assert settings.node
    assert settings.operator_token
    if then == "release" and decision is Decision.REJECT:
        return Action(then, False, "not released: the verdict is REJECT")
    entry = post_action(
        settings.node,
        settings.operator_token,
        Kind.INSPECT,
        [subject],
        body={"decision": then, "reasons": [f"scanner verdict {decision.value}"]},
        ca=settings.ca,
    )
    return Action(then, True, "released" if then == "release" else "detained", entry)


def act_on_case(settings: Settings, case: CaseOutcome) -> Action:
    then = settings.then
    assert then is not None
    if then not in ("release", "detain"):
        return Action(then, False, f"a case can be released or detained, not {then}ed")
    return _inspect(settings, then, case.decision, container_uri(case.sscc))


# -- output -------------------------------------------------------------------------------------


def verdict_panel(outcome: Outcome) -> Panel:
    v = outcome.verdict
    scan = outcome.scan
    style = _STYLE[v.decision]
    big = Text(f"   {v.decision.value}   ", style=f"bold white on {style}", justify="center")
    head = Text.assemble(
        ("GTIN ", "dim"),
        scan.gtin,
        ("  SN ", "dim"),
        scan.serial,
        ("  LOT ", "dim"),
        scan.lot or "—",
        ("  EXP ", "dim"),
        scan.expiry or "—",
    )
    parts: list[Any] = [big, Text(""), head, Text("")]
    for reason in v.reasons:
        parts.append(Text.assemble(("• ", style), (reason.code, "bold"), "  ", reason.message))
    if v.timeline:
        table = Table("when", "site", "step", "detail", box=None, padding=(0, 1), title="custody")
        for row in _timeline_rows(outcome):
            table.add_row(*row)
        parts.extend([Text(""), table])
    parts.append(Text(""))
    parts.append(Text(_source_line(outcome), style="dim"))
    return Panel(Group(*parts), border_style=style, title="medtrace scan", expand=False)


def _timeline_rows(outcome: Outcome) -> Iterator[tuple[str, str, str, str]]:
    for row in outcome.to_json()["timeline"]:
        yield row["ts"][:19].replace("T", " "), row["feed"], row["kind"], row.get("detail", "")


def _source_line(outcome: Outcome) -> str:
    f = outcome.freshness
    if outcome.source == "online":
        return f"online: {outcome.where}, asked at {f.as_of or '—'}"
    age = "" if f.age_s is None else f", {_age(f.age_s)} old"
    stale = " (STALE)" if f.stale else ""
    return f"offline: {f.source} {outcome.where}, data as of {f.as_of or '—'}{age}{stale}"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def case_panel(case: CaseOutcome) -> Panel:
    style = _STYLE[case.decision]
    big = Text(f"   {case.decision.value}   ", style=f"bold white on {style}", justify="center")
    parts: list[Any] = [big, Text(""), Text(f"case SSCC {case.sscc}"), Text("")]
    for reason in case.reasons():
        parts.append(Text.assemble(("• ", style), (reason.code, "bold"), "  ", reason.message))
    return Panel(Group(*parts), border_style=style, title="medtrace scan (case)", expand=False)


def scan_table(scan: ScanData) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1))
    for name, value in (
        ("GTIN", scan.gtin),
        ("serial", scan.serial),
        ("lot", scan.lot or "—"),
        ("expiry", scan.expiry or "—"),
        ("symbology", scan.symbology),
        ("decoder", scan.decoder or "—"),
        ("raw", scan.raw.replace("\x1d", "<GS>")),
    ):
        table.add_row(Text(name, style="dim"), Text(value))
    for note in scan.notes:
        table.add_row(Text("note", style="yellow"), Text(note))
    return table


def error_json(item: Item) -> dict[str, Any]:
    assert item.error is not None
    return {"input": item.label, "error": {"code": item.error.code, "hint": item.error.hint}}


def decode_json(scan: ScanData) -> dict[str, Any]:
    return {
        "gtin": scan.gtin,
        "serial": scan.serial,
        "lot": scan.lot,
        "expiry": scan.expiry,
        "symbology": scan.symbology,
        "raw": scan.raw,
        "decoder": scan.decoder,
        "recovered": scan.recovered,
        "notes": list(scan.notes),
    }


# -- the command --------------------------------------------------------------------------------


@dataclass
class Result:
    """What one input produced: its exit code and its JSON."""

    code: int
    json: Any
    render: Callable[[], None]


def run_item(item: Item, settings: Settings | None) -> Result:
    if item.error is not None and not item.packs and not item.containers:
        err = item.error

        def show_error() -> None:
            err_console.print(
                Text.assemble(("scan error ", "bold red"), (f"({err.code}) ", "dim"), err.hint)
            )

        return Result(SCAN_ERROR, error_json(item), show_error)
    if settings is None:  # decode only
        if item.containers and not item.packs:
            values = [{"sscc": s, "container": container_uri(s)} for s in item.containers]
        else:
            values = [decode_json(s) for s in item.packs]

        def show_decoded() -> None:
            for scan in item.packs:
                console.print(scan_table(scan))
            for sscc in item.containers:
                console.print(f"case / pallet SSCC {sscc}", highlight=False)

        return Result(0, values[0] if len(values) == 1 else values, show_decoded)
    results: list[Result] = []
    for scan in item.packs:
        outcome = settings.verify(scan)
        action = act_on_pack(settings, outcome) if settings.then else None
        results.append(_pack_result(outcome, action))
    for sscc in item.containers:
        case = verify_case(settings, sscc)
        action = act_on_case(settings, case) if settings.then else None
        results.append(_case_result(case, action))
    if len(results) == 1:
        return results[0]

    def show_all() -> None:
        for result in results:
            result.render()

    code = _batch_code([r.code for r in results])
    return Result(code, [r.json for r in results], show_all)


def _pack_result(outcome: Outcome, action: Action | None) -> Result:
    value = outcome.to_json()
    if action is not None:
        value["action"] = action.to_json()

    def show() -> None:
        console.print(verdict_panel(outcome))
        if action is not None:
            _show_action(action)

    return Result(EXIT[outcome.decision], value, show)


def _case_result(case: CaseOutcome, action: Action | None) -> Result:
    value = case.to_json()
    if action is not None:
        value["action"] = action.to_json()

    def show() -> None:
        console.print(case_panel(case))
        if action is not None:
            _show_action(action)

    return Result(EXIT[case.decision], value, show)


def _show_action(action: Action) -> None:
    if action.done:
        console.print(
            f"[bold green]✓[/] {action.detail}: entry {(action.entry or '')[:16]}…", highlight=False
        )
    else:
        console.print(f"[yellow]-[/] {action.detail}", highlight=False)


def _batch_code(codes: Sequence[int]) -> int:
    for code in (EXIT[Decision.REJECT], EXIT[Decision.HOLD], SCAN_ERROR):
        if code in codes:
            return code
    return 0


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
    ca: Path | None = None,
) -> Settings:
    if node is None and offline is None:
        raise UsageProblem(
            "expected --node URL --token T --genesis ID (online) or --offline DATA, "
            "or --decode-only"
        )
    if node is not None and (not token or not genesis):
        raise UsageProblem("--node needs --token (a verifier token) and --genesis (the pinned id)")
    if then is not None and (node is None or not operator_token):
        raise UsageProblem(f"--then {then} needs --node and --operator-token")
    try:
        age = parse_age(max_age)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    settings = Settings(
        node,
        token,
        genesis,
        offline,
        age,
        customs or then in ("release", "detain"),
        custodian,
        then,
        operator_token,
        ca=ca,
    )
    if offline is not None:
        try:
            settings.local = open_local(offline, pin=genesis)
        except VerifyError as exc:
            raise UsageProblem(str(exc)) from None
    return settings


@click.command("scan")
@click.argument("target", metavar="IMAGE_OR_TEXT")
@click.option("--node", envvar="MEDTRACE_NODE", help="Verify online at this node (base URL).")
@click.option(
    "--token", envvar="MEDTRACE_TOKEN", help="A verifier token of that node (or MEDTRACE_TOKEN)."
)
@click.option(
    "--genesis",
    envvar="MEDTRACE_GENESIS",
    help="The pinned genesis membership id (or MEDTRACE_GENESIS). Offline it defaults to the "
    "data directory's.",
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
    help="Offline data older than this gives HOLD (stale_data): 90s, 30m, 24h, 7d.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the panel.")
@click.option("--decode-only", is_flag=True, help="Only decode and parse; ask no ledger.")
@click.option(
    "--customs",
    is_flag=True,
    help="Customs: a pack in transit is expected (not a reason to hold).",
)
@click.option(
    "--custodian",
    help="Your organisation id: a RELEASE then also needs the ledger to show the pack with you.",
)
@click.option(
    "--then",
    "then",
    type=click.Choice(_ACTIONS),
    help="After the verdict: dispense (RELEASE only), customs release / detain (a pack or a "
    "whole case), or undo the pack's last decommissioning.",
)
@click.option(
    "--case-limit",
    default=100,
    show_default=True,
    type=click.IntRange(1),
    help="A case or pallet with more packs is checked on a random sample of this many.",
)
@click.option(
    "--operator-token",
    envvar="MEDTRACE_OPERATOR_TOKEN",
    help="An operator token of the node, for --then (or MEDTRACE_OPERATOR_TOKEN).",
)
@click.option(
    "--ca",
    envvar="MEDTRACE_CA",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Trust only this CA certificate for an https --node: the consortium's, e.g. "
    "DATA/tls-ca.crt of a node (or MEDTRACE_CA).",
)
def scan_command(
    target: str,
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
    case_limit: int,
    operator_token: str | None,
    ca: Path | None,
) -> None:
    """Read a pack's code (an image file, a folder of images, or the scanned text) and verify
    the pack's provenance itself: RELEASE, HOLD or REJECT with reasons and the custody timeline.

    IMAGE_OR_TEXT is a PNG/JPEG/WebP file, a folder (batch mode), the text a keyboard-wedge
    scanner typed (GS as <GS> or lost; with or without ]d2), a GS1 Digital Link URI, or "-" to
    read one scan per line from standard input.

    \b
    Exit codes: 0 RELEASE, 1 HOLD, 2 REJECT, 3 scan error, 4 usage or I/O error.
    \b
    Examples:
      medtrace scan label.png --decode-only
      medtrace scan label.png --node http://127.0.0.1:8104 --token $T --genesis $G
      medtrace scan label.png --node https://127.0.0.1:8104 --ca nodes/pharmacy/tls-ca.crt \
          --token $T --genesis $G
      medtrace scan '(01)09506000134352(17)281031(10)A2611(21)4TQ2M8ZK1V9C' --offline nodes/pharmacy
      medtrace scan photos/ --offline border.bundle --genesis $G --customs --json
    """
    try:
        settings = (
            None
            if decode_only
            else _settings(
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
            )
        )
        if settings is not None:
            settings.case_limit = case_limit
        try:
            code = _run(target, settings, as_json)
        finally:
            if settings is not None and settings.local is not None:
                settings.local.close()
    except (UsageProblem, VerifyError) as exc:
        if as_json:
            sys.stdout.write(json.dumps({"error": {"code": "usage", "hint": str(exc)}}) + "\n")
        else:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(USAGE)
    except (SQLAlchemyError, LedgerError, OSError) as exc:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if as_json:
            sys.stdout.write(json.dumps({"error": {"code": "io", "hint": message}}) + "\n")
        else:
            err_console.print(f"[bold red]error:[/] {message}", highlight=False)
        sys.exit(USAGE)
    sys.exit(code)


def _run(target: str, settings: Settings | None, as_json: bool) -> int:
    path = Path(target)
    if target == "-":
        lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
        inputs = [(f"line {n}", partial(read_item, line)) for n, line in enumerate(lines, 1)]
        return _batch(inputs, settings, as_json)
    if path.is_dir():
        images = folder_images(path)
        if not images:
            raise UsageProblem(f"{path}: no image files (PNG, JPEG, WebP …) in the folder")
        return _batch([(str(p), partial(read_file, p)) for p in images], settings, as_json)
    result = run_item(read_item(target), settings)
    if as_json:
        sys.stdout.write(json.dumps(result.json, ensure_ascii=False) + "\n")
    else:
        result.render()
    return result.code


def _batch(
    inputs: Sequence[tuple[str, Callable[[], Item]]], settings: Settings | None, as_json: bool
) -> int:
    rows: list[tuple[str, Result, Item]] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task("scanning", total=len(inputs))
        for label, load in inputs:
            item = load()
            rows.append((label, run_item(item, settings), item))
            progress.advance(task)
    code = _batch_code([r.code for _, r, _ in rows])
    if as_json:
        files = [{"input": label, "exit": r.code, "result": r.json} for label, r, _ in rows]
        counts = _counts(rows, decoded=settings is None)
        sys.stdout.write(
            json.dumps({"inputs": files, "summary": counts, "exit": code}, ensure_ascii=False)
            + "\n"
        )
        return code
    table = Table("input", "result", "pack", "reasons", title="medtrace scan: batch")
    for label, result, item in rows:
        table.add_row(Path(label).name, *_summary_cells(result, item))
    console.print(table)
    counts = _counts(rows, decoded=settings is None)
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n), highlight=False)
    return code


def _counts(rows: Sequence[tuple[str, Result, Item]], *, decoded: bool) -> dict[str, int]:
    names = {
        0: "decoded" if decoded else "RELEASE",
        1: "HOLD",
        2: "REJECT",
        SCAN_ERROR: "scan error",
    }
    counts = dict.fromkeys(names.values(), 0)
    for _, result, _ in rows:
        counts[names.get(result.code, "other")] = counts.get(names.get(result.code, "other"), 0) + 1
    return counts


def _summary_cells(result: Result, item: Item) -> tuple[str, str, str]:
    if item.error is not None and not item.packs and not item.containers:
        return "[bold]scan error[/]", "—", f"{item.error.code}: {item.error.hint}"
    values = result.json if isinstance(result.json, list) else [result.json]
    verdicts, packs, reasons = [], [], []
    for value in values:
        if "verdict" in value:
            style = {"RELEASE": "green", "HOLD": "yellow", "REJECT": "red"}[value["verdict"]]
            verdicts.append(f"[bold {style}]{value['verdict']}[/]")
            packs.append(value.get("serial") or f"SSCC {value.get('sscc')}")
            reasons.append(", ".join(r["code"] for r in value["reasons"]))
        else:
            verdicts.append("decoded")
            packs.append(str(value.get("serial") or value.get("sscc")))
            reasons.append(f"{value.get('symbology', '')} {value.get('decoder') or ''}".strip())
    return "\n".join(verdicts), "\n".join(packs), "\n".join(reasons)
