"""A labelled set of synthetic declarations to measure the risk lanes on (issue 16, item 5;
docs/spec/risk.md "The generator").

It builds a real ledger in a scratch node store, signed by an in-memory consortium with fixed
keys: an Indian manufacturer (``sunrise``) commissions and registers three products, packs cases
and ships them to a German distributor (``nord``); a German pharmacy (``apo``) receives and
dispenses some packs; the customs post ``border`` takes the declarations. Legitimate flows are
consignments of cases to the distributor, express parcels to pharmacies and low-value parcels
of medicines sold without prescription to private people. Into them it injects falsified
declarations, one kind per indicator R1 to R11, each over fresh packs, with ``falsified`` share of
the set. The same ``seed`` gives the same set (the signatures' timestamps aside).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from time import perf_counter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import membership as ms
from ledger.action import Action
from ledger.identifiers import container_uri, pack_uri, with_check_digit
from ledger.kinds import Kind, Role
from ledger.lifecycle.customs_decisions import record_step
from ledger.lifecycle.declarations import declaration_step
from ledger.lifecycle.products import product_step
from ledger.membership.versions import sign_membership
from node.config import NodeConfig, save_config
from node.risk.facts import Scorer
from node.risk.lanes import Lane, RiskConfig
from node.service import NodeService
from node.store import Store

KINDS = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11")
LABELS = "labels.jsonl"
DATABASE = "generator.db"
CUSTOMS_FEED = "border/post"
_FEEDS = {"sunrise/line": 21, "nord/wh": 22, "apo/counter": 23, CUSTOMS_FEED: 24}
LOT, EXPIRY = "G1", "2030-12-31"
CASE_PACKS = 10
SPLIT_PARCELS = 6  # R9: parcels of one split consignment
_SUNRISE: dict[str, Any] = {"name": "Sunrise Generics Pvt Ltd", "id": with_check_digit("890123400000"),
            "address": {"street": "Plot 14, MIDC", "city": "Pune", "postcode": "411026",
                        "country": "IN"}}  # fmt: skip
_NORD: dict[str, Any] = {"name": "Nord Grosshandel GmbH", "id": with_check_digit("400000100000"),
         "addressType": "business",
         "address": {"street": "Hafenstr. 1", "city": "Hamburg", "postcode": "20457",
                     "country": "DE"}}  # fmt: skip
_BROKER: dict[str, Any] = {
    "name": "Nord Customs Brokers GmbH",
    "address": {"city": "Hamburg", "country": "DE"},
}


@dataclass(frozen=True)
class Product:
    gtin: str
    description: str
    atc: str
    hs: str
    mass: Decimal
    price: Decimal

    def request(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin, "name": self.description, "commonName": self.description.split()[0].lower(),
            "form": "tablet", "strength": "500 mg", "packSize": 20, "packType": "blister pack",
            "atc": self.atc, "hsCode": self.hs, "netMassKg": str(self.mass),
            "referencePrice": {"amount": str(self.price), "currency": "EUR"},
            "mah": _SUNRISE["name"], "markets": ["DE"],
        }  # fmt: skip


AMOXICILLIN = Product(with_check_digit("0890123400001"), "Amoxicillin 500 mg hard capsules, 20 per pack", "J01CA04", "300410", Decimal("0.028"), Decimal("7.90"))  # fmt: skip
ATORVASTATIN = Product(with_check_digit("0890123400002"), "Atorvastatin 20 mg film-coated tablets, 30 per pack", "C10AA05", "300490", Decimal("0.030"), Decimal("24.50"))  # fmt: skip
PARACETAMOL = Product(with_check_digit("0890123400003"), "Paracetamol 500 mg tablets, 20 per pack", "N02BE01", "300490", Decimal("0.012"), Decimal("2.10"))  # fmt: skip
PRODUCTS = (AMOXICILLIN, ATORVASTATIN, PARACETAMOL)
PRESCRIPTION = (AMOXICILLIN, ATORVASTATIN)


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def membership() -> ms.Membership:
    def org(oid: str, name: str, role: Role, gln: str, prefixes: list[str]) -> ms.Organisation:
        feeds = {f: ms.raw_public(_key(s)) for f, s in _FEEDS.items() if f.startswith(oid + "/")}
        return ms.organisation(
            oid, name=name, role=role, gln=gln, company_prefixes=prefixes, feeds=feeds
        )

    organisations = [
        org("sunrise", _SUNRISE["name"], Role.MANUFACTURER, _SUNRISE["id"], ["8901234"]),
        org("nord", _NORD["name"], Role.DISTRIBUTOR, _NORD["id"], []),
        org("apo", "Apotheke am Markt", Role.PHARMACY, with_check_digit("400000200000"), []),
        org("border", "Zoll Hamburg", Role.CUSTOMS, with_check_digit("400000300000"), []),
    ]
    return ms.genesis("risk generator", {"gov-1": ms.raw_public(_key(1))}, 1, organisations)


@dataclass(frozen=True)
class Labelled:
    reference: str
    falsified: str | None  # the indicator whose falsification was injected, None: legitimate


class Generator:
    """Builds the ledger and the declarations in ``root`` (``generator.db``, ``labels.jsonl``)."""

    def __init__(self, root: Path, seed: int = 16) -> None:
        self.root = root
        self.rng = random.Random(seed)  # noqa: S311 (a reproducible data set, not a secret)
        self.membership = membership()
        self.store = Store(root / DATABASE)
        self.nodes = {
            f.split("/", 1)[0]: NodeService(self.store, self.membership, f, _key(s))
            for f, s in _FEEDS.items()
        }
        self._serial = 0
        self._case = 0
        self.steps: list[tuple[Action, Any, str | None]] = []

    def close(self) -> None:
        self.store.close()

    # -- the ledger ---------------------------------------------------------------------------
    def _serials(self, n: int) -> list[str]:
        self._serial += n
        return [f"S{self._serial - i:09d}" for i in range(n)]

    def commission(self, product: Product, n: int) -> list[str]:
        serials = self._serials(n)
        self.nodes["sunrise"].commission(product.gtin, LOT, EXPIRY, serials=serials)
        return [pack_uri(product.gtin, s) for s in serials]

    def case(self, product: Product) -> tuple[str, list[str]]:
        packs = self.commission(product, CASE_PACKS)
        self._case += 1
        sscc = with_check_digit(f"38901234{self._case:09d}")
        sunrise = self.nodes["sunrise"]
        sunrise.submit(Action(Kind.PACK, [container_uri(sscc), *packs]))
        return sscc, packs

    def shipped_case(self, product: Product) -> tuple[str, list[str]]:
        sscc, packs = self.case(product)
        destination = {"destination": "nord"}
        self.nodes["sunrise"].submit(Action(Kind.SHIP, [container_uri(sscc)], body=destination))
        return sscc, packs

    def dispensed(self, product: Product, n: int) -> list[str]:
        """Packs genuinely sold at apo's counter: a clone of one is the R2 case."""
        packs = self.commission(product, n)
        ship = self.nodes["sunrise"].submit(Action(Kind.SHIP, packs, body={"destination": "apo"}))
        self.nodes["apo"].submit(Action(Kind.RECEIVE, packs, refs=[ship.id]))
        self.nodes["apo"].submit(Action(Kind.DISPENSE, packs))
        return packs

    # -- declarations -------------------------------------------------------------------------
    def declaration(
        self,
        reference: str,
        *,
        product: Product,
        packages: list[dict[str, str]],
        quantity: int,
        consignor: dict[str, Any] | None = None,
        consignee: dict[str, Any] | None = None,
        low_value: bool = False,
        kind: str = "general",
        **change: Any,
    ) -> dict[str, Any]:
        unit = product.price * Decimal(self.rng.randint(90, 115)) / 100
        goods = {
            "hsCode": product.hs, "description": product.description, "gtin": product.gtin,
            "quantity": quantity, "netMassKg": str(product.mass * quantity),
            "value": {"amount": str((unit * quantity).quantize(Decimal("0.01"))), "currency": "EUR"},
        }  # fmt: skip
        goods |= change.pop("goods", {})
        declared = {
            "reference": reference, "consignor": consignor or _SUNRISE,
            "consignee": consignee or _NORD, "declarant": _BROKER,
            "countryOfOrigin": "IN", "countryOfDispatch": "IN",
            "transportMode": {"general": 4, "postal": 5, "express": 4}[kind],
            "officeOfEntry": "DE004098", "consignmentType": kind, "lowValue": low_value,
            "goods": [goods], "packages": packages,
        }  # fmt: skip
        return declared | change

    def person(self, n: int) -> dict[str, Any]:
        return {
            "name": f"Person {n:06d}", "addressType": "private",
            "address": {"street": f"Lindenweg {n % 200 + 1}", "city": "Berlin",
                        "postcode": f"{10000 + n:05d}", "country": "DE"},
        }  # fmt: skip

    def pharmacy(self, n: int) -> dict[str, Any]:
        return {
            "name": f"Apotheke Nr. {n}", "id": f"DE{n:015d}", "addressType": "business",
            "address": {"street": "Marktplatz 1", "city": "Bremen", "postcode": "28195",
                        "country": "DE"},
        }  # fmt: skip

    def legitimate(self, i: int, reference: str) -> Iterator[dict[str, Any]]:
        roll = self.rng.random()
        if roll < 0.2:
            product = self.rng.choice(PRESCRIPTION)
            sscc, _ = self.shipped_case(product)
            yield self.declaration(
                reference, product=product, packages=[{"sscc": sscc}], quantity=CASE_PACKS
            )
        elif roll < 0.5:
            product = self.rng.choice(PRESCRIPTION)
            packs = self.commission(product, self.rng.randint(1, 3))
            yield self.declaration(
                reference, product=product, packages=loose(packs), quantity=len(packs),
                consignee=self.pharmacy(self.rng.randint(1, 300)), kind="express",
            )  # fmt: skip
        else:
            packs = self.commission(PARACETAMOL, self.rng.randint(1, 2))
            yield self.declaration(
                reference, product=PARACETAMOL, packages=loose(packs), quantity=len(packs),
                consignee=self.person(i), low_value=True, kind="postal",
            )  # fmt: skip

    def falsified(self, kind: str, i: int, reference: str) -> Iterator[dict[str, Any]]:
        product = self.rng.choice(PRESCRIPTION)
        if kind == "R9":  # one order split into parcels to one private person
            for part in range(SPLIT_PARCELS):
                packs = self.commission(PARACETAMOL, 2)
                yield self.declaration(
                    f"{reference}-{part}", product=PARACETAMOL, packages=loose(packs),
                    quantity=2, consignee=self.person(900_000 + i), low_value=True, kind="postal",
                )  # fmt: skip
            return
        if kind == "R1":  # serials nobody commissioned
            packs = [pack_uri(product.gtin, f"X{self.rng.randrange(10**9):09d}")]
            yield self.declaration(
                reference, product=product, packages=loose(packs), quantity=1,
                consignee=self.pharmacy(self.rng.randint(1, 300)), kind="express",
            )  # fmt: skip
            return
        if kind == "R2":  # a pack sold at a counter, sent again
            packs = self.dispensed(product, 1)
            yield self.declaration(
                reference, product=product, packages=loose(packs), quantity=1,
                consignee=self.pharmacy(self.rng.randint(1, 300)), kind="express",
            )  # fmt: skip
            return
        sscc, _ = self.shipped_case(product)
        base: dict[str, Any] = {
            "product": product, "packages": [{"sscc": sscc}], "quantity": CASE_PACKS,
        }  # fmt: skip
        variants: dict[str, dict[str, Any]] = {
            "R3": {"consignor": {"name": f"Global Pharma Trading {i} FZE", "id": f"AE{i:013d}",
                                 "address": {"city": "Dubai", "country": "AE"}}},
            "R4": {"countryOfDispatch": "AE",
                   "transit": {"countries": ["AE"], "freeZones": ["Jebel Ali Free Zone"]}},
            "R5": {"goods": {"hsCode": "330499"}},
            "R6": {"goods": {"value": {"amount": str((product.price * 2).quantize(Decimal("0.01"))),
                                       "currency": "EUR"}}},
            "R7": {"goods": {"netMassKg": str(product.mass * CASE_PACKS * 4)}},
            "R8": {},
            "R10": {"goods": {"gtin": with_check_digit(f"0999{i:09d}")}},
            "R11": {"consignee": self.person(800_000 + i), "lowValue": True,
                    "consignmentType": "postal", "transportMode": 5,
                    "goods": {"description": "gift"}},
        }  # fmt: skip
        change = variants[kind]
        if kind == "R8":
            change = {"consignee": self.flagged_consignee(i)}
        yield self.declaration(reference, **base, **change)

    def flagged_consignee(self, i: int) -> dict[str, Any]:
        """A consignee whose earlier consignment customs seized (R8)."""
        consignee = self.pharmacy(500_000 + i)
        reference = f"GEN-SEIZED-{i:06d}"
        packs = self.commission(AMOXICILLIN, 1)
        trader = {
            "name": f"Fly-by-night Trading {i}",
            "address": {"city": "Lagos", "country": "NG"},
        }
        earlier = self.declaration(
            reference, product=AMOXICILLIN, packages=loose(packs), quantity=1,
            consignor=trader, consignee=consignee,
        )  # fmt: skip
        entry = self.lodge([earlier])[0]
        body = {"declaration": reference, "decision": "seize"}
        self.nodes["border"].submit(record_step(Kind.DECIDE, body, entry))
        return consignee

    def lodge(self, declarations: list[dict[str, Any]]) -> list[str]:
        steps, openings = [], []
        for d in declarations:
            step, opening = declaration_step(d)
            steps.append(step)
            openings.append(opening)
        self.store.keep_openings(Kind.DECLARE.value, openings)
        return [e.id for e in self.nodes["border"].submit_many(steps)]

    def build(self, count: int, falsified: float = 0.05) -> list[Labelled]:
        """``count`` declarations, about ``falsified`` of them falsified (kinds in turn)."""
        for product in PRODUCTS:
            step, opening = product_step(product.request())
            self.store.keep_openings(Kind.PRODUCT.value, [opening])
            self.nodes["sunrise"].submit(step)
        labels: list[Labelled] = []
        pending: list[dict[str, Any]] = []
        turn = 0
        while len(labels) < count:
            i = len(labels)
            reference = f"GEN-{i:06d}"
            if self.rng.random() < falsified:
                kind = KINDS[turn % len(KINDS)]
                turn += 1
                made = list(self.falsified(kind, i, reference))
            else:
                kind, made = None, list(self.legitimate(i, reference))
            pending.extend(made)
            labels.extend(Labelled(d["reference"], kind) for d in made)
            if len(pending) >= 200:
                self.lodge(pending)
                pending = []
        if pending:
            self.lodge(pending)
        with (self.root / LABELS).open("w", encoding="utf-8") as handle:
            for label in labels:
                handle.write(json.dumps({"reference": label.reference, "falsified": label.falsified}) + "\n")  # fmt: skip
        return labels

    def record_outcomes(self, labels: list[Labelled]) -> int:
        """An inspection outcome on every labelled declaration, signed after all of them:
        ``found_falsified`` on the falsified, ``found_compliant`` on the others."""
        steps = []
        for label in labels:
            record = self.store.declaration(label.reference, "border")
            if record is not None:
                found = "found_falsified" if label.falsified else "found_compliant"
                body = {"declaration": label.reference, "outcome": found}
                steps.append(record_step(Kind.OUTCOME, body, record.entry_id))
        for start in range(0, len(steps), 200):
            self.nodes["border"].submit_many(steps[start : start + 200])
        return len(steps)

    def node_json(self) -> Path:
        """Make ``root`` a customs node's data directory (``border``'s node.json beside the
        store, its signed membership in it) that ``medtrace risk report|train --data`` read."""
        if not (self.root / "node.json").exists():
            signed = sign_membership(self.membership, {"gov-1": _key(1)})
            self.store.save_membership(signed)
            config = NodeConfig(name="border", feed=CUSTOMS_FEED, genesis_id=signed.id,
                                database=str((self.root / DATABASE).resolve()))  # fmt: skip
            save_config(self.root, config)
        return self.root


