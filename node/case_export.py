"""Building a case file's content on the node that exports it (ADR 0029, docs/spec/cases.md).

A case is about one alert this node holds, or one declaration: its alerts, the entries that
prove them (each pack's provenance as a verifier is shown it: that pack's leaves only, never a
sidecar), the declaration's ``declare``, ``decide`` and ``outcome`` entries, the opening of the
declaration's seal when this node holds it (the customs post that took it), every membership
version, and for each feed the newest checkpoint meeting the witness policy with an inclusion
proof of each entry. ``NodeService.sign_case`` adds the exporter and the signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ledger import cases
from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError, LedgerError
from ledger.feedlog import InclusionProof
from ledger.identifiers import SubjectType, parse_subject
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.openings import Sidecar, open_sidecar
from ledger.sealed import SEALED
from ledger.timefmt import format_ts
from ledger.witness import verify_witnessed_checkpoint, witness_verifiers
from node.store import Store

_CHECKS = (Code.CHECK_REJECTED.value, Code.CHECK_HELD.value)


class CaseNotFound(Exception):
    """No such alert or declaration at this node."""


class CaseNotReady(Exception):
    """The case cannot be proved now: an entry no witnessed checkpoint covers yet (try again
    after the witnesses' next round), or evidence that would name other packs."""


def _declaration_of(entry: SignedEntry) -> str | None:
    ref = entry.payload.body.get("declaration")
    if isinstance(ref, dict):
        ref = ref.get("reference")
    return ref if isinstance(ref, str) else None


def _packs(alerts: Iterable[Alert]) -> list[str]:
    found: list[str] = []
    for alert in alerts:
        try:
            if parse_subject(alert.subject).type is SubjectType.PACK:
                found.append(alert.subject)
        except IdentifierError:
            continue
    return sorted(set(found))


def _shown(entry: SignedEntry, packs: Sequence[str]) -> SignedEntry:
    """``entry`` as the case may carry it: a commitment with the case's packs' leaves only."""
    p = entry.payload
    if p.commits:
        if not isinstance(entry.opening, Sidecar):
            return entry.with_opening(None)
        tree = open_sidecar(p.kind, p.subjects, p.body, p.v, entry.opening)
        wanted = (
            [parse_subject(u).serial or u for u in packs] if p.kind is Kind.COMMISSION else packs
        )
        return entry.with_opening(tree.disclose(wanted) or None, check=False)
    named = [s for s in p.subjects if _is_pack(s)]
    if any(s not in packs for s in named):
        raise CaseNotReady(
            f"entry {entry.id[:16]}… ({p.feed} #{p.seq}) lists packs beyond the case's: it "
            "cannot be carried without naming them"
        )
    return entry.with_opening(None)


def _is_pack(uri: str) -> bool:
    try:
        return parse_subject(uri).type is SubjectType.PACK
    except IdentifierError:
        return False


class _Builder:
    def __init__(self, store: Store, membership: Membership, genesis: str, org: str) -> None:
        self.store, self.membership, self.genesis, self.org = store, membership, genesis, org
        self.alerts: dict[str, Alert] = {}
        self.entries: dict[str, SignedEntry] = {}
        self.declarations: dict[str, dict[str, Any]] = {}

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.alerts[alert.id] = alert
        packs = _packs(self.alerts.values())
        for uri in packs:
            for entry in self.store.pack_provenance(uri).entries:
                self.entries.setdefault(entry.id, entry)
        wanted = [e for a in self.alerts.values() for e in a.evidence if e not in self.entries]
        for entry in self.store.entries_by_id(sorted(set(wanted))):
            self.entries[entry.id] = _shown(entry, packs)
        for alert in self.alerts.values():
            trigger = self.entries.get(alert.evidence[-1]) if alert.evidence else None
            ref = _declaration_of(trigger) if trigger is not None else None
            if ref is not None and trigger is not None and trigger.payload.kind is Kind.CHECK:
                self.add_declaration(ref, trigger.payload.refs)

    def add_declaration(self, reference: str, refs: Sequence[str] = ()) -> None:
        record = self.store.declaration(reference, self.org)
        if record is None or (refs and record.entry_id not in refs):
            return  # the check named a declaration this node does not hold (or another's)
        org = record.feed.split("/", 1)[0]
        ids = [record.entry_id]
        for kind in (Kind.DECIDE.value, Kind.OUTCOME.value):
            ids += [v.entry_id for v in self.store.record_history(kind, f"{org}/{reference}")]
        packs = _packs(self.alerts.values())
        for entry in self.store.entries_by_id([i for i in ids if i not in self.entries]):
            self.entries[entry.id] = _shown(entry, packs)
        opening = self.store.opening(str(record.data.get(SEALED, {}).get("digest", "")))
        if opening is not None:
            self.declarations[record.entry_id] = {"entry": record.entry_id, **opening.to_json()}

    def checkpoints(self, now: int) -> list[dict[str, Any]]:
        quorum = self.membership.witnesses().quorum
        feeds: dict[str, list[SignedEntry]] = {}
        for entry in self.entries.values():
            feeds.setdefault(entry.payload.feed, []).append(entry)
        found = []
        for feed, held in sorted(feeds.items()):
            if len(set(witness_verifiers(self.membership, self.genesis, feed).values())) < quorum:
                continue  # the policy can never witness it (docs/spec/proofs.md)
            stored = self.store.checkpoint(feed, cosigners=quorum)
            newest = max(e.payload.seq for e in held)
            if stored is None or stored.size <= newest:
                raise CaseNotReady(
                    f"no checkpoint of {feed} the witnesses cosigned covers its entry #{newest} "
                    "yet: export again after their next round (a few seconds)"
                )
            tree = self.store.feed_tree(feed)
            proofs = [
                {**tree.inclusion(e.payload.seq, stored.size).to_json(), "entry": e.id}
                for e in sorted(held, key=lambda e: e.payload.seq)
            ]
            included = [
                (e, InclusionProof.from_json(p))
                for e, p in zip(sorted(held, key=lambda e: e.payload.seq), proofs, strict=True)
            ]
            try:
                verify_witnessed_checkpoint(
                    self.membership, self.genesis, stored.note, now, included
                )
            except LedgerError as exc:
                raise CaseNotReady(
                    f"the checkpoint of {feed} does not prove the case: {exc}"
                ) from None
            found.append({"feed": feed, "note": stored.note.decode(), "proofs": proofs})
        return found


def build_case(
    store: Store,
    membership: Membership,
    genesis: str,
    org: str,
    *,
    alert: str | None = None,
    declaration: str | None = None,
    photos: Sequence[dict[str, Any]] = (),
    now: datetime,
) -> dict[str, Any]:
    """The content of a case about ``alert`` (an alert id held here) or ``declaration`` (a
    reference held here), unsigned: ``NodeService.sign_case`` signs it."""
    builder = _Builder(store, membership, genesis, org)
    if alert is not None:
        held = [a for a in store.alerts() if a.id == alert]
        if not held:
            raise CaseNotFound(f"no alert {alert[:64]} at this node")
        builder.add_alerts(held)
        subject = {"alert": alert}
    else:
        assert declaration is not None
        record = store.declaration(declaration, org)
        if record is None:
            raise CaseNotFound(f"no declaration {declaration} at this node")
        checks = [a for code in _CHECKS for a in store.alerts(code=code)]
        triggers = {e.id: e for e in store.entries_by_id({a.evidence[-1] for a in checks})}
        builder.add_alerts(
            a
            for a in checks
            if a.evidence[-1] in triggers
            and _declaration_of(triggers[a.evidence[-1]]) == declaration
            and record.entry_id in triggers[a.evidence[-1]].payload.refs
        )
        builder.add_declaration(declaration)
        subject = {"declaration": declaration}
    entries = sorted(builder.entries.values(), key=lambda e: e.payload.order_key)
    return {
        "format": cases.FORMAT,
        "genesis": genesis,
        "consortium": membership.consortium,
        "exported_at": format_ts(now),
        "subject": subject,
        "alerts": [cases.alert_json(a) for a in builder.alerts.values()],
        "entries": [e.to_wire() for e in entries],
        "memberships": [m.to_wire() for m in store.memberships()],
        "checkpoints": builder.checkpoints(int(now.timestamp())),
        "declarations": list(builder.declarations.values()),
        "photos": list(photos),
    }


__all__ = ["CaseNotFound", "CaseNotReady", "build_case"]
