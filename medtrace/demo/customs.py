"""The demo's customs work: the manufacturer registers the product, customs lodge the pallet's
import declaration at the border, verify the whole consignment on their node and decide; every
failed scan is reported to the scanning node, which raises an alert every node receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.failed_checks import evidence_reasons
from node.localnet.actors import Actor
from node.localnet.http_actor import HttpNode
from scanner.verdict import Scanned, Verdict

DECLARATION = "DEMO-2026-000001"

PRODUCT: dict[str, Any] = {
    "name": "Paracetamol Demo",
    "commonName": "paracetamol",
    "form": "tablet",
    "strength": "500 mg",
    "packSize": 20,
    "packType": "blister pack",
    "atc": "N02BE01",
    "hsCode": "300490",
    "netMassKg": "0.012",
    "referencePrice": {"amount": "3.20", "currency": "EUR"},
    "mah": "Acme Pharma",
    "markets": ["DE", "FR"],
}


@dataclass(frozen=True)
class Consignment:
    """A consignment answer of ``POST /api/v1/scan``, shortened for the report."""

    verdict: str
    checked: int
    total: int
    reasons: dict[str, int]
    products: list[str]
    agrees: bool | None

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Consignment:
        check = answer.get("declaration_check")
        return cls(
            str(answer["verdict"]),
            int(answer["checked"]),
            int(answer["total"]),
            {str(k): int(v) for k, v in dict(answer.get("reasons") or {}).items()},
            [str(p.get("name") or p["gtin"]) for p in answer.get("products") or []],
            None if check is None else bool(check["agrees"]),
        )

    def note(self) -> str:
        counted = ", ".join(f"{n:,} {code}" for code, n in sorted(self.reasons.items()))
        agreed = (
            ""
            if self.agrees is None
            else "; declaration agrees with the ledger"
            if self.agrees
            else "; declaration disagrees with the ledger"
        )
        return (
            f"{self.checked:,} of {self.total:,} packs checked ({', '.join(self.products)})"
            f"{': ' + counted if counted else ''}{agreed}"
        )


def register_product(actor: Actor, gtin: str) -> str:
    """The product's name once ``actor`` (the manufacturer) has registered ``gtin``."""
    answer = _http(actor).call("POST", "/api/v1/products", body={"gtin": gtin, **PRODUCT})
    return str(answer["product"]["product"]["name"])


@dataclass(frozen=True)
class Lane:
    """The risk lane customs' node gave a declaration (docs/spec/risk.md)."""

    reference: str
    lane: str
    score: int
    codes: list[str]

    @classmethod
    def of(cls, declared: dict[str, Any]) -> Lane:
        risk = declared.get("risk") or {}
        return cls(
            str(declared["reference"]),
            str(risk.get("lane", "—")),
            int(risk.get("score", 0)),
            [f"{r['code']} {r['name']}" for r in risk.get("reasons", [])],
        )

    def note(self) -> str:
        why = f": {', '.join(self.codes)}" if self.codes else ""
        return f"{self.reference}: {self.lane} lane, score {self.score}{why}"


def declare(actor: Actor, *, sscc: str, gtin: str, quantity: int) -> Lane:
    """Lodge the pallet's import declaration at ``actor`` (the customs post); its lane.
    Consignor and consignee name the ledger's organisations by their ids, so the node can
    compare the declaration with who holds the packs."""
    declaration = {
        "reference": DECLARATION,
        "consignor": {
            "name": "Northwind Wholesale",
            "id": "distributor",
            "address": {"city": "Lyon", "country": "FR"},
        },
        "consignee": {
            "name": "Market Square Pharmacy",
            "id": "pharmacy",
            "addressType": "business",
            "address": {"city": "Kehl", "country": "DE"},
        },
        "declarant": {"name": "Demo Brokers", "address": {"city": "Kehl", "country": "DE"}},
        "countryOfOrigin": "FR",
        "countryOfDispatch": "FR",
        "transportMode": 3,
        "officeOfEntry": "DE004711",
        "goods": [
            {
                "hsCode": PRODUCT["hsCode"],
                "description": f"{PRODUCT['name']} {PRODUCT['strength']} tablets, 20 per pack",
                "gtin": gtin,
                "quantity": quantity,
                "netMassKg": f"{quantity * 12 / 1000:.3f}",
                "value": {"amount": f"{quantity * 320 / 100:.2f}", "currency": "EUR"},
            }
        ],
        "packages": [{"sscc": sscc}],
    }
    answer = _http(actor).call("POST", "/api/v1/declarations", body={"declarations": [declaration]})
    return Lane.of(answer["declared"][0])