def loose(packs: list[str]) -> list[dict[str, str]]:
    found = []
    for uri in packs:
        gtin, serial = uri.split("/01/", 1)[1].split("/21/", 1)
        found.append({"gtin": gtin, "serial": serial})
    return found


def read_labels(path: Path) -> list[Labelled]:
    with path.open(encoding="utf-8") as handle:
        return [Labelled(**json.loads(line)) for line in handle if line.strip()]


@dataclass
class Evaluation:
    """The lanes over a labelled set: recall of the falsified ones against the inspection rate.

    Inspected: a red or yellow lane (physical or documentary control at the border), or a
    parcel named in the R9 evidence of a later inspected parcel (a split consignment is
    stopped as a whole: its earlier parcels are still at the border with it)."""

    declarations: int = 0
    falsified: int = 0
    inspected: int = 0
    caught: int = 0
    red: int = 0
    random_selected: int = 0
    random_rate: float = 0.0
    seconds: float = 0.0
    lanes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, list[int]] = field(default_factory=dict)  # kind: [falsified, caught]
    false_alarms: int = 0

    @property
    def recall(self) -> float:
        return self.caught / self.falsified if self.falsified else 1.0

    @property
    def inspection_rate(self) -> float:
        return self.inspected / self.declarations if self.declarations else 0.0

    @property
    def selection_rate(self) -> float:
        return self.random_selected / self.declarations if self.declarations else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "declarations": self.declarations,
            "falsified": self.falsified,
            "inspected": self.inspected,
            "inspection_rate": round(self.inspection_rate, 6),
            "caught": self.caught,
            "recall": round(self.recall, 6),
            "red": self.red,
            "false_alarms": self.false_alarms,
            "lanes": dict(sorted(self.lanes.items())),
            "kinds": {k: {"falsified": n, "caught": c} for k, (n, c) in self.kinds.items()},
            "random": {
                "rate": self.random_rate,
                "selected": self.random_selected,
                "selection_rate": round(self.selection_rate, 6),
            },
            "per_minute": round(60 * self.declarations / self.seconds) if self.seconds else None,
        }


