"""The named risk indicators R1 to R11 of a declaration (issue 16; docs/spec/risk.md).

Pure: every indicator is a function of plain facts (``Facts``: the declaration, its clear
commercial fields where this node holds them, its packs as the ledger holds them, the products
and the parties' history), gathered by ``node.risk.facts``. Each answers a ``Finding``: fired
or not, its weight, a one-sentence rationale and the evidence (entry ids, packs, fields). An
indicator that needs a field this node cannot read (a sealed reference price it did not
register, commercial fields it did not take) answers ``evaluated=False``: unknown is not 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

#: Statuses of a pack that has left the supply chain: a declared pack in one of them is a clone.
INACTIVE = frozenset({"dispensed", "destroyed", "exported", "stolen", "sample", "free_sample"})
#: Decisions and outcomes that count against a party in later declarations (R8).
FLAGGING = frozenset({"hold", "detain", "seize", "found_falsified"})
#: Descriptions that say nothing of what is inside (R11), compared case-folded.
VAGUE = frozenset(
    {"gift", "gifts", "sample", "samples", "medicine", "medicines", "pills", "tablets",
     "health product", "health products", "supplement", "supplements", "vitamins",
     "personal use", "documents", "cosmetics", "goods", "parts"}
)  # fmt: skip
#: GS1 prefixes (the first three digits of a GLN) of the countries the consortium's members are
#: in; a GLN says where its company prefix was issued, which is where a member is registered.
GS1_COUNTRIES: tuple[tuple[range, str], ...] = (
    (range(0, 140), "US"), (range(300, 380), "FR"), (range(400, 441), "DE"),
    (range(450, 460), "JP"), (range(490, 500), "JP"), (range(500, 510), "GB"),
    (range(540, 550), "BE"), (range(570, 580), "DK"), (range(590, 591), "PL"),
    (range(629, 630), "AE"), (range(690, 700), "CN"), (range(730, 740), "SE"),
    (range(760, 770), "CH"), (range(800, 840), "IT"), (range(840, 850), "ES"),
    (range(870, 880), "NL"), (range(890, 891), "IN"), (range(900, 920), "AT"),
)  # fmt: skip


def gs1_country(gln: str) -> str | None:
    """The country of a GLN's GS1 prefix, ``None`` when the table does not know it."""
    if len(gln) < 3 or not gln[:3].isdigit():
        return None
    prefix = int(gln[:3])
    return next((country for span, country in GS1_COUNTRIES if prefix in span), None)


@dataclass(frozen=True)
class PackFact:
    """A declared pack as the ledger holds it (organisations, not feeds)."""

    uri: str
    gtin: str
    serial: str
    lot: str
    expiry: str
    status: str
    custodian: str
    commissioner: str
    commissioned: str  # the commissioning entry's id
    destination: str | None = None
    #: The lot and expiry read off the pack (a scan, or the generator), when known.
    observed_lot: str | None = None
    observed_expiry: str | None = None


@dataclass(frozen=True)
class ProductFact:
    gtin: str
    entry: str
    hs_code: str
    atc: str
    net_mass_kg: Decimal
    #: ``(amount, currency)`` when this node holds the seal's opening, else ``None``.
    reference_price: tuple[Decimal, str] | None


@dataclass(frozen=True)
class Member:
    """An organisation of the consortium as the indicators see it."""

    id: str
    name: str
    gln: str
    company_prefixes: tuple[str, ...]
    country: str | None