def declare_parcels(actor: Actor, *, gtin: str, serials: list[str]) -> list[Lane]:
    """Low-value postal parcels of one pack each, sent by the pharmacy's web shop to private
    buyers across the border, lodged at ``actor`` (the customs post); their lanes."""
    parcels = [
        {
            "reference": f"DEMO-PARCEL-{n:04d}",
            "consignor": {
                "name": "Market Square Pharmacy",
                "id": "pharmacy",
                "address": {"city": "Kehl", "country": "DE"},
            },
            "consignee": {
                "name": f"Buyer {n}",
                "addressType": "private",
                "address": {"street": f"Rue {n}", "city": "Strasbourg", "postcode": "67000",
                            "country": "FR"},
            },
            "declarant": {"name": "Demo Post", "address": {"city": "Kehl", "country": "DE"}},
            "countryOfOrigin": "FR",
            "countryOfDispatch": "FR",
            "transportMode": 5,
            "officeOfEntry": "DE004711",
            "consignmentType": "postal",
            "lowValue": True,
            "goods": [
                {
                    "hsCode": PRODUCT["hsCode"],
                    "description": f"{PRODUCT['name']} {PRODUCT['strength']} tablets, 20 per pack",
                    "gtin": gtin,
                    "quantity": 1,
                    "netMassKg": PRODUCT["netMassKg"],
                    "value": {"amount": "3.20", "currency": "EUR"},
                }
            ],
            "packages": [{"gtin": gtin, "serial": serial}],
        }
        for n, serial in enumerate(serials, start=1)
    ]  # fmt: skip
    answer = _http(actor).call("POST", "/api/v1/declarations", body={"declarations": parcels})
    return [Lane.of(d) for d in answer["declared"]]


def verify_consignment(actor: Actor, body: dict[str, Any]) -> Consignment:
    """Every pack of a declaration or a container, checked on ``actor``'s node."""
    return Consignment.of(_http(actor).call("POST", "/api/v1/scan", body=body))


def decide_declaration(actor: Actor, reference: str, decision: str, note: str) -> str:
    """Customs' decision on the declaration; the decision in force afterwards."""
    answer = _http(actor).call(
        "POST",
        f"/api/v1/declarations/{reference}/decision",
        body={"decision": decision, "note": note},
    )
    return str(answer["decision"])


def report_failed_scan(actor: Actor, scanned: Scanned, verdict: Verdict, context: str) -> bool:
    """Report a scan that failed on evidence about the pack (a REJECT, or a HOLD not caused by
    the scan or the network) to ``actor``'s node, as ``medtrace scan`` does; whether it did."""
    codes = evidence_reasons(verdict.decision.value, [r.code for r in verdict.reasons])
    if not codes or not isinstance(actor, HttpNode):
        return False
    body: dict[str, Any] = {
        "packs": [verdict.pack],
        "verdict": verdict.decision.value,
        "reasons": codes,
        "context": context,
    }
    if scanned.lot is not None:
        body["lot"] = scanned.lot
    if scanned.expiry is not None:
        body["expiry"] = scanned.expiry
    actor.call("POST", "/api/v1/checks", body=body)
    return True


def failed_check_alerts(actor: Actor) -> dict[str, set[str]]:
    """The failed-check alerts ``actor``'s node holds: pack URI → alert codes."""
    found: dict[str, set[str]] = {}
    for code in ("check_rejected", "check_held"):
        answer = _http(actor).call("GET", f"/api/v1/alerts?code={code}")
        for alert in answer["alerts"]:
            found.setdefault(str(alert["subject"]), set()).add(code)
    return found


def _http(actor: Actor) -> HttpNode:
    if not isinstance(actor, HttpNode):
        raise RuntimeError(f"{actor.name}: the customs steps need a node process over HTTP")
    return actor
