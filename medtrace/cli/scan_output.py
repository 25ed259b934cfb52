"""What ``medtrace scan`` shows: the verdict panel with reasons and custody timeline, a case's
panel, the decoded fields, and the table and counts of a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ledger.identifiers import container_uri
from medtrace.cli.console import console, err_console
from scanner.actions import Action
from scanner.cases import CaseOutcome
from scanner.outcome import Outcome
from scanner.reading import ScanData
from scanner.reading.inputs import ScannedInput
from scanner.verdict import Decision
from scanner.witnessed import Witnessing

EXIT = {Decision.RELEASE: 0, Decision.HOLD: 1, Decision.REJECT: 2}
SCAN_ERROR = 3
STYLE = {Decision.RELEASE: "green", Decision.HOLD: "yellow", Decision.REJECT: "red"}


def verdict_panel(outcome: Outcome) -> Panel:
    v = outcome.verdict
    scan = outcome.scan
    style = STYLE[v.decision]
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
    parts: list[Any] = [big, Text(""), head]
    if v.product is not None:
        parts.append(Text.assemble(("PRODUCT ", "dim"), (v.product.label(), "bold")))
        parts.append(Text(f"registered by {v.product.owner}", style="dim"))
    parts.append(Text(""))
    for reason in v.reasons:
        parts.append(Text.assemble(("• ", style), (reason.code, "bold"), "  ", reason.message))
    for warning in v.warnings:
        parts.append(
            Text.assemble(("⚠ ", "yellow"), (warning.code, "bold yellow"), "  ", warning.message)
        )
    if v.timeline:
        table = Table("when", "site", "step", "detail", box=None, padding=(0, 1), title="custody")
        for row in _timeline_rows(outcome):
            table.add_row(*row)
        parts.extend([Text(""), table])
    parts.append(Text(""))
    parts.append(Text(_source_line(outcome), style="dim"))
    if outcome.witnessing is not None:
        parts.append(Text(_checkpoint_line(outcome.witnessing), style="dim"))
    if outcome.foreign is not None:
        parts.append(Text(_foreign_line(outcome.foreign), style="dim"))
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


def _foreign_line(foreign: Mapping[str, Any]) -> str:
    """Which country's ledger answered a foreign root's pack, verified by the node."""
    by = foreign.get("answered_by") or {}
    age = foreign.get("checkpoint_age_s")
    cosigned = "" if not isinstance(age, int) else f", its checkpoint cosigned {_age(age)} ago"
    return (
        f"ledger of {foreign.get('ledger_country', '?')}: {by.get('consortium', '?')} at "
        f"{by.get('url', '?')}, verified by the node{cosigned}"
    )


def _checkpoint_line(found: Witnessing) -> str:
    """How old the newest cosigned checkpoint behind the verdict is, under which policy."""
    policy = f"policy: {found.quorum} witness(es), at most {_age(found.max_age_s)} old"
    age = found.newest_age_s
    if age is None:
        return f"checkpoints: none cosigned covers this history ({policy})"
    feeds = len(found.witnessed)
    return (
        f"checkpoints: newest cosigned {_age(age)} ago, {feeds} feed{'s' if feeds != 1 else ''} "
        f"({policy})"
    )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def case_panel(case: CaseOutcome) -> Panel:
    style = STYLE[case.decision]
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


def error_json(scanned: ScannedInput) -> dict[str, Any]:
    assert scanned.error is not None
    error = scanned.error
    return {"input": scanned.label, "error": {"code": error.code, "hint": error.hint}}


@dataclass
class Result:
    """What one input produced: its exit code and its JSON."""

    code: int
    json: Any
    render: Callable[[], None]


def show_action(action: Action) -> None:
    if action.done:
        console.print(
            f"[bold green]✓[/] {action.detail}: entry {(action.entry or '')[:16]}…", highlight=False
        )
    else:
        console.print(f"[yellow]-[/] {action.detail}", highlight=False)


def error_result(scanned: ScannedInput) -> Result:
    error = scanned.error
    assert error is not None

    def show() -> None:
        err_console.print(
            Text.assemble(("scan error ", "bold red"), (f"({error.code}) ", "dim"), error.hint)
        )

    return Result(SCAN_ERROR, error_json(scanned), show)


def decoded_result(scanned: ScannedInput) -> Result:
    """What the code says (``--decode-only``): the pack's fields, or the SSCC of a case."""
    if scanned.containers and not scanned.packs:
        values = [{"sscc": s, "container": container_uri(s)} for s in scanned.containers]
    else:
        values = [scan.to_json() for scan in scanned.packs]

    def show() -> None:
        for scan in scanned.packs:
            console.print(scan_table(scan))
        for sscc in scanned.containers:
            console.print(f"case / pallet SSCC {sscc}", highlight=False)

    return Result(0, values[0] if len(values) == 1 else values, show)


