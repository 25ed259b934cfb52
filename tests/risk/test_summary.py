"""``GET /api/v1/risk/summary`` (issue 16, item 4; docs/spec/risk.md "Over time"): the weekly
counts behind the ``/risk`` chart, on real node data directories (the customs tests'
consortium), exact for a few declarations, decisions and outcomes over two weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from api.risk_routes import week_of
from node.tokens import TokenRole
from tests.customs.conftest import (  # noqa: F401 (fixtures)
    _no_ambient_passphrase,
    consortium_dir,
    declaration_request,
    make_node,
    template_nodes,
)
from tests.nodes_setup import Node, NodeFactory

SUMMARY = "/api/v1/risk/summary"


def _lodge(border: Node, request: dict[str, Any], reference: str) -> None:
    answer = border.post("/api/v1/declarations", {"declarations": [request | {"reference": reference}]})  # fmt: skip
    assert answer.status_code == 201, answer.json


def _a_week_earlier(node: Node, reference: str) -> None:
    """Date every record about ``reference`` seven days back: the chart's second week."""
    engine = create_engine(node.ctx.store.url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE records SET ts = strftime('%Y-%m-%dT%H:%M:%fZ', ts, '-7 days') "
                "WHERE key = :key"
            ),
            {"key": f"border/{reference}"},
        )
    engine.dispose()


@pytest.fixture
def border(make_node: NodeFactory, declaration_request: dict[str, Any]) -> Node:  # noqa: F811
    """Last week: A lodged, held, found falsified. This week: B and C lodged, B released, C
    not inspected."""
    node = make_node("border")
    for reference in ("RISK-A", "RISK-B", "RISK-C"):
        _lodge(node, declaration_request, reference)
    for reference, path, body in (
        ("RISK-A", "decision", {"decision": "hold", "note": "x-ray"}),
        ("RISK-A", "inspection", {"outcome": "found_falsified", "findings": "no hologram"}),
        ("RISK-B", "decision", {"decision": "release"}),
        ("RISK-C", "inspection", {"outcome": "not_inspected"}),
    ):
        answer = node.post(f"/api/v1/declarations/{reference}/{path}", body)
        assert answer.status_code == 201, answer.json
    _a_week_earlier(node, "RISK-A")
    return node


def test_summary_counts_each_week_exactly(border: Node) -> None:
    answer = border.get(f"{SUMMARY}?weeks=3")
    assert answer.status_code == 200, answer.json
    body = answer.json
    now = datetime.now(UTC).date()
    assert [w["week"] for w in body["weeks"]] == [week_of(now - timedelta(weeks=n)) for n in (2, 1, 0)]  # fmt: skip
    oldest, last, this = body["weeks"]
    assert oldest["declarations"] == 0
    assert oldest["lanes"] == dict.fromkeys(("green", "yellow", "red", "blue"), 0)
    assert last["declarations"] == 1
    assert last["decisions"] == {"release": 0, "hold": 1, "detain": 0, "seize": 0}
    assert last["outcomes"] == {"found_falsified": 1, "found_compliant": 0, "not_inspected": 0}
    assert this["declarations"] == 2
    assert this["decisions"] == {"release": 1, "hold": 0, "detain": 0, "seize": 0}
    assert this["outcomes"] == {"found_falsified": 0, "found_compliant": 0, "not_inspected": 1}
    # the example pallet was never commissioned: every declaration of it is red (R1)
    assert last["lanes"]["red"] == 1
    assert this["lanes"]["red"] == 2
    assert sum(last["lanes"].values()) == 1
    assert sum(this["lanes"].values()) == 2
    assert this["random"] in (0, 1, 2)
    assert body["lanes_unavailable"] is None
    assert body["role"] == "customs"


def test_summary_default_is_twelve_weeks_for_an_auditor(border: Node) -> None:
    answer = border.get(SUMMARY, TokenRole.AUDITOR)
    assert answer.status_code == 200, answer.json
    assert len(answer.json["weeks"]) == 12
    assert sum(w["declarations"] for w in answer.json["weeks"]) == 3


def test_regulator_summary_has_no_lanes_and_says_why(make_node: NodeFactory) -> None:  # noqa: F811
    answer = make_node("reg").get(SUMMARY)
    assert answer.status_code == 200, answer.json
    assert answer.json["lanes_unavailable"].startswith("lanes are scored")
    assert all(w["lanes"] is None and w["random"] is None for w in answer.json["weeks"])


@pytest.mark.parametrize(
    ("org", "role", "status"),
    [
        ("border", TokenRole.VERIFIER, 403),
        ("reg", TokenRole.VERIFIER, 403),
        ("acme", TokenRole.OPERATOR, 404),  # a manufacturer holds no declarations
        ("apo", TokenRole.AUDITOR, 404),
    ],
    ids=["customs-verifier", "regulator-verifier", "manufacturer-operator", "pharmacy-auditor"],
)
def test_summary_refuses_other_roles_and_nodes(
    make_node: NodeFactory,  # noqa: F811
    org: str,
    role: TokenRole,
    status: int,
) -> None:
    answer = make_node(org).get(SUMMARY, role)
    assert answer.status_code == status
    assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("weeks", ["0", "105", "x", "-1", "1.5"])
def test_bad_weeks_is_a_problem(make_node: NodeFactory, weeks: str) -> None:  # noqa: F811
    answer = make_node("border").get(f"{SUMMARY}?weeks={weeks}")
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert answer.json["parameter"] == "weeks"
