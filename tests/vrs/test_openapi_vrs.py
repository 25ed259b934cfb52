"""The verification-messaging endpoints in the OpenAPI document (generated from the route table):
the standard's parameters and response, a bearer token, the rate limit."""

from __future__ import annotations

from typing import Any

import jsonschema

from api.openapi import document
from api.routes import ROUTES
from tests.vrs.standard_client import RESPONSE_SCHEMA

VERIFY = "/vrs/v1/gtin/{gtin}/lot/{lot}/ser/{serial}"
CONNECTIVITY = "/vrs/v1/checkConnectivity"


def operation(path: str) -> dict[str, Any]:
    paths: dict[str, Any] = document(ROUTES, version="test")["paths"]
    found: dict[str, Any] = paths[path]["get"]
    return found


def test_both_requests_are_in_the_document_guarded_and_authenticated() -> None:
    for path in (VERIFY, CONNECTIVITY):
        op = operation(path)
        assert op["security"] == [{"bearer": []}]
        assert op["x-rate-limited"] is True
        assert op["x-roles"] == ["peer", "verifier"]
        assert {"400", "401", "404", "429"} <= set(op["responses"])


def test_the_verify_operation_has_the_standards_parameters() -> None:
    names = [p["name"] for p in operation(VERIFY)["parameters"]]
    assert names == ["gtin", "lot", "serial", "exp", "linkType", "context", "reqGLN", "corrUUID"]


def test_the_documented_response_conforms_to_the_standard() -> None:
    """An example built from the document's schema is accepted by the standard's schema."""
    schema = operation(VERIFY)["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == set(RESPONSE_SCHEMA["properties"])
    data = schema["properties"]["data"]["properties"]
    example = {
        "verificationTimestamp": "2026-12-04T05:00:00.000Z",
        "responderGLN": "4000000000013",
        "data": {
            "verified": False,
            "verificationFailureReason": data["verificationFailureReason"]["enum"][0],
            "additionalInfo": data["additionalInfo"]["enum"][0],
        },
        "corrUUID": "0b7e2b4c-5d8a-4f3e-9c1d-2a6b8e4f7a90",
    }
    jsonschema.validate(example, schema)
    jsonschema.validate(example, RESPONSE_SCHEMA)
