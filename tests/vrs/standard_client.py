"""A client of the GS1 Lightweight Messaging Standard for Verification of Product Identifiers,
written from the standard's text, not from medtrace's code: it builds the request URI by hand
(``<base>/gtin/{gtin}/lot/{lot}/ser/{serial}?exp=YYMMDD&linkType=verificationService&
context=dscsaSaleableReturn&reqGLN=…&corrUUID=…``, the connectivity check
``<base>/checkConnectivity?gtin=…&reqGLN=…&context=…``), sends the bearer token in the
``Authorization`` header and asks for ``application/json``, and checks each answer against a JSON
Schema of the standard's response: ``verificationTimestamp``, ``responderGLN``, ``data`` with
``verified`` and, when not verified, ``verificationFailureReason``, optional ``additionalInfo``,
and ``corrUUID``. Nothing here imports medtrace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema
import requests

#: The standard's verificationFailureReason values (as the DSCSA implementation guideline spells
#: them).
FAILURE_REASONS = [
    "No_match_GTIN_Serial",
    "No_match_GTIN_Serial_Lot",
    "No_match_GTIN_Serial_Expiry",
    "No_match_GTIN_Serial_Lot_Expiry",
    "No_reason_provided",
    "Not_for_re-distribution",
    "Manufacturer_policy",
]
ADDITIONAL_INFO = ["Expired", "ExpirationExtended", "Recalled", "Suspect", "Illegitimate"]

RESPONSE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["verificationTimestamp", "responderGLN", "data"],
    "additionalProperties": False,
    "properties": {
        "verificationTimestamp": {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
        },
        "responderGLN": {"type": "string", "pattern": r"^\d{13}$"},
        "data": {
            "type": "object",
            "required": ["verified"],
            "additionalProperties": False,
            "properties": {
                "verified": {"type": "boolean"},
                "verificationFailureReason": {"enum": FAILURE_REASONS},
                "additionalInfo": {"enum": ADDITIONAL_INFO},
            },
            # a failed verification says why; a verified one has no failure reason
            "if": {"properties": {"verified": {"const": False}}},
            "then": {"required": ["verificationFailureReason"]},
            "else": {"not": {"required": ["verificationFailureReason"]}},
        },
        "corrUUID": {"type": "string"},
    },
}

CONNECTIVITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["responderGLN"],
    "properties": {"responderGLN": {"type": "string", "pattern": r"^\d{13}$"}},
}


@dataclass(frozen=True)
class Requestor:
    base: str  # the verification service's base URI
    token: str | None
    req_gln: str
    timeout: float = 20.0

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def verify_uri(
        self,
        gtin: str,
        lot: str,
        serial: str,
        exp: str,
        corr_uuid: str,
        context: str = "dscsaSaleableReturn",
    ) -> str:
        path = f"/gtin/{gtin}/lot/{quote(lot, safe='')}/ser/{quote(serial, safe='')}"
        query = urlencode(
            {
                "exp": exp,
                "linkType": "verificationService",
                "context": context,
                "reqGLN": self.req_gln,
                "corrUUID": corr_uuid,
            }
        )
        return f"{self.base}{path}?{query}"

    def verify(self, *args: str, **kwargs: str) -> requests.Response:
        return requests.get(
            self.verify_uri(*args, **kwargs), headers=self.headers(), timeout=self.timeout
        )

    def check_connectivity(self, gtin: str) -> requests.Response:
        query = urlencode({"gtin": gtin, "reqGLN": self.req_gln, "context": "dscsaSaleableReturn"})
        return requests.get(
            f"{self.base}/checkConnectivity?{query}", headers=self.headers(), timeout=self.timeout
        )


def standard_answer(response: requests.Response) -> dict[str, Any]:
    """The body of a 200 answer, checked against the standard's response definition."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    jsonschema.validate(body, RESPONSE_SCHEMA)
    return body
