"""From a pack's provenance to RELEASE / HOLD / REJECT, trusting no node.

The provenance is a list of signed entries as some node returned them. Every entry is checked
against the pinned membership (key for its position, kind, signature over the exact bytes);
then the pure lifecycle folds them into the pack's state, and the state, the alerts about the
pack and what is printed on the pack decide the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feed import verify_entry
from ledger.identifiers import pack_uri
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.lifecycle.products import PUBLIC_FIELDS
from ledger.membership import Membership
from ledger.state import MemoryState, PackState, Record
from ledger.status import Status


class Decision(StrEnum):
    RELEASE = "RELEASE"
    HOLD = "HOLD"
    REJECT = "REJECT"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Scanned:
    """What the pack carries: GTIN and serial identify it, lot and expiry are checked."""

    gtin: str
    serial: str
    lot: str | None = None
    expiry: str | None = None  # ISO date


UNREGISTERED_PRODUCT = "unregistered_product"


class NotAsked(Enum):
    """``judge(product=NOT_ASKED)``: the caller judges the product itself (a consignment
    checks each GTIN once, not each pack)."""

    NOT_ASKED = "not asked"


NOT_ASKED = NotAsked.NOT_ASKED


@dataclass(frozen=True)
class Product:
    """What the pack is: the public master data of its GTIN's registration in force (ADR 0020),
    from a ``product`` entry that verified under the pinned membership, i.e. signed by the
    owner of the GTIN's company prefix. The sealed reference price is never part of it."""

    gtin: str
    owner: str
    entry: str
    feed: str
    ts: str
    data: Mapping[str, Any]  # ledger.lifecycle.products.PUBLIC_FIELDS

    @classmethod
    def of_record(cls, data: Mapping[str, Any], entry: str, feed: str, ts: str) -> Product:
        """From a ``product`` record (``MemoryState.records`` here, ``Store.product`` on a
        node: both hold ``{"gtin", <public fields>, "sealed"}``)."""
        public = {name: data[name] for name in PUBLIC_FIELDS if name in data}
        return cls(str(data["gtin"]), feed.split("/", 1)[0], entry, feed, ts, public)

    def label(self) -> str:
        """One line for a person: ``Amoxil 500 mg (amoxicillin), capsule, pack of 16 (blister)``."""
        d = self.data
        return (
            f"{d.get('name')} {d.get('strength')} ({d.get('commonName')}), {d.get('form')}, "
            f"pack of {d.get('packSize')} ({d.get('packType')})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "owner": self.owner,
            "entry": self.entry,
            "feed": self.feed,
            "ts": self.ts,
            **self.data,
        }


@dataclass
class Verdict:
    """``reasons`` are why the decision is what it is; ``warnings`` are what the person
    scanning should know but that did not change it (an unregistered product at a counter)."""

    decision: Decision
    pack: str
    reasons: list[Reason] = field(default_factory=list)
    state: PackState | None = None
    timeline: list[SignedEntry] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    product: Product | None = None
    warnings: list[Reason] = field(default_factory=list)


_REJECT_STATUS = {
    Status.DISPENSED: (
        "already_dispensed",
        "the pack was already dispensed: it must not be supplied again",
    ),
    Status.DESTROYED: ("destroyed", "the pack was reported destroyed"),
    Status.STOLEN: ("stolen", "the pack was reported stolen"),
    Status.EXPORTED: ("exported", "the pack was exported out of this market"),
    Status.SAMPLE: ("sample", "the pack was taken as a sample"),
    Status.FREE_SAMPLE: ("free_sample", "the pack was given as a free sample"),
}
_HOLD_STATUS = {
    Status.LOCKED: ("locked", "the pack is locked pending investigation"),
    Status.QUARANTINED: ("quarantined", "the pack is held by customs or quarantined as suspect"),
}
_REJECT_ALERTS = {Code.SUSPECTED_CLONE, Code.DUPLICATE_COMMISSION, Code.STOLEN}
#: Alerts that a reason derived from the pack's state already covers. A failed check's alert
#: (ADR 0022) is someone's verdict on the same facts, not a fact: it never holds a pack itself
#: (else one HOLD at a counter, or one verifier's report, would hold the pack for everyone).
_COVERED_ALERTS = {
    Code.RECALLED,
    Code.WITHDRAWN,
    Code.EXPIRED,
    Code.CHECK_REJECTED,
    Code.CHECK_HELD,
}


