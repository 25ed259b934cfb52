"""Both sources as a scanner is set up to use them: the node online, and the data on this
machine when the node cannot be reached (or instead of a node)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from scanner.outcome import Outcome
from scanner.reading import ScanData
from scanner.sources.checkpoints import checkpoints_online
from scanner.sources.foreign import verified_by_node
from scanner.sources.offline import DEFAULT_MAX_AGE, LocalData, verify_offline
from scanner.sources.online import (
    NodeClient,
    NodeUnreachable,
    container_packs,
    node_session,
    verify_online,
)
from scanner.verifying import VerifyError, membership_of
from scanner.witnessed import hold_unwitnessed, witness


@dataclass
class Sources:
    """Where provenance comes from: ``node`` (with a verifier ``token``), ``local`` data, or
    both; ``genesis`` is the pinned membership id (offline it defaults to the data's)."""

    node: str | None = None
    token: str | None = None
    genesis: str | None = None
    local: LocalData | None = None
    max_age: timedelta = DEFAULT_MAX_AGE
    in_transit_ok: bool = False
    custodian: str | None = None
    ca: Path | None = None

    def client(self) -> NodeClient:
        assert self.node is not None
        assert self.token is not None
        return NodeClient(self.node, self.token, session=node_session(self.ca))

    def verify(self, scan: ScanData) -> Outcome:
        """Online when there is a node; offline when there is none or it cannot be reached;
        then the entries decided on must be in checkpoints that meet the membership's witness
        policy (``scanner.witnessed``)."""
        return self._witnessed(self._verify(scan))

    def _witnessed(self, outcome: Outcome) -> Outcome:
        basis = outcome.basis
        pin = self.genesis or (self.local.pin if self.local is not None else None)
        if basis is None or pin is None:
            return outcome  # nothing verified entry by entry: the verdict says why already
        membership, _, _ = membership_of(list(basis.memberships), pin)
        if membership is None:
            return outcome
        try:
            items = self.proof_checkpoints(outcome)
        except NodeUnreachable:
            items = []  # then nothing is covered: HOLD, saying so
        # A replica is a snapshot: its checkpoints may be as old as it may be (--max-age).
        accept = None if outcome.source == "online" else int(self.max_age.total_seconds())
        found = witness(
            membership, pin, basis.entries, items, int(time.time()), accept_age_s=accept
        )
        outcome.verdict = hold_unwitnessed(outcome.verdict, found)
        outcome.witnessing = found
        outcome.checkpoint_items = tuple(items)
        return outcome

    def _verify(self, scan: ScanData) -> Outcome:
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
                client=self.client(),
            )
            unreachable = any(r.code == "ledger_unreachable" for r in outcome.verdict.reasons)
            if self._foreign(scan, outcome):  # another consortium's pack: the node asks it
                return verified_by_node(self.client(), scan, in_transit_ok=self.in_transit_ok)
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

    def _foreign(self, scan: ScanData, outcome: Outcome) -> bool:
        """Whether the node's membership (verified from the pin) routes the pack to a foreign
        root and the node holds nothing about it (ADR 0028)."""
        if outcome.basis is None or outcome.basis.entries or self.genesis is None:
            return False
        membership, _, _ = membership_of(list(outcome.basis.memberships), self.genesis)
        return membership is not None and membership.foreign_root_for_gtin(scan.gtin) is not None

    def case_packs(self, sscc: str) -> list[str]:
        """The packs inside a case or pallet, as the ledger lists them."""
        if self.node is not None:
            try:
                return container_packs(self.client(), sscc)
            except NodeUnreachable as exc:
                if self.local is None:
                    raise VerifyError(f"cannot list the case: {exc}") from None
        assert self.local is not None
        pin = self.genesis or self.local.pin
        if not pin:
            raise VerifyError("the data names no pinned genesis membership: pass --genesis")
        membership, problem, _ = membership_of(self.local.memberships, pin)
        if membership is None:
            assert problem is not None
            raise VerifyError(f"cannot list the case: {problem.message}")
        return self.local.container_packs(sscc, membership)

    def proof_checkpoints(self, outcome: Outcome) -> list[dict[str, Any]]:
        """The feeds' newest checkpoints with inclusion proofs of the entries ``outcome`` was
        decided on, from where it was decided (a node, or a store; a bundle holds none)."""
        if outcome.basis is None:
            return []
        if outcome.witnessing is not None:  # fetched for the verdict already
            return [dict(item) for item in outcome.checkpoint_items]
        entries = outcome.basis.entries
        if outcome.source == "online":
            return checkpoints_online(self.client(), entries)
        assert self.local is not None
        return self.local.checkpoints(entries)

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
