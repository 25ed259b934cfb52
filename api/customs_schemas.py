"""The JSON schemas of product registrations and import declarations (ADR 0020).

``DECLARATION`` is the JSON Schema docs/spec/customs.md publishes (a test holds the two
equal); the ledger's checks (``ledger/lifecycle/products.py``, ``declarations.py``) add what a
schema cannot say, such as an HS code of chapter 30 for a medicine.
"""

from __future__ import annotations

from api.schemas import WIRE
from api.validation import Schema

MAX_DECLARATIONS = 1_000
MAX_PACKAGES = 10_000

_TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
_DECIMAL: Schema = {
    "type": "string",
    "pattern": r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$",
    "description": "A decimal number as a string (entries carry no floats).",
}
_COUNTRY: Schema = {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2."}
_MONEY: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["amount", "currency"],
    "properties": {
        "amount": _DECIMAL,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217."},
    },
}
_HS6: Schema = {"type": "string", "pattern": "^[0-9]{6}$", "description": "HS code, 6 digits."}

PRODUCT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "gtin",
        "name",
        "commonName",
        "form",
        "strength",
        "packSize",
        "packType",
        "atc",
        "hsCode",
        "netMassKg",
        "referencePrice",
        "mah",
        "markets",
    ],
    "properties": {
        "gtin": {"type": "string", "format": "gtin", "description": "GTIN-8/12/13/14."},
        "name": _TEXT,
        "commonName": {**_TEXT, "description": "The INN (international non-proprietary name)."},
        "form": {**_TEXT, "maxLength": 100, "description": "Pharmaceutical form (EDQM term)."},
        "strength": {**_TEXT, "maxLength": 100},
        "packSize": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "packType": {**_TEXT, "maxLength": 50},
        "atc": {"type": "string", "pattern": "^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"},
        "hsCode": {**_HS6, "description": "HS code, 6 digits, chapter 30 (30xxxx)."},
        "netMassKg": {**_DECIMAL, "description": "Net mass of one pack in kg, a decimal string."},
        "referencePrice": {**_MONEY, "description": "Sealed: committed, not shown to others."},
        "mah": {**_TEXT, "description": "Marketing-authorisation holder."},
        "markets": {"type": "array", "minItems": 1, "maxItems": 250, "items": _COUNTRY},
    },
}
PRODUCT_SHOWN: Schema = {
    "type": "object",
    "properties": {
        "gtin": {"type": "string"},
        "owner": {"type": "string"},
        "entry": {"type": "string"},
        "feed": {"type": "string"},
        "ts": {"type": "string"},
        "version": {"type": "integer"},
        "product": {"type": "object"},
        "sealed": {"type": "object"},
        "referencePrice": _MONEY,
    },
}
PRODUCT_REGISTERED: Schema = {
    "type": "object",
    "required": ["entry", "product"],
    "properties": {"entry": WIRE, "product": PRODUCT_SHOWN},
}


