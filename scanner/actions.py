"""What an operator does after a verdict, signed at the node with an operator token: dispense
a released pack, release or detain a pack or a whole case at customs, or undo a pack's last
decommissioning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from scanner.cases import CaseOutcome
from scanner.outcome import Outcome
from scanner.sources.online import node_session
from scanner.verdict import Decision
from scanner.verifying import undo_target

#: The actions, as ``medtrace scan --then`` names them.
ACTIONS = ("dispense", "release", "detain", "undo")


class ActionRefused(Exception):
    """The node could not be asked to sign the step, or refused it."""


@dataclass
class Action:
    kind: str
    done: bool
    detail: str
    entry: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "done": self.done, "entry": self.entry, "detail": self.detail}


@dataclass(frozen=True)
class Operator:
    """A node's action API with an operator token (``ca``: the consortium's TLS CA)."""

    node: str
    token: str
    ca: Path | None = None

    def organisation(self) -> str:
        """The organisation the node signs for, as its ``/healthz`` names its feed: the one a
        dispense at this node needs to hold the pack."""
        try:
            response = node_session(self.ca).get(f"{self.node.rstrip('/')}/healthz", timeout=10)
            answer = response.json()
        except requests.RequestException:
            raise self._unknown_organisation("its /healthz did not answer") from None
        except ValueError:
            raise self._unknown_organisation("its /healthz answered no JSON") from None
        feed = answer.get("feed") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(feed, str) or "/" not in feed:
            raise self._unknown_organisation(
                f"its /healthz answered {response.status_code} without a feed"
            )
        return feed.split("/", 1)[0]

    def _unknown_organisation(self, detail: str) -> ActionRefused:
        return ActionRefused(
            f"{self.node}: cannot tell which organisation the node signs for ({detail}): "
            "pass --custodian with your organisation id"
        )

    def post(
        self,
        kind: Kind,
        subjects: Sequence[str],
        *,
        refs: Sequence[str] = (),
        body: dict[str, Any] | None = None,
    ) -> str:
        """Sign a step at the node; returns the new entry's id."""
        try:
            response = node_session(self.ca).post(
                f"{self.node.rstrip('/')}/api/v1/actions/{kind.value}",
                json={"subjects": list(subjects), "refs": list(refs), "body": body or {}},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            )
        except requests.RequestException:
            raise ActionRefused(
                f"{self.node}: the {kind.value} could not be sent (the request failed)"
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 201:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            code = answer.get("code") if isinstance(answer, dict) else None
            raise ActionRefused(
                f"the node refused the {kind.value} ({response.status_code}"
                + (f", {code}" if code else "")
                + f"): {detail or response.reason}"
            )
        return str(answer["entry"]["id"])

    def act_on_pack(self, then: str, outcome: Outcome) -> Action:
        decision = outcome.decision
        uri = pack_uri(outcome.scan.gtin, outcome.scan.serial)
        if then == "dispense":
            if decision is not Decision.RELEASE:
                return Action(then, False, f"not dispensed: the verdict is {decision.value}")
            return Action(then, True, "dispensed", self.post(Kind.DISPENSE, [uri]))
        if then == "undo":
            target = undo_target(outcome.verdict)
            if target is None:
                return Action(
                    then,
                    False,
                    "nothing to undo: the pack's last step is no dispense, export or sample",
                )
            entry = self.post(Kind.UNDO, [uri], refs=[target])
            return Action(then, True, f"undid {target[:16]}…", entry)
        return self._inspect(then, decision, uri)

    def act_on_case(self, then: str, case: CaseOutcome) -> Action:
        if then not in ("release", "detain"):
            return Action(then, False, f"a case can be released or detained, not {then}ed")
        return self._inspect(then, case.decision, container_uri(case.sscc))

    def _inspect(self, then: str, decision: Decision, subject: str) -> Action:
        if then == "release" and decision is Decision.REJECT:
            return Action(then, False, "not released: the verdict is REJECT")
        entry = self.post(
            Kind.INSPECT,
            [subject],
            body={"decision": then, "reasons": [f"scanner verdict {decision.value}"]},
        )
        return Action(then, True, "released" if then == "release" else "detained", entry)
