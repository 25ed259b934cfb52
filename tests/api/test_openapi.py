"""The OpenAPI document is generated from the route table and matches the real routes."""

from __future__ import annotations

import re
from pathlib import Path

from api.openapi import openapi_path
from api.problems import TYPE_ROOT, TYPES
from api.routes import ROUTES
from api.web import UNDOCUMENTED_RULES
from tests.api.conftest import Node

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_the_document_lists_exactly_the_applications_routes(acme: Node) -> None:
    document = acme.client.get("/openapi.json").get_json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    rules = list(acme.app.url_map.iter_rules())
    # The web pages and their static files are not API operations (api/web.py): only they
    # may be left out of the document.
    assert {rule.rule for rule in rules} >= UNDOCUMENTED_RULES
    served = {
        (openapi_path(rule.rule), method)
        for rule in rules
        if rule.rule not in UNDOCUMENTED_RULES
        for method in (rule.methods or set()) & METHODS
    }
    assert documented == served
    assert len(served) == len(ROUTES)


def test_the_document_is_openapi_3_1_with_unique_operations(acme: Node) -> None:
    document = acme.client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for path, ops in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for op in ops.values():
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == names
            assert op["responses"]
            for response in op["responses"].values():
                for content in response.get("content", {}).values():
                    ref = content["schema"].get("$ref")
                    assert ref is None or ref == "#/components/schemas/Problem"
            if op["security"]:
                assert op["x-roles"]
                assert "401" in op["responses"]
                assert "403" in op["responses"]
    commission = document["paths"]["/api/v1/commission"]["post"]
    schema = commission["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["gtin", "lot", "expiry"]
    ship = document["paths"]["/api/v1/actions/ship"]["post"]
    assert ship["x-kind"] == "ship"
    assert "x-optional" not in str(document)


def test_rule_arguments_become_template_parameters() -> None:
    assert openapi_path("/api/v1/packs/<gtin>/<path:serial>") == "/api/v1/packs/{gtin}/{serial}"


def test_the_api_spec_names_every_route_and_problem_type() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "spec" / "api.md").read_text()
    for route in ROUTES:
        assert f"{route.method} {openapi_path(route.path)}" in text, route.path
    for slug, (status, _) in TYPES.items():
        assert f"| `{TYPE_ROOT}{slug}` | {status} |" in text, slug
