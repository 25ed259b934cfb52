"""The lane where people see it (issue 16, item 4): the declaration answers of a customs node's
API (``POST /api/v1/declarations`` 201 and ``GET /api/v1/declarations/{ref}``) and
``medtrace customs declare`` carry each declaration's score, lane and reasons, on real node
data directories (the customs tests' consortium)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node.tokens import TokenRole
from tests.customs.conftest import (  # noqa: F401 (fixtures)
    _no_ambient_passphrase,
    consortium_dir,
    declaration_request,
    make_node,
    template_nodes,
)
from tests.customs.test_cli import Site, sites  # noqa: F401 (a fixture: real node processes)
from tests.nodes_setup import NodeFactory


def test_declaration_answer_carries_lane_and_reasons(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    border = make_node("border")
    answer = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 201, answer.json
    (declared,) = answer.json["declared"]
    risk = declared["risk"]
    # the example's pallet SSCC was never commissioned on this ledger: red, R1 first
    assert risk["lane"] == "red"
    assert risk["reasons"][0]["code"] == "R1"
    assert risk["reasons"][0]["evidence"][0]["package"].endswith("/00/040123450000000016")
    assert all(r["rationale"] for r in risk["reasons"])
    # as docs/spec/risk.md shows it: a first declaration from this consignor (R8) too
    assert [r["code"] for r in risk["reasons"]] == ["R1", "R8"]
    assert risk["score"] == 90
    shown = border.get("/api/v1/declarations/DE-2026-000123").json
    assert shown["risk"] == risk  # same input, same lane and reasons


def test_declaration_lane_is_not_shown_without_the_commercial_fields(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    border = make_node("border")
    assert border.post("/api/v1/declarations", {"declarations": [declaration_request]}).status_code == 201  # fmt: skip
    token = border.get("/api/v1/declarations/DE-2026-000123", TokenRole.AUDITOR).json
    assert token["risk"]["lane"] == "red"  # an auditor of the node reads the commercial fields


def test_broken_risk_configuration_stores_nothing(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    border = make_node("border")
    border.ctx.config.extra["risk"] = {"lanes": {"red": 1, "yellow": 5}}
    answer = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 500
    assert "risk.lanes" in answer.json["detail"]
    assert border.ctx.store.declaration("DE-2026-000123", "border") is None


def test_customs_declare_shows_the_lane(
    sites: dict[str, Site],  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A real node process and the real command: the table names the lane and its reasons."""
    declaration_request["reference"] = "RISK-CLI-1"
    source = tmp_path / "declarations.json"
    source.write_text(json.dumps([declaration_request]), encoding="utf-8")
    shown = sites["border"].run("customs", "declare", str(source))
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "RISK-CLI-1" in line)
    assert "red" in row
    assert "R1 never_commissioned" in row
    declaration_request["reference"] = "RISK-CLI-2"
    source.write_text(json.dumps([declaration_request]), encoding="utf-8")
    as_json = sites["border"].run("customs", "declare", str(source), "--json")
    (declared,) = json.loads(as_json.stdout)["declared"]
    assert declared["risk"]["lane"] == "red"


def test_r8_ignores_what_was_decided_after_the_declaration(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
) -> None:
    """A seizure recorded later about the same consignor is no part of an earlier
    declaration's history: its lane, asked for again, is the lane it got when lodged."""
    border = make_node("border")
    first = dict(declaration_request, reference="R8-FIRST")
    second = dict(declaration_request, reference="R8-SECOND")
    assert border.post("/api/v1/declarations", {"declarations": [first]}).status_code == 201
    lodged = border.post("/api/v1/declarations", {"declarations": [second]})
    assert lodged.status_code == 201, lodged.json
    (declared,) = lodged.json["declared"]
    seized = border.post("/api/v1/declarations/R8-FIRST/decision", {"decision": "seize"})
    assert seized.status_code == 201, seized.json
    assert border.get("/api/v1/declarations/R8-SECOND").json["risk"] == declared["risk"]
    later = dict(declaration_request, reference="R8-THIRD")
    (third,) = border.post("/api/v1/declarations", {"declarations": [later]}).json["declared"]
    r8 = next(r for r in third["risk"]["reasons"] if r["code"] == "R8")
    assert any(e.get("found") == "seize" for e in r8["evidence"]), r8