@dataclass(frozen=True)
class PastDeclaration:
    """An earlier declaration at this node, with what customs decided and found about it."""

    reference: str
    entry: str
    ts: str
    order: tuple[str, str, int]  # (ts, feed, seq)
    low_value: bool
    commercial: Mapping[str, Any] | None
    flags: tuple[tuple[str, str], ...] = ()  # (entry id, decision or outcome) in FLAGGING
    #: each flag's entry id → its order, where known: a flag recorded after the declaration
    #: being scored is no part of its history (the same input gives the same lane, ever after)
    flag_orders: Mapping[str, tuple[str, str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    reference: str
    entry: str
    ts: str
    order: tuple[str, str, int]  # (ts, feed, seq): what came before it
    declaration: Mapping[str, Any]  # the public part
    commercial: Mapping[str, Any] | None  # consignor, consignee, declarant, goods; or None
    packs: tuple[PackFact, ...]
    unknown: tuple[str, ...]  # declared packages the ledger does not hold
    products: Mapping[str, ProductFact]
    members: Mapping[str, Member]
    history: tuple[PastDeclaration, ...] = ()  # earlier declarations at this node, oldest first


@dataclass(frozen=True)
class Settings:
    """The indicators' own thresholds (``risk.indicators`` in the configuration)."""

    price_ratio: Decimal = Decimal("0.5")  # R6: unit value below this share of the reference
    mass_tolerance: Decimal = Decimal("0.2")  # R7: declared net mass off by more than this share
    window_days: int = 30  # R9
    window_parcels: int = 3  # R9: this many low-value parcels to one consignee, this one included
    short_description: int = 3  # R11: fewer words than this is vague
    #: R11: ATC codes (prefixes) sold without prescription; every other registered product is
    #: treated as a prescription medicine.
    otc_atc: tuple[str, ...] = ("A11", "N02BE01", "R05")
    #: R4: members' countries where their GLN's GS1 prefix names none (e.g. 950, GS1 Global)
    countries: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    weight: int
    rationale: str
    fired: bool
    evaluated: bool = True
    evidence: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "weight": self.weight,
            "rationale": self.rationale,
            "fired": self.fired,
            "evaluated": self.evaluated,
            "evidence": [dict(e) for e in self.evidence],
        }


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    weight: int
    rationale: str
    check: Callable[[Facts, Settings], tuple[bool | None, list[dict[str, Any]]]] = field(repr=False)

    def __call__(self, facts: Facts, settings: Settings, weight: int | None = None) -> Finding:
        fired, evidence = self.check(facts, settings)
        return Finding(
            self.code,
            self.name,
            self.weight if weight is None else weight,
            self.rationale,
            bool(fired),
            fired is not None,
            tuple(evidence),
        )


Result = tuple[bool | None, list[dict[str, Any]]]


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _goods(facts: Facts) -> list[Mapping[str, Any]]:
    return list(facts.commercial.get("goods", [])) if facts.commercial else []


def _org(feed: str) -> str:
    return feed.split("/", 1)[0]


def _party_member(facts: Facts, party: Mapping[str, Any] | None) -> str | None:
    """The member a declared party is, by its id (a GLN or the organisation's id) or name."""
    if not party:
        return None
    pid, name = str(party.get("id", "")), str(party.get("name", "")).casefold()
    for member in facts.members.values():
        if pid and pid in (member.gln, member.id):
            return member.id
        if name and name == member.name.casefold():
            return member.id
    return None


def party_key(party: Mapping[str, Any] | None) -> str | None:
    """Who a party is across declarations: its id, else its name and address, normalised."""
    if not party:
        return None
    if party.get("id"):
        return f"id:{party['id']}"
    address = party.get("address", {})
    parts = [party.get("name", ""), address.get("street", ""), address.get("postcode", "")]
    return "addr:" + "|".join(" ".join(str(p).casefold().split()) for p in parts)


def address_key(party: Mapping[str, Any] | None) -> str | None:
    """The delivery address alone (split parcels go to one door under several names)."""
    if not party:
        return None
    a = party.get("address", {})
    parts = [a.get("street", ""), a.get("postcode", ""), a.get("city", ""), a.get("country", "")]
    if not (a.get("street") or a.get("postcode")):
        return None
    return "at:" + "|".join(" ".join(str(p).casefold().split()) for p in parts)


def r1(facts: Facts, _: Settings) -> Result:
    evidence: list[dict[str, Any]] = [
        {"package": uri, "found": "not commissioned"} for uri in facts.unknown
    ]
    for p in facts.packs:
        for what, declared, held in (
            ("lot", p.observed_lot, p.lot),
            ("expiry", p.observed_expiry, p.expiry),
        ):
            if declared is not None and declared != held:
                evidence.append(
                    {"pack": p.uri, "field": what, "read": declared, "ledger": held,
                     "entry": p.commissioned}
                )  # fmt: skip
    return bool(evidence), evidence


def r2(facts: Facts, _: Settings) -> Result:
    evidence = [
        {"pack": p.uri, "status": p.status, "custodian": p.custodian}
        for p in facts.packs
        if p.status in INACTIVE
    ]
    return bool(evidence), evidence


def r3(facts: Facts, _: Settings) -> Result:
    if facts.commercial is None:
        return None, [{"field": "consignor", "found": "sealed; not opened at this node"}]
    consignor = _party_member(facts, facts.commercial.get("consignor"))
    evidence = [
        {"pack": p.uri, "custodian": p.custodian, "consignor": consignor}
        for p in facts.packs
        if _org(p.custodian) != consignor
    ]
    return bool(evidence), evidence


def r4(facts: Facts, _: Settings) -> Result:
    if not facts.packs:
        return False, []
    country = {org: m.country for org, m in facts.members.items()}
    made = {country.get(_org(p.commissioner)) for p in facts.packs} - {None}
    path = made | {country.get(_org(p.custodian)) for p in facts.packs} - {None}
    if not made:
        return None, [{"field": "countryOfOrigin", "found": "no country known for the "
                       "commissioning members (GLN prefix; risk.countries)"}]  # fmt: skip
    d = facts.declaration
    evidence: list[dict[str, Any]] = []
    for name, known in (("countryOfOrigin", made), ("countryOfDispatch", path)):
        if d.get(name) not in known:
            evidence.append({"field": name, "declared": d.get(name), "ledger": sorted(known)})
    transit = d.get("transit") or {}
    for c in transit.get("countries", []):
        if c not in path:
            evidence.append({"field": "transit.countries", "declared": c})
    for zone in transit.get("freeZones", []):
        evidence.append({"field": "transit.freeZones", "declared": zone, "ledger": "no holder"})
    return bool(evidence), evidence


def r5(facts: Facts, _: Settings) -> Result:
    goods = _goods(facts)
    if facts.commercial is None:
        return None, [{"field": "goods", "found": "sealed; not opened at this node"}]
    evidence: list[dict[str, Any]] = []
    for i, item in enumerate(goods):
        product = facts.products.get(str(item.get("gtin", "")).zfill(14))
        if product is None:
            continue
        hs = str(item.get("hsCode", ""))
        if hs != product.hs_code:
            evidence.append({"field": f"goods[{i}].hsCode", "declared": hs,
                             "registered": product.hs_code, "atc": product.atc,
                             "entry": product.entry})  # fmt: skip
    return bool(evidence), evidence


def r6(facts: Facts, settings: Settings) -> Result:
    if facts.commercial is None:
        return None, [{"field": "goods", "found": "sealed; not opened at this node"}]
    evidence: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    for i, item in enumerate(_goods(facts)):
        product = facts.products.get(str(item.get("gtin", "")).zfill(14))
        if product is None:
            continue
        if product.reference_price is None:
            unknown.append({"field": f"goods[{i}]", "gtin": product.gtin,
                            "found": "reference price sealed; not opened at this node"})  # fmt: skip
            continue
        reference, currency = product.reference_price
        value = item.get("value", {})
        amount, quantity = _dec(value.get("amount")), _dec(item.get("quantity"))
        if value.get("currency") != currency or amount is None or not quantity:
            unknown.append({"field": f"goods[{i}].value", "found": "not comparable"})
            continue
        unit = amount / quantity
        if unit < reference * settings.price_ratio:
            evidence.append({"field": f"goods[{i}].value", "unit": str(unit.quantize(Decimal("0.01"))),
                             "reference": str(reference), "currency": currency,
                             "entry": product.entry})  # fmt: skip
    if evidence:
        return True, evidence
    return (None, unknown) if unknown else (False, [])


def r7(facts: Facts, settings: Settings) -> Result:
    if facts.commercial is None:
        return None, [{"field": "goods", "found": "sealed; not opened at this node"}]
    counts: dict[str, int] = {}
    for p in facts.packs:
        counts[p.gtin] = counts.get(p.gtin, 0) + 1
    evidence: list[dict[str, Any]] = []
    for i, item in enumerate(_goods(facts)):
        gtin = str(item.get("gtin", "")).zfill(14)
        quantity = _dec(item.get("quantity")) or Decimal(0)
        if gtin in counts and quantity != counts[gtin]:
            evidence.append({"field": f"goods[{i}].quantity", "declared": str(quantity),
                             "ledger": counts[gtin]})  # fmt: skip
        product = facts.products.get(gtin)
        mass = _dec(item.get("netMassKg"))
        if product is not None and mass is not None:
            expected = product.net_mass_kg * quantity
            if abs(mass - expected) > expected * settings.mass_tolerance:
                evidence.append({"field": f"goods[{i}].netMassKg", "declared": str(mass),
                                 "expected": str(expected), "entry": product.entry})  # fmt: skip
    return bool(evidence), evidence


def r8(facts: Facts, _: Settings) -> Result:
    if facts.commercial is None:
        return None, [{"field": "consignor", "found": "sealed; not opened at this node"}]
    evidence: list[dict[str, Any]] = []
    for role in ("consignor", "consignee"):
        key = party_key(facts.commercial.get(role))
        seen = False
        for past in facts.history:
            if (
                past.order >= facts.order
                or past.commercial is None
                or party_key(past.commercial.get(role)) != key
            ):
                continue
            seen = True
            evidence.extend(
                {"party": role, "declaration": past.reference, "entry": entry, "found": what}
                for entry, what in past.flags
                if past.flag_orders.get(entry, facts.order) <= facts.order
            )
        if role == "consignor" and not seen:
            evidence.append({"party": role, "found": "no earlier declaration at this node"})
    return bool(evidence), evidence


def r9(facts: Facts, settings: Settings) -> Result:
    if not facts.declaration.get("lowValue"):
        return False, []
    if facts.commercial is None:
        return None, [{"field": "consignee", "found": "sealed; not opened at this node"}]
    consignee = facts.commercial.get("consignee")
    keys = {k for k in (party_key(consignee), address_key(consignee)) if k}
    since = days_before(facts.ts, settings.window_days)
    parcels = [
        past
        for past in facts.history
        if past.low_value
        and since <= past.ts
        and past.order < facts.order
        and past.commercial is not None
        and keys
        & {
            party_key(past.commercial.get("consignee")),
            address_key(past.commercial.get("consignee")),
        }
    ]
    if len(parcels) + 1 < settings.window_parcels:
        return False, []
    return True, [{"declaration": p.reference, "entry": p.entry, "ts": p.ts} for p in parcels]


def days_before(ts: str, days: int) -> str:
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00")) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _numbered_by(gtin: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a GTIN (any length, check digit unchecked: R1 judges existence) belongs to one of
    the company prefixes, the indicator digit of a GTIN-14 skipped."""
    body = gtin.zfill(14)[1:]
    return any(body.startswith(prefix) for prefix in prefixes)


def r10(facts: Facts, _: Settings) -> Result:
    evidence: list[dict[str, Any]] = []
    for p in facts.packs:
        member = facts.members.get(_org(p.commissioner))
        prefixes = member.company_prefixes if member else ()
        if not _numbered_by(p.gtin, prefixes):
            evidence.append({"pack": p.uri, "gtin": p.gtin, "commissioner": p.commissioner,
                             "entry": p.commissioned})  # fmt: skip
    numbered = [m.company_prefixes for m in facts.members.values()]
    for i, item in enumerate(_goods(facts)):
        gtin = str(item.get("gtin", ""))
        if gtin and not any(_numbered_by(gtin, p) for p in numbered):
            evidence.append({"field": f"goods[{i}].gtin", "declared": gtin,
                             "found": "outside every member's company prefixes"})  # fmt: skip
    return bool(evidence), evidence


def r11(facts: Facts, settings: Settings) -> Result:
    if facts.commercial is None:
        return None, [{"field": "goods", "found": "sealed; not opened at this node"}]
    evidence: list[dict[str, Any]] = []
    consignee = facts.commercial.get("consignee") or {}
    private = consignee.get("addressType") == "private"
    for i, item in enumerate(_goods(facts)):
        description = " ".join(str(item.get("description", "")).casefold().split())
        if description in VAGUE or len(description.split()) < settings.short_description:
            evidence.append(
                {"field": f"goods[{i}].description", "declared": item.get("description")}
            )
        product = facts.products.get(str(item.get("gtin", "")).zfill(14))
        prescription = product is not None and not product.atc.startswith(settings.otc_atc)
        if product is not None and prescription and private and facts.declaration.get("lowValue"):
            evidence.append({"field": f"goods[{i}].gtin", "atc": product.atc,
                             "consignee": "private address", "lowValue": True})  # fmt: skip
    return bool(evidence), evidence


#: The indicators in order; weights are defaults that ``risk.weights`` may change.
INDICATORS: tuple[Indicator, ...] = (
    Indicator("R1", "never_commissioned", 60,
              "A declared pack the ledger never commissioned, or with another lot or expiry, is not the genuine product.", r1),
    Indicator("R2", "inactive_elsewhere", 70,
              "A pack already dispensed, destroyed, exported or stolen cannot travel again: the declared one is a clone.", r2),
    Indicator("R3", "custody_gap", 40,
              "The consignor should be the ledger's custodian of the packs it sends; anyone else had no genuine packs to send.", r3),
    Indicator("R4", "route", 25,
              "Origin, dispatch and transit countries not on the packs' recorded path (free zones above all) are where falsified goods are relabelled.", r4),
    Indicator("R5", "hs_code", 30,
              "An HS code other than the product's registered one hides medicines under a lower duty or a lighter regime.", r5),
    Indicator("R6", "undervalued", 30,
              "A unit value far below the product's reference price is the price of a fake, or of duty fraud.", r6),
    Indicator("R7", "quantity_mass", 30,
              "A quantity or net mass that does not match the packs and their registered unit mass means the boxes hold something else.", r7),
    Indicator("R8", "party_history", 30,
              "A consignor never seen before, or a party with earlier holds, seizures or falsified findings, deserves a closer look.", r8),
    Indicator("R9", "split_parcels", 40,
              "Many low-value parcels to one consignee or address within days split a consignment to stay under the thresholds.", r9),
    Indicator("R10", "foreign_gtin", 60,
              "A GTIN outside the commissioning member's company prefixes was numbered by someone else.", r10),
    Indicator("R11", "private_prescription", 25,
              "A prescription medicine in a low-value parcel to a private address, or a vague description, is the typical illegal online sale.", r11),
)  # fmt: skip
BY_CODE: Mapping[str, Indicator] = {i.code: i for i in INDICATORS}


def evaluate(
    facts: Facts, settings: Settings | None = None, weights: Mapping[str, int] | None = None
) -> list[Finding]:
    """Every indicator's finding, R1 to R11: same facts, same findings."""
    settings = settings or Settings()
    weights = weights or {}
    return [i(facts, settings, weights.get(i.code)) for i in INDICATORS]