def evaluate_set(
    store: Store,
    membership_: ms.Membership,
    labels: list[Labelled],
    config: RiskConfig,
    *,
    org: str = "border",
    progress: Callable[[int], object] | None = None,
) -> Evaluation:
    """Score every labelled declaration in order, as the customs node would have."""
    scorer = Scorer(store, membership_, config)
    began = perf_counter()
    scorer.preload(org, limit=len(labels) * 2)
    result = Evaluation(random_rate=config.random.rate)
    stopped: set[str] = set()
    lane_of: dict[str, Lane] = {}
    for n, label in enumerate(labels, 1):
        record = store.declaration(label.reference, org)
        if record is None:
            raise LookupError(f"expected declaration {label.reference} in the store, found none")
        assessment = scorer.score(record)
        lane_of[label.reference] = assessment.lane
        result.lanes[assessment.lane.value] = result.lanes.get(assessment.lane.value, 0) + 1
        result.random_selected += assessment.selected
        if assessment.lane in (Lane.RED, Lane.YELLOW):
            stopped.add(label.reference)
            for reason in assessment.reasons:
                if reason.code == "R9":
                    stopped.update(str(e["declaration"]) for e in reason.evidence)
        if progress is not None and n % 100 == 0:
            progress(100)
    result.seconds = perf_counter() - began
    for label in labels:
        result.declarations += 1
        inspected = label.reference in stopped
        result.inspected += inspected
        result.red += lane_of[label.reference] is Lane.RED
        if label.falsified is None:
            result.false_alarms += inspected
            continue
        result.falsified += 1
        result.caught += inspected
        counts = result.kinds.setdefault(label.falsified, [0, 0])
        counts[0] += 1
        counts[1] += inspected
    result.kinds = dict(sorted(result.kinds.items(), key=lambda kv: int(kv[0][1:])))
    return result
