"""``medtrace scan`` of a case, a pallet or a declaration: the whole consignment, every pack.

Online, one request does it: ``POST /api/v1/scan`` with the SSCC (or ``{"declaration"}``) and
``Accept: application/x-ndjson``, so that the node streams its progress (``{"progress":
{"done", "total"}}`` lines) before the answer; the bar shows it on stderr. Offline, the same
check (``scanner.cases``) runs on a node's data directory or store file here. No pack is
sampled and no pack is asked about one by one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from medtrace.cli.console import console, err_console, progress_bar
from medtrace.cli.scan_output import EXIT, STYLE, Result, show_action
from scanner.actions import Action, Operator
from scanner.cases import CaseOutcome, Consignment, ConsignmentCheck, unreachable
from scanner.sources.fallback import Sources
from scanner.sources.online import connection_problem, node_session
from scanner.verifying import VerifyError, membership_of

NDJSON = "application/x-ndjson"
#: Seconds to wait for the next line of a consignment's answer (a chunk of ~5,000 packs).
READ_TIMEOUT_S = 120.0
#: Offending packs drawn in the terminal (all of them are in ``--json``).
SHOWN = 20


@dataclass(frozen=True)
class CaseOptions:
    """How ``medtrace scan`` checks a consignment (``--customs``, ``--declaration``)."""

    customs: bool = False
    declaration: str | None = None
    token: str | None = None  # the operator token when given (it is told the offending serials)
    hidden: bool = False  # no progress bar (``--json``)


@dataclass(frozen=True)
class Asked:
    """What to check: a case's SSCC or a declaration's reference, and how."""

    sscc: str | None
    declaration: str | None
    customs: bool
    token: str | None
    hidden: bool


def check(sources: Sources, options: CaseOptions, sscc: str | None) -> CaseOutcome:
    """The consignment of ``sscc`` (``None``: of ``options.declaration``), online when there is
    a node (offline when it cannot be reached and data is at hand), else offline."""
    declaration = None if sscc is not None else options.declaration
    asked = Asked(sscc, declaration, options.customs, options.token, options.hidden)
    if sources.node is not None:
        outcome = _online(sources, asked)
        findings = outcome.answer.get("findings", [])
        down = any(f.get("code") == "ledger_unreachable" for f in findings)
        if not down or sources.local is None:
            return outcome
    return _offline(sources, asked)


def _body(asked: Asked) -> dict[str, str]:
    if asked.declaration is not None:
        return {"declaration": asked.declaration}
    return {"text": f"(00){asked.sscc}", "context": "border" if asked.customs else "counter"}


def _online(sources: Sources, asked: Asked) -> CaseOutcome:
    assert sources.node is not None
    url = sources.node.rstrip("/") + "/api/v1/scan"
    headers = {"Authorization": f"Bearer {asked.token or sources.token}", "Accept": NDJSON}
    session = node_session(sources.ca)
    try:
        with session.post(
            url, json=_body(asked), headers=headers, stream=True, timeout=(10, READ_TIMEOUT_S)
        ) as response:
            if response.status_code != 200:
                raise VerifyError(_refusal(sources.node, response))
            answer = _follow(_lines(response), asked.hidden)
    except requests.exceptions.SSLError:
        why = f"{sources.node}: its TLS certificate is not trusted here (pass --ca)"
        return unreachable(asked.sscc or "", asked.declaration, why)
    except requests.ConnectionError as exc:
        return unreachable(
            asked.sscc or "", asked.declaration, connection_problem(sources.node, exc)
        )
    except requests.RequestException:
        return unreachable(
            asked.sscc or "", asked.declaration, f"{sources.node}: no answer in time"
        )
    answer["source"] = "online"
    return CaseOutcome(asked.sscc or "", answer)


def _lines(response: requests.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                raise VerifyError("the node's answer is not JSON lines") from None
            if isinstance(value, dict):
                yield value


def _follow(lines: Iterator[dict[str, Any]], hidden: bool) -> dict[str, Any]:
    """Draw the progress lines; the last line is the answer."""
    with progress_bar(target=err_console, hidden=hidden) as bar:
        task = bar.add_task("checking packs", total=None)
        for value in lines:
            progress = value.get("progress")
            if isinstance(progress, dict):
                bar.update(task, completed=progress.get("done"), total=progress.get("total"))
                continue
            if value.get("kind") == "consignment":
                return value
    raise VerifyError("the node's answer ended before the consignment's verdict")


def _refusal(node: str, response: requests.Response) -> str:
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = response.reason or ""
    if response.status_code in (401, 403):
        return f"the node refused the token ({response.status_code} from {node}): {detail}"
    return f"{node} answered {response.status_code}: {detail}"


def _offline(sources: Sources, asked: Asked) -> CaseOutcome:
    local = sources.local
    assert local is not None
    store = local._store  # the data directory's store, opened by open_local
    if store is None:
        raise VerifyError(
            "a bundle holds entries, not a node's projections: check a case or declaration "
            "online, or offline against a node's data directory or store file"
        )
    pin = sources.genesis or local.pin
    membership, problem, _ = membership_of(local.memberships, pin or "")
    if membership is None:
        raise VerifyError(f"cannot check the consignment: {problem.message if problem else '?'}")
    if asked.declaration is not None:
        record = store.declaration(asked.declaration)
        if record is None:
            raise VerifyError(f"no declaration {asked.declaration} is held in {local.path}")
        consignment = Consignment.of_declaration(asked.declaration, record)
    else:
        assert asked.sscc is not None
        consignment = Consignment((asked.sscc,), in_transit_ok=asked.customs)
    today = datetime.now(UTC).date().isoformat()
    checking = ConsignmentCheck(store, consignment, membership=membership, org="", today=today)
    with progress_bar(target=err_console, hidden=asked.hidden) as bar:
        task = bar.add_task("checking packs", total=checking.total)
        for done in checking.run():
            bar.update(task, completed=done)
    assert checking.report is not None
    answer = checking.report.to_json(listed=True)  # the data is on this machine already
    answer["source"] = "offline"
    return CaseOutcome(asked.sscc or "", answer)


def act(then: str | None, operator: Operator | None, case: CaseOutcome) -> Action | None:
    """``--then release`` or ``detain`` on the case scanned (a declaration's packages are
    decided one container at a time)."""
    if then is None or operator is None:
        return None
    if not case.sscc:
        return Action(then, False, "scan each container of the declaration to act on it")
    return operator.act_on_case(then, case)


def result(case: CaseOutcome, action: Action | None) -> Result:
    value = case.to_json()
    if action is not None:
        value["action"] = action.to_json()

    def show() -> None:
        console.print(panel(case))
        if action is not None:
            show_action(action)

    return Result(EXIT[case.decision], value, show)


def panel(case: CaseOutcome) -> Panel:
    a = case.answer
    style = STYLE[case.decision]
    big = Text(f"   {case.decision.value}   ", style=f"bold white on {style}", justify="center")
    what = (
        f"declaration {a['declaration']}: {', '.join(a.get('containers', [])) or 'packs'}"
        if a.get("declaration")
        else f"case / pallet SSCC {case.sscc}"
    )
    parts: list[Any] = [big, Text(""), Text(what, style="bold")]
    parts.append(
        Text(
            f"{a.get('checked', 0):,} of {a.get('total', 0):,} packs checked"
            + (f" in {a['elapsed_ms']:,} ms" if "elapsed_ms" in a else "")
        )
    )
    parts.append(_counts(a))
    for finding in [
        *a.get("findings", []),
        *(a.get("declaration_check") or {}).get("findings", []),
    ]:
        parts.append(
            Text.assemble(("• ", style), (finding["code"], "bold"), "  ", finding["message"])
        )
    for part in (_reasons(a), _products(a), _offending(a)):
        if part is not None:
            parts.append(part)
    return Panel(
        Group(*parts), border_style=style, title="medtrace scan (consignment)", expand=False
    )


def _counts(a: dict[str, Any]) -> Text:
    counts = a.get("counts", {})
    return Text.assemble(
        *(
            (f"{counts.get(d.value, 0):,} {d.value}   ", STYLE[d])
            for d in sorted(STYLE, key=lambda d: list(EXIT).index(d))
        )
    )


def _reasons(a: dict[str, Any]) -> Table | None:
    reasons = {c: n for c, n in a.get("reasons", {}).items() if c != "authentic"}
    if not reasons:
        return None
    table = Table("reason", "packs", box=None, padding=(0, 1), title="reasons")
    for code, count in reasons.items():
        table.add_row(code, f"{count:,}")
    return table


def _products(a: dict[str, Any]) -> Table | None:
    if not a.get("products"):
        return None
    table = Table("GTIN", "product", "packs", box=None, padding=(0, 1), title="products")
    for row in a["products"]:
        name = (
            f"{row.get('name')} ({row.get('commonName')}), {row.get('strength')}"
            if row.get("registered")
            else Text("no registered product", style="yellow")
        )
        table.add_row(row["gtin"], name, f"{row['count']:,}")
    return table


def _offending(a: dict[str, Any]) -> Table | Text | None:
    more = a.get("offending_more", 0)
    if not a.get("listed", True) and more:
        return Text(f"{more:,} offending pack(s), not named to this token", style="dim")
    shown: list[dict[str, Any]] = a.get("offending", [])[:SHOWN]
    if not shown:
        return None
    table = Table(
        "verdict", "GTIN", "serial", "reasons", box=None, padding=(0, 1), title="offending packs"
    )
    for row in shown:
        decision = row["verdict"]
        table.add_row(
            Text(decision, style=STYLE[next(d for d in STYLE if d.value == decision)]),
            row["gtin"],
            row["serial"],
            ", ".join(r["code"] for r in row["reasons"]),
        )
    rest = len(a.get("offending", [])) - len(shown) + more
    if rest > 0:
        table.caption = f"… and {rest:,} more (--json lists up to 100)"
    return table


def declaration_result(
    sources: Sources, options: CaseOptions, then: str | None, operator: Operator | None
) -> Result:
    """``medtrace scan --declaration REF``: every pack of the declaration's packages."""
    case = check(sources, options, None)
    return result(case, act(then, operator, case))


__all__ = ["CaseOptions", "act", "check", "declaration_result", "panel", "result"]
