"""A demo actor that is a node process, driven over its HTTP API like any client would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from ledger.action import Action
from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import KindNotAllowed, LedgerError, RuleViolation
from ledger.kinds import Role
from node.replication.protocol import FEEDS_PATH, SYNC_PATH
from node.service import Commissioned


class NodeCallFailed(Exception):
    """A node answered with an error the demo did not expect."""


@dataclass
class HttpNode:
    name: str
    role: Role
    feed: str
    url: str
    operator_token: str
    verifier_token: str
    session: requests.Session = field(default_factory=requests.Session)
    timeout: float = 120.0

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
        """``method path`` with the operator's token (or ``token``); the JSON answer. A problem
        answer raises ``RuleViolation`` for a rule the ledger names, else ``NodeCallFailed``."""
        return self._call(method, path, token=token, body=body)

    def _call(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
        response = self.session.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token or self.operator_token}"},
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            problem = _problem(response)
            detail = str(problem.get("detail") or problem.get("title") or response.reason)
            code = problem.get("code")
            if isinstance(code, str) and response.status_code in (409, 422):
                known = {c.value for c in Code}
                if code in known:
                    raise RuleViolation(Code(code), detail)
            if response.status_code == 403 and code in ("kind_not_allowed", None):
                raise KindNotAllowed(detail)
            raise NodeCallFailed(f"{self.name}: {method} {path} → {response.status_code}: {detail}")
        return response.json()

    def submit(self, action: Action) -> SignedEntry:
        answer = self._call(
            "POST",
            f"/api/v1/actions/{action.kind.value}",
            body={
                "subjects": list(action.subjects),
                "refs": list(action.refs),
                "body": dict(action.body or {}),
            },
        )
        return SignedEntry.from_wire(answer["entry"])

    def commission(self, gtin: str, lot: str, expiry: str, count: int) -> Commissioned:
        answer = self._call(
            "POST",
            "/api/v1/commission",
            body={"gtin": gtin, "lot": lot, "expiry": expiry, "count": count},
        )
        return Commissioned(gtin, lot, expiry, list(answer["serials"]), [])

    def provenance(self, uri: str) -> list[SignedEntry]:
        gtin, serial = uri.removeprefix("https://id.gs1.org/01/").split("/21/", 1)
        response = self.session.get(
            f"{self.url}/api/v1/packs/{gtin}/{serial}/provenance",
            headers={"Authorization": f"Bearer {self.verifier_token}"},
            timeout=self.timeout,
        )
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise NodeCallFailed(f"{self.name}: provenance of {uri} → {response.status_code}")
        entries = []
        for wire in response.json()["entries"]:
            try:
                entries.append(SignedEntry.from_wire(wire))
            except LedgerError:
                continue  # malformed bytes are simply not provenance; the verdict sees what remains
        return entries

    def alerts(self) -> list[Alert]:
        answer = self._call("GET", "/api/v1/alerts")
        return [
            Alert(Code(a["code"]), a["subject"], a["message"], tuple(a["evidence"]))
            for a in answer["alerts"]
            if a["code"] in Code.__members__.values()
        ]

    def digest(self) -> str:
        return str(self._call("GET", FEEDS_PATH)["digest"])

    def sync(self) -> int:
        return int(self._call("POST", SYNC_PATH)["added"])


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