def pack_result(outcome: Outcome, action: Action | None) -> Result:
    return _verdict_result(
        outcome.to_json(), outcome.decision, partial(verdict_panel, outcome), action
    )


def case_result(case: CaseOutcome, action: Action | None) -> Result:
    return _verdict_result(case.to_json(), case.decision, partial(case_panel, case), action)


def _verdict_result(
    value: dict[str, Any], decision: Decision, panel: Callable[[], Panel], action: Action | None
) -> Result:
    if action is not None:
        value["action"] = action.to_json()

    def show() -> None:
        console.print(panel())
        if action is not None:
            show_action(action)

    return Result(EXIT[decision], value, show)


def results_together(results: Sequence[Result]) -> Result:
    """Several codes in one input (an image with more than one pack or case)."""

    def show() -> None:
        for result in results:
            result.render()

    return Result(worst_code([r.code for r in results]), [r.json for r in results], show)


def worst_code(codes: Sequence[int]) -> int:
    """REJECT over HOLD over a scan error over RELEASE."""
    for code in (EXIT[Decision.REJECT], EXIT[Decision.HOLD], SCAN_ERROR):
        if code in codes:
            return code
    return 0


def batch_counts(
    rows: Sequence[tuple[str, Result, ScannedInput]], *, decoded: bool
) -> dict[str, int]:
    """How many inputs ended in each verdict (or were decoded, or were a scan error)."""
    names = {
        0: "decoded" if decoded else "RELEASE",
        1: "HOLD",
        2: "REJECT",
        SCAN_ERROR: "scan error",
    }
    counts = dict.fromkeys(names.values(), 0)
    for _, result, _ in rows:
        name = names.get(result.code, "other")
        counts[name] = counts.get(name, 0) + 1
    return counts


def show_batch(rows: Sequence[tuple[str, Result, ScannedInput]], *, decoded: bool) -> None:
    """One line per input, then the counts."""
    table = Table("input", "result", "pack", "reasons", title="medtrace scan: batch")
    for label, result, scanned in rows:
        table.add_row(Path(label).name, *_summary_cells(result, scanned))
    console.print(table)
    counts = batch_counts(rows, decoded=decoded)
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n), highlight=False)


def _summary_cells(result: Result, scanned: ScannedInput) -> tuple[str, str, str]:
    if scanned.unreadable:
        assert scanned.error is not None
        return "[bold]scan error[/]", "—", f"{scanned.error.code}: {scanned.error.hint}"
    values = result.json if isinstance(result.json, list) else [result.json]
    verdicts, packs, reasons = [], [], []
    for value in values:
        if "verdict" in value:
            style = STYLE[Decision(value["verdict"])]
            verdicts.append(f"[bold {style}]{value['verdict']}[/]")
            packs.append(value.get("serial") or f"SSCC {value.get('sscc')}")
            codes = [r["code"] for r in value["reasons"]]
            codes += [f"⚠ {w['code']}" for w in value.get("warnings", [])]
            reasons.append(", ".join(codes))
        else:
            verdicts.append("decoded")
            packs.append(str(value.get("serial") or value.get("sscc")))
            reasons.append(f"{value.get('symbology', '')} {value.get('decoder') or ''}".strip())
    return "\n".join(verdicts), "\n".join(packs), "\n".join(reasons)
