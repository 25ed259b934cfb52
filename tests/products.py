"""Product master data the tests register (docs/spec/customs.md, "Products"): every verdict
names its pack's product, and a GTIN without one is held at the border."""

from __future__ import annotations

from typing import Any

#: Short names, for the scanner's stories and the API's node.
AMOXIL: dict[str, Any] = {
    "name": "Amoxil",
    "commonName": "amoxicillin",
    "form": "capsule, hard",
    "strength": "500 mg",
    "packSize": 16,
    "packType": "blister pack",
    "atc": "J01CA04",
    "hsCode": "300410",
    "netMassKg": "0.025",
    "mah": "Acme Pharma",
    "markets": ["DE"],
}

#: The example of docs/spec/customs.md, reference price included, for the pages and VRS.
AMOXICILLIN_ACME: dict[str, Any] = {
    "name": "Amoxicillin Acme 500 mg hard capsules",
    "commonName": "amoxicillin",
    "form": "capsule, hard",
    "strength": "500 mg",
    "packSize": 20,
    "packType": "blister pack",
    "atc": "J01CA04",
    "hsCode": "300410",
    "netMassKg": "0.028",
    "referencePrice": {"amount": "7.90", "currency": "EUR"},
    "mah": "Acme Pharma GmbH",
    "markets": ["AT", "DE"],
}