def decide(
    scanned: Scanned,
    provenance: Sequence[SignedEntry],
    membership: Membership,
    *,
    today: str,
    in_transit_ok: bool = False,
) -> Verdict:
    """The verdict for ``scanned``; ``today`` is an ISO date, ``in_transit_ok`` for customs."""
    uri = pack_uri(scanned.gtin, scanned.serial)
    for entry in provenance:
        try:
            verify_entry(entry, membership)
        except LedgerError as exc:
            if entry.payload.kind is Kind.PRODUCT:
                # Master data is its GTIN owner's word or nothing: never shown, and a node
                # that sends a forgery of it is as untrustworthy as for any other entry.
                message = (
                    f"the ledger returned a product entry for GTIN "
                    f"{entry.payload.body.get('gtin')} that is not its owner's signed word "
                    f"({exc}): the product it names is not shown"
                )
            else:
                message = f"the ledger returned an entry that does not verify: {exc}"
            return Verdict(Decision.REJECT, uri, [Reason("forged", message)])
    state = MemoryState()
    alerts = fold(provenance, membership, state)
    pack = state.packs.get(uri)
    # master data is shown as the product, not as a step of the pack's custody
    steps = (e for e in provenance if e.payload.kind is not Kind.PRODUCT)
    timeline = sorted(steps, key=lambda e: e.payload.order_key)
    if pack is None:
        return judge(scanned, None, today=today, timeline=timeline)
    return judge(
        scanned,
        pack,
        today=today,
        product=_product(state.records.get((Kind.PRODUCT.value, pack.gtin))),
        recalled=state.recall_of(pack.gtin, pack.lot) is not None,
        withdrawn=state.withdrawal_of(pack.gtin) is not None,
        alerts=[a for a in alerts if a.subject == uri],
        in_transit_ok=in_transit_ok,
        commissioner=timeline[0].payload.feed if timeline else "?",
        timeline=timeline,
    )


def _product(record: Record | None) -> Product | None:
    if record is None:
        return None
    return Product.of_record(record.data, record.entry_id, record.feed, record.order[0])


def judge(
    scanned: Scanned,
    pack: PackState | None,
    *,
    today: str,
    product: Product | NotAsked | None = NOT_ASKED,
    recalled: bool = False,
    withdrawn: bool = False,
    alerts: Sequence[Alert] = (),
    in_transit_ok: bool = False,
    commissioner: str = "?",
    timeline: Sequence[SignedEntry] = (),
) -> Verdict:
    """The verdict on a pack's folded state, the alerts about it and what is printed on it.

    ``decide`` calls it after verifying the provenance; a node judging many packs of its own
    (already verified) store at once calls it directly with the projected states, so that a
    pack and a consignment are judged by one set of rules.

    ``product`` is the GTIN's registration in force (``Product.of_record`` of
    ``Store.product``'s record on a node); ``None`` means none is registered: HOLD
    ``unregistered_product`` in the customs context (``in_transit_ok``, the border), a warning
    elsewhere (docs/spec/scanner.md, "Products"). ``NOT_ASKED`` (the default) leaves the rule to
    the caller."""
    uri = pack_uri(scanned.gtin, scanned.serial)
    if pack is None:
        return Verdict(
            Decision.HOLD,
            uri,
            [
                Reason(
                    "unknown_pack",
                    "no commissioning of this serial is known: check the scan, then treat the pack as suspect",
                )
            ],
            timeline=list(timeline),
        )
    reasons: list[Reason] = []
    reject = False
    hold = False
    for what, printed, commissioned in (
        ("lot", scanned.lot, pack.lot),
        ("expiry", scanned.expiry, pack.expiry),
    ):
        if printed is not None and printed != commissioned:
            reasons.append(
                Reason(
                    f"{what}_mismatch",
                    f"the pack says {what} {printed}, its commissioning says {commissioned}",
                )
            )
            reject = True
    if recalled:
        reasons.append(Reason("recalled", f"lot {pack.lot} is recalled"))
        reject = True
    if withdrawn:
        reasons.append(Reason("withdrawn", f"product {pack.gtin} is withdrawn from the market"))
        reject = True
    if today > pack.expiry:
        reasons.append(Reason("expired", f"the pack expired on {pack.expiry}"))
        reject = True
    if pack.status in _REJECT_STATUS:
        reasons.append(Reason(*_REJECT_STATUS[pack.status]))
        reject = True
    elif pack.status in _HOLD_STATUS:
        reasons.append(Reason(*_HOLD_STATUS[pack.status]))
        hold = True
    elif pack.status is Status.IN_TRANSIT and not in_transit_ok:
        reasons.append(
            Reason(
                "in_transit", f"the pack is in transit to {pack.destination} and not yet received"
            )
        )
        hold = True
    warnings: list[Reason] = []
    shown_product = None if product is NOT_ASKED else product
    if product is None:
        unregistered = Reason(
            UNREGISTERED_PRODUCT,
            f"no product is registered for GTIN {pack.gtin}: nothing on the ledger says what "
            "this code's product is (name, strength, form, pack size)",
        )
        if in_transit_ok:  # a border cannot let in goods nobody has declared the nature of
            reasons.append(unregistered)
            hold = True
        else:
            warnings.append(unregistered)
    shown: set[str] = {r.code for r in reasons}
    for alert in alerts:
        if alert.code.value in shown or alert.code in _COVERED_ALERTS:
            continue
        shown.add(alert.code.value)
        reasons.append(Reason(alert.code.value, alert.message))
        if alert.code in _REJECT_ALERTS:
            reject = True
        else:
            # custody violation, an entry on an inactive pack, an unknown container …: a
            # signed fact broke a rule about this pack, so it is not supplied before someone
            # has looked at it.
            hold = True
    decision = Decision.REJECT if reject else Decision.HOLD if hold else Decision.RELEASE
    if decision is Decision.RELEASE:
        reasons.append(
            Reason(
                "authentic",
                f"commissioned by {commissioner}, {pack.status.value}, lot and expiry match",
            )
        )
    return Verdict(
        decision, uri, reasons, pack, list(timeline), list(alerts), shown_product, warnings
    )
