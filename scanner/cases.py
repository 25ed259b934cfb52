"""A whole consignment (cases, pallets, a declaration's packages) judged pack by pack on a
node's own, already verified store: every pack, never a sample.

A node verified every entry it stores (``Store.ingest``), so its projected pack states are
the fold a scanner would compute; a consignment of 100,000 packs is therefore judged on those
states, read in bulk (``Store.consignment``, node/store/consignment.py), by the same rules as
one scanned pack (``scanner.verdict.judge``). The consignment is **REJECT** if any pack is
REJECT; **HOLD** if any pack is HOLD, a GTIN has no registered product
(``unregistered_product``), a container is unknown or holds no pack, or the declaration
disagrees with the ledger; **RELEASE** only when every pack was judged and passed.

Used by the node (``POST /api/v1/scan``, api/consignment.py) and by ``medtrace scan --offline``
on a data directory (medtrace/cli/scan_consignment.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from ledger.alerts import Alert
from ledger.identifiers import container_uri, gtin14
from ledger.membership import Membership
from ledger.state import PackState
from ledger.status import Status
from node.store import Store, StoredRecord
from scanner.verdict import Decision, Product, Reason, Scanned, judge

#: Offending packs listed in an answer; the rest are counted (``offending_more``).
OFFENDING_LIMIT = 100
_DECISIONS = tuple(Decision)


class _Container(Protocol):
    @property
    def uri(self) -> str: ...
    @property
    def custodian(self) -> str: ...
    @property
    def destination(self) -> str | None: ...


class _Pack(Protocol):
    @property
    def state(self) -> PackState: ...
    @property
    def recalled(self) -> bool: ...
    @property
    def withdrawn(self) -> bool: ...
    @property
    def commissioner(self) -> str: ...
    @property
    def alerts(self) -> list[Alert]: ...


@dataclass(frozen=True)
class Consignment:
    """What to check: containers (SSCCs, nested ones come along), loose packs (GTIN-14,
    serial), and the declaration that named them, if any."""

    containers: tuple[str, ...] = ()
    packs: tuple[tuple[str, str], ...] = ()
    in_transit_ok: bool = True
    declaration: StoredRecord | None = None
    reference: str | None = None

    @classmethod
    def of_declaration(cls, reference: str, record: StoredRecord) -> Consignment:
        """The packages a declaration names (``StoredRecord.about``): at the border."""
        containers: list[str] = []
        packs: list[tuple[str, str]] = []
        for uri in record.about:
            tail = uri.split("/00/", 1)
            if len(tail) == 2 and "/" not in tail[1]:
                containers.append(tail[1])
            elif "/01/" in uri and "/21/" in uri:
                gtin, serial = uri.split("/01/", 1)[1].split("/21/", 1)
                packs.append((gtin, unquote(serial)))
        return cls(tuple(containers), tuple(packs), True, record, reference)


@dataclass
class Offending:
    pack: str
    gtin: str
    serial: str
    decision: Decision
    reasons: list[Reason]

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "gtin": self.gtin,
            "serial": self.serial,
            "verdict": self.decision.value,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
        }


@dataclass
class Tally:
    """What the packs judged so far add up to (no pack kept unless it offends, and then only
    the first ``OFFENDING_LIMIT`` of each verdict)."""

    checked: int = 0
    counts: Counter[Decision] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    gtins: Counter[str] = field(default_factory=Counter)
    custodians: Counter[str] = field(default_factory=Counter)  # organisation ids
    statuses: Counter[str] = field(default_factory=Counter)
    destinations: Counter[str] = field(default_factory=Counter)  # of the packs in transit
    offending: dict[Decision, list[Offending]] = field(default_factory=dict)
    offending_uris: list[str] = field(default_factory=list)  # every one, for the alert

    def add(self, pack: _Pack, *, today: str, in_transit_ok: bool) -> None:
        state = pack.state
        verdict = judge(
            Scanned(state.gtin, state.serial),
            state,
            today=today,
            recalled=pack.recalled,
            withdrawn=pack.withdrawn,
            alerts=pack.alerts,
            in_transit_ok=in_transit_ok,
            commissioner=pack.commissioner,
        )
        decision = verdict.decision
        self.checked += 1
        self.counts[decision] += 1
        reasons = self.reasons
        for reason in verdict.reasons:
            reasons[reason.code] += 1
        self.gtins[state.gtin] += 1
        self.custodians[state.custodian.partition("/")[0]] += 1
        self.statuses[state.status] += 1
        if state.status is Status.IN_TRANSIT:
            self.destinations[state.destination or "?"] += 1
        if decision is not Decision.RELEASE:
            self.offending_uris.append(state.uri)
            kept = self.offending.setdefault(decision, [])
            if len(kept) < OFFENDING_LIMIT:
                kept.append(
                    Offending(state.uri, state.gtin, state.serial, decision, verdict.reasons)
                )


@dataclass
class ConsignmentReport:
    """The answer: the consignment's verdict and why, what was checked, what offends."""

    consignment: Consignment
    tally: Tally
    total: int
    unknown: list[str]  # SSCCs not held here
    products: dict[str, StoredRecord]
    findings: list[Reason]  # consignment-level reasons (not any one pack's)
    declaration_findings: list[Reason] | None
    elapsed_ms: int

    @property
    def decision(self) -> Decision:
        counts = self.tally.counts
        if counts[Decision.REJECT]:
            return Decision.REJECT
        if counts[Decision.HOLD] or self.findings or self.declaration_findings:
            return Decision.HOLD
        if self.tally.checked == 0 or self.tally.checked < self.total:
            return Decision.HOLD  # never RELEASE without checking every pack
        return Decision.RELEASE

    def failed_codes(self) -> list[str]:
        """The reason codes behind a verdict that is not RELEASE, most frequent first."""
        codes = [c for c, _ in self.tally.reasons.most_common() if c != "authentic"]
        codes += [r.code for r in self.findings]
        codes += [r.code for r in self.declaration_findings or ()]
        return list(dict.fromkeys(codes))

    def to_json(self, *, listed: bool) -> dict[str, Any]:
        """``listed``: the offending packs are named (serials); otherwise counts only."""
        tally = self.tally
        offending = [
            o for d in (Decision.REJECT, Decision.HOLD) for o in tally.offending.get(d, [])
        ]
        offending = offending[:OFFENDING_LIMIT]
        bad = tally.counts[Decision.REJECT] + tally.counts[Decision.HOLD]
        shown = [o.to_json() for o in offending] if listed else []
        c = self.consignment
        answer: dict[str, Any] = {
            "kind": "consignment",
            "verdict": self.decision.value,
            "containers": list(c.containers),
            "declaration": c.reference,
            "checked": tally.checked,
            "total": self.total,
            "counts": {d.value: tally.counts[d] for d in _DECISIONS},
            "reasons": dict(sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "findings": [{"code": r.code, "message": r.message} for r in self.findings],
            "listed": listed,
            "offending": shown,
            "offending_more": bad - len(shown),
            "products": self._products_json(),
            "unknown_containers": [container_uri(s) for s in self.unknown],
            "elapsed_ms": self.elapsed_ms,
        }
        if self.declaration_findings is not None:
            answer["declaration_check"] = {
                "agrees": not self.declaration_findings,
                "findings": [
                    {"code": r.code, "message": r.message} for r in self.declaration_findings
                ],
            }
        return answer

    def _products_json(self) -> list[dict[str, Any]]:
        rows = []
        for gtin, count in sorted(self.tally.gtins.items()):
            record = self.products.get(gtin)
            if record is None:
                rows.append({"gtin": gtin, "registered": False, "count": count})
                continue
            product = Product.of_record(record.data, record.entry_id, record.feed, record.ts)
            rows.append({**product.to_json(), "registered": True, "count": count})
        return rows


class ConsignmentCheck:
    """One consignment checked on ``store``: ``plan`` reads the containers and counts the
    packs (before an answer starts: an unknown SSCC is known then), ``run`` reads and judges
    them chunk by chunk, yielding how many are done, and leaves ``report``."""

    def __init__(
        self,
        store: Store,
        consignment: Consignment,
        *,
        membership: Membership,
        org: str,
        today: str,
    ) -> None:
        self.store = store
        self.consignment = consignment
        self.membership = membership
        self.org = org
        self.today = today
        self.started = time.monotonic()
        self.report: ConsignmentReport | None = None
        roots = [container_uri(s) for s in consignment.containers]
        with store.consignment() as reads:
            held: Mapping[str, _Container] = reads.containers(roots)
            self.counts = reads.pack_counts(held)
            loose_held = reads.loose_count(consignment.packs)
        #: (custodian feed, destination) of each container named that is held here
        self.holders = [(held[u].custodian, held[u].destination) for u in roots if u in held]
        self.unknown = [
            s for s, uri in zip(consignment.containers, roots, strict=True) if uri not in held
        ]
        self.loose_missing = len(consignment.packs) - loose_held
        self.total = sum(self.counts.values()) + len(consignment.packs)

    def run(self) -> Iterator[int]:
        """Judge every pack; yields the number judged after each chunk."""
        c = self.consignment
        tally = Tally()
        with self.store.consignment() as reads:
            seen_loose: set[tuple[str, str]] = set()
            for chunk in reads.packs(self.counts, c.packs):
                for pack in chunk:
                    tally.add(pack, today=self.today, in_transit_ok=c.in_transit_ok)
                    seen_loose.add((pack.state.gtin, pack.state.serial))
                yield tally.checked
            products = reads.products(tally.gtins)
        # A declared loose pack not held is judged as an unknown pack: HOLD, maybe a typo.
        missing = [p for p in c.packs if p not in seen_loose]
        for gtin, serial in missing:
            verdict = judge(Scanned(gtin, serial), None, today=self.today)
            tally.checked += 1
            tally.counts[verdict.decision] += 1
            tally.reasons.update(r.code for r in verdict.reasons)
            tally.offending_uris.append(verdict.pack)
            tally.offending.setdefault(verdict.decision, []).append(
                Offending(verdict.pack, gtin, serial, verdict.decision, verdict.reasons)
            )
        self.total = max(self.total, tally.checked)
        findings = self._findings(tally, products)
        declared = (
            declaration_findings(c.declaration, tally, self.membership, self.org)
            if c.declaration is not None
            else None
        )
        self.report = ConsignmentReport(
            c,
            tally,
            self.total,
            list(self.unknown),
            products,
            findings,
            declared,
            int((time.monotonic() - self.started) * 1000),
        )
        yield tally.checked

    def result(self) -> ConsignmentReport:
        """Run to the end (if not yet) and answer."""
        if self.report is None:
            for _ in self.run():
                pass
        assert self.report is not None
        return self.report

    def _findings(self, tally: Tally, products: Mapping[str, StoredRecord]) -> list[Reason]:
        findings = [
            Reason("unknown_container", f"no container {container_uri(s)} is known at this node")
            for s in self.unknown
        ]
        if tally.checked == 0:
            findings.append(Reason("empty_case", "the ledger lists no packs in this consignment"))
        unregistered = {g: n for g, n in tally.gtins.items() if g not in products}
        for gtin, count in sorted(unregistered.items()):
            tally.reasons["unregistered_product"] += count
            findings.append(
                Reason(
                    "unregistered_product",
                    f"GTIN {gtin} ({count} pack(s)) has no registered product: nobody can tell "
                    "what the packs are",
                )
            )
        return findings


# -- the declaration against the ledger -----------------------------------------------------------


def _names(membership: Membership, org_id: str) -> set[str]:
    """How a declaration may name organisation ``org_id``: its id, GLN or name."""
    names = {org_id.casefold()}
    org = membership.organisations.get(org_id)
    if org is not None:
        names |= {org.gln.casefold(), org.name.strip().casefold()}
    return names


def _party_names(party: Any) -> set[str]:
    if not isinstance(party, Mapping):
        return set()
    return {str(party[k]).strip().casefold() for k in ("id", "name") if party.get(k)}


def _party(party: Any) -> str:
    if isinstance(party, Mapping):
        return str(party.get("name") or party.get("id") or "?")
    return "?"


def declaration_findings(
    record: StoredRecord, tally: Tally, membership: Membership, org: str
) -> list[Reason]:
    """Where the declaration and the ledger disagree (empty: they agree): declared GTINs and
    quantities against the packs counted, the consignor against the ledger's custodians, the
    packs in transit to this node's organisation or to the declared consignee."""
    opened = record.opened
    if opened is None:
        return [
            Reason(
                "declaration_sealed",
                "the declaration's goods and parties are sealed here (only the customs node that "
                "took it holds them): quantities and consignor cannot be compared",
            )
        ]
    findings = _quantities(opened.get("goods", []), tally)
    consignor = opened.get("consignor")
    wanted = _party_names(consignor)
    for custodian, count in sorted(tally.custodians.items()):
        if not wanted & _names(membership, custodian):
            findings.append(
                Reason(
                    "consignor_not_custodian",
                    f"{count} pack(s) are in the custody of {custodian} according to the "
                    f"ledger, not of the declared consignor {_party(consignor)}",
                )
            )
    resting = {s: n for s, n in sorted(tally.statuses.items()) if s != Status.IN_TRANSIT.value}
    not_moving = sum(resting.values())
    if not_moving > 0:
        statuses = ", ".join(f"{n} {s}" for s, n in resting.items())
        findings.append(
            Reason(
                "not_in_transit",
                f"{not_moving} pack(s) are not in transit ({statuses}): imported goods are on "
                "their way here",
            )
        )
    consignee = opened.get("consignee")
    here = {org.casefold()} | _party_names(consignee)
    for destination, count in sorted(tally.destinations.items()):
        if not here & _names(membership, destination):
            findings.append(
                Reason(
                    "not_in_transit_here",
                    f"{count} pack(s) are in transit to {destination}, neither this node's "
                    f"organisation nor the declared consignee {_party(consignee)}",
                )
            )
    return findings


def _quantities(goods: Sequence[Any], tally: Tally) -> list[Reason]:
    declared: Counter[str] = Counter()
    for item in goods:
        if isinstance(item, Mapping) and item.get("gtin"):
            declared[gtin14(str(item["gtin"]))] += int(item.get("quantity", 0))
    findings = []
    for gtin in sorted(set(declared) | set(tally.gtins)):
        if declared[gtin] != tally.gtins[gtin]:
            findings.append(
                Reason(
                    "declared_quantity_differs",
                    f"GTIN {gtin}: declared {declared[gtin]} pack(s), the ledger holds "
                    f"{tally.gtins[gtin]} in the declared packages",
                )
            )
    return findings


# -- a consignment's answer as a scanner holds it ---------------------------------------------------


@dataclass
class CaseOutcome:
    """A consignment's answer (``ConsignmentReport.to_json``, from a node or checked offline):
    ``sscc`` is the case or pallet scanned ("" for a declaration's packages)."""

    sscc: str
    answer: dict[str, Any]

    @property
    def decision(self) -> Decision:
        return Decision(self.answer["verdict"])

    def reasons(self) -> list[Reason]:
        """The consignment's reasons for a person: the counts, the findings, the
        declaration's, then each offending pack listed."""
        a = self.answer
        counts = ", ".join(f"{n} {d}" for d, n in a.get("counts", {}).items() if n)
        reasons = [
            Reason(
                "consignment",
                f"{a.get('checked', 0)} of {a.get('total', 0)} pack(s) checked: {counts or 'none'}",
            )
        ]
        reasons += [Reason(f["code"], f["message"]) for f in a.get("findings", [])]
        check = a.get("declaration_check") or {}
        reasons += [Reason(f["code"], f["message"]) for f in check.get("findings", [])]
        for pack in a.get("offending", []):
            codes = ", ".join(r["code"] for r in pack["reasons"])
            reasons.append(
                Reason(
                    pack["verdict"].lower(), f"pack {pack['serial']}: {pack['verdict']} ({codes})"
                )
            )
        return reasons

    def to_json(self) -> dict[str, Any]:
        return dict(self.answer)


def unreachable(sscc: str, reference: str | None, why: str) -> CaseOutcome:
    """HOLD when the node cannot be asked: nothing was checked, so nothing is released."""
    return CaseOutcome(
        sscc,
        {
            "kind": "consignment",
            "verdict": Decision.HOLD.value,
            "containers": [sscc] if sscc else [],
            "declaration": reference,
            "checked": 0,
            "total": 0,
            "counts": {d.value: 0 for d in _DECISIONS},
            "reasons": {},
            "findings": [
                {
                    "code": "ledger_unreachable",
                    "message": f"the ledger could not be asked ({why}): hold the consignment",
                }
            ],
            "listed": False,
            "offending": [],
            "offending_more": 0,
            "products": [],
        },
    )
