"""``medtrace scan --node`` reports its failed verdicts to the node (ADR 0022).

The CLI decides a verdict itself (it trusts no node), so the node never learns of a REJECT or
an evidence HOLD unless told: every such online verdict is sent to ``POST /api/v1/checks``
with the scan's own token, where it becomes a signed ``check`` entry and an alert on every
node. Only bounded fields go (verdict, reason codes, context, printed lot and expiry). A scan
error, a HOLD for a network or checkpoint problem, and a RELEASE send nothing
(``api.failed_checks.evidence_reasons``). ``--no-report`` sends nothing at all.

An offline scan (``--offline``, or the fallback when the node cannot be reached) cannot
report: there is no node to tell, and it keeps nothing to send later. Verify online, or scan
the pack again when the node is back, for its alert to be raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from rich.markup import escape

from api.failed_checks import evidence_reasons
from medtrace.cli.console import err_console
from scanner.outcome import Outcome
from scanner.sources.fallback import Sources
from scanner.sources.online import node_session

TIMEOUT_S = 10.0


@dataclass
class Reporter:
    """Sends the failed verdicts of one ``medtrace scan`` run to its node."""

    sources: Sources

    def report(self, outcome: Outcome) -> bool:
        """Send ``outcome`` if it is a failed check made online; True when the node took it."""
        node, token = self.sources.node, self.sources.token
        if outcome.source != "online" or node is None or token is None:
            return False
        verdict = outcome.decision.value
        codes = evidence_reasons(verdict, [r.code for r in outcome.verdict.reasons])
        if not codes or outcome.verdict.pack is None:
            return False
        body: dict[str, object] = {
            "packs": [outcome.verdict.pack],
            "verdict": verdict,
            "reasons": codes,
            "context": "border" if self.sources.in_transit_ok else "counter",
        }
        printed = {"lot": outcome.scan.lot, "expiry": outcome.scan.expiry}
        body |= {k: v for k, v in printed.items() if v is not None and len(v) <= 20}
        try:
            with node_session(self.sources.ca) as session:  # failed verdicts are rare: no pool
                answer = session.post(
                    f"{node.rstrip('/')}/api/v1/checks",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=TIMEOUT_S,
                )
        except requests.RequestException as exc:
            _warn(node, type(exc).__name__)
            return False
        if answer.status_code != 201:
            _warn(node, f"it answered {answer.status_code}")
            return False
        return True


def _warn(node: str, why: str) -> None:
    err_console.print(
        f"[yellow]warning:[/] the failed check was not reported to {escape(node)} ({why}); its alert "
        "is raised when the pack is scanned again online"
    )