def _party(*, consignee: bool = False) -> Schema:
    required = ["name", "address", *(["addressType"] if consignee else [])]
    properties: dict[str, Schema] = {
        "name": _TEXT,
        "id": {**_TEXT, "maxLength": 35, "description": "EORI or national trader id."},
        "address": {
            "type": "object",
            "additionalProperties": False,
            "required": ["country"],
            "properties": {
                "street": _TEXT,
                "city": _TEXT,
                "postcode": {**_TEXT, "maxLength": 17},
                "country": _COUNTRY,
            },
        },
    }
    if consignee:
        properties["addressType"] = {"enum": ["business", "private"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


DECLARATION: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "reference",
        "consignor",
        "consignee",
        "declarant",
        "countryOfOrigin",
        "countryOfDispatch",
        "transportMode",
        "officeOfEntry",
        "goods",
        "packages",
    ],
    "properties": {
        "reference": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9/-]{0,34}$"},
        "mrn": {"type": "string", "pattern": "^[0-9]{2}[A-Z]{2}[A-Z0-9]{14}$"},
        "consignor": _party(),
        "consignee": _party(consignee=True),
        "declarant": _party(),
        "countryOfOrigin": _COUNTRY,
        "countryOfDispatch": _COUNTRY,
        "transit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "countries": {"type": "array", "maxItems": 50, "items": _COUNTRY},
                "freeZones": {"type": "array", "maxItems": 50, "items": _TEXT},
            },
        },
        "transportMode": {"enum": [1, 2, 3, 4, 5, 7, 8]},
        "officeOfEntry": {"type": "string", "pattern": "^[A-Z]{2}[A-Z0-9]{6}$"},
        "consignmentType": {"enum": ["general", "postal", "express"]},
        "lowValue": {"type": "boolean"},
        "goods": {
            "type": "array",
            "minItems": 1,
            "maxItems": 999,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["hsCode", "description", "quantity", "netMassKg", "value"],
                "properties": {
                    "hsCode": _HS6,
                    "description": {**_TEXT, "maxLength": 512},
                    "gtin": {"type": "string", "format": "gtin"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 100_000_000},
                    "netMassKg": _DECIMAL,
                    "value": _MONEY,
                },
            },
        },
        "packages": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_PACKAGES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "sscc": {"type": "string", "format": "sscc"},
                    "gtin": {"type": "string", "format": "gtin"},
                    "serial": {"type": "string", "format": "gs1-cset82"},
                    "lot": {"type": "string", "format": "gs1-cset82"},
                    "expiry": {"type": "string", "format": "date"},
                },
                "oneOf": [
                    {
                        "required": ["sscc"],
                        "not": {"anyOf": [{"required": ["lot"]}, {"required": ["expiry"]}]},
                    },
                    {"required": ["gtin", "serial"]},
                ],
                "x-oneOf-message": (
                    "expected a package as {'sscc'} or {'gtin', 'serial'} "
                    "(with 'lot' and 'expiry' if known)"
                ),
            },
        },
    },
}
DECLARATIONS: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["declarations"],
    "properties": {
        "declarations": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_DECLARATIONS,
            "items": DECLARATION,
        }
    },
}
#: The lane a declaration got where its commercial fields are read (docs/spec/risk.md).
_RISK: Schema = {
    "type": ["object", "null"],
    "properties": {
        "score": {"type": "integer"},
        "lane": {"type": "string", "enum": ["green", "yellow", "red", "blue"]},
        "reasons": {"type": "array", "items": {"type": "object"}},
        "unevaluated": {"type": "array", "items": {"type": "object"}},
        "random": {"type": "object"},
        "learned": {
            "description": "Only where risk.model is configured (docs/spec/risk.md).",
            "type": "object",
            "properties": {
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "model": {"type": "string"},
                "contributions": {
                    "type": "array",
                    "maxItems": 5,
                    "items": {
                        "type": "object",
                        "properties": {
                            "feature": {"type": "string"},
                            "value": {"type": "string"},
                            "contribution": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
}
DECLARED: Schema = {
    "type": "object",
    "properties": {
        "declared": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "reference": {"type": "string"},
                    "entry": {"type": "string"},
                    "packages": {"type": "integer"},
                    "risk": _RISK,
                },
            },
        }
    },
}
DECLARATION_SHOWN: Schema = {
    "type": "object",
    "properties": {
        "reference": {"type": "string"},
        "organisation": {"type": "string"},
        "entry": {"type": "string"},
        "version": {"type": "integer"},
        "declaration": {"type": "object"},
        "packages": {"type": "array", "items": {"type": "string"}},
        "sealed": {"type": "object"},
        "commercial": {"description": "The clear sealed fields; null where not held."},
        "decisions": {"type": "array", "items": {"type": "object"}},
        "decision": {"type": ["object", "null"]},
        "outcomes": {"type": "array", "items": {"type": "object"}},
        "outcome": {"type": ["object", "null"]},
        "risk": _RISK,
    },
}
