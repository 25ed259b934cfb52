"""``medtrace risk report --data`` on a real customs node's data directory (``medtrace node
init``, the customs tests' consortium): the declaration lodged through the API, its inspection
outcome recorded through the API, and the report's reasons the same as the declaration answer's."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from medtrace.cli.main import cli
from tests.customs.conftest import (  # noqa: F401 (fixtures)
    _no_ambient_passphrase,
    consortium_dir,
    declaration_request,
    make_node,
    template_nodes,
)
from tests.nodes_setup import NodeFactory

REF = "DE-2026-000123"


def test_risk_report_on_a_customs_node_data_directory(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    border = make_node("border")
    answer = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 201, answer.json
    reasons = [r["code"] for r in answer.json["declared"][0]["risk"]["reasons"]]
    assert reasons == ["R1", "R8"]  # a pallet never commissioned, a new consignor
    inspected = border.post(
        f"/api/v1/declarations/{REF}/inspection",
        {"outcome": "found_falsified", "findings": "no hologram"},
    )
    assert inspected.status_code == 201, inspected.json
    border.ctx.close()  # the report reads the store offline, as an operator would
    result = CliRunner().invoke(cli, ["risk", "report", "--data", str(border.data), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["org"] == "border"
    hit = {"declarations": 1, "inspected": 1, "found": 1, "hit_rate": 1.0}
    for code in reasons:
        assert {k: report["indicators"][code][k] for k in hit} == hit
    assert report["indicators"]["R3"]["declarations"] == 0
    assert report["lanes"]["red"] == hit
    assert report["overall"] == hit
