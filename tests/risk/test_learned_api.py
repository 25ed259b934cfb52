"""The learned score at a customs node (issue 16, item 3; docs/spec/risk.md "The learned score
at the node"): with ``risk.model`` in node.json, ``POST /api/v1/declarations`` and
``GET /api/v1/declarations/{ref}`` add ``learned`` to each declaration's ``risk`` answer, with
its five largest contributions; ``risk.learnedRed`` makes a high score red (reason ``ML``).
Real node data directories of the customs tests' consortium, a model trained on a generated
node store."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medtrace.cli.work.customs import _lanes
from node.risk.declared import SHOWN
from tests.customs.conftest import (  # noqa: F401 (fixtures)
    _no_ambient_passphrase,
    consortium_dir,
    declaration_request,
    make_node,
    template_nodes,
)
from tests.nodes_setup import Node, NodeFactory
from tests.risk.conftest import run

REF = "DE-2026-000123"


def lodged(node: Node, request: dict[str, Any]) -> dict[str, Any]:
    answer = node.post("/api/v1/declarations", {"declarations": [request]})
    assert answer.status_code == 201, answer.json
    risk: dict[str, Any] = answer.json["declared"][0]["risk"]
    return risk


def with_risk(node: Node, risk: dict[str, Any]) -> Node:
    node.ctx.config.extra["risk"] = risk
    return node


def test_learned_score_shown_with_its_contributions(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    node_model: Path,
) -> None:
    border = with_risk(make_node("border"), {"model": str(node_model)})
    risk = lodged(border, declaration_request)
    learned = risk["learned"]
    assert 0.0 <= learned["score"] <= 1.0
    manifest = (node_model / "model.json").read_bytes()
    assert learned["model"] == hashlib.sha256(manifest).hexdigest()
    contributions = learned["contributions"]
    assert len(contributions) == SHOWN == 5
    assert all(set(c) == {"feature", "value", "contribution"} for c in contributions)
    sizes = [abs(c["contribution"]) for c in contributions]
    assert sizes == sorted(sizes, reverse=True)
    # the pallet was never commissioned: R1 fired, and the model sees it as a feature
    assert risk["reasons"][0]["code"] == "R1"
    # the lane is the rules' own: no risk.learnedRed here
    assert risk["lane"] == "red"
    assert "ML" not in [r["code"] for r in risk["reasons"]]
    shown = border.get(f"/api/v1/declarations/{REF}").json["risk"]
    assert shown == risk  # the same declaration, the same score and contributions


def test_no_model_no_learned_score(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    node_model: Path,
) -> None:
    """Without risk.model the answer has no ``learned`` member, and with one everything else in
    it is the same."""
    plain = lodged(make_node("border"), declaration_request)
    assert "learned" not in plain
    learned = lodged(
        with_risk(make_node("border", name="border-learned"), {"model": str(node_model)}),
        declaration_request,
    )
    assert {k: v for k, v in learned.items() if k != "learned"} == plain


def test_learned_red_makes_the_lane_red_with_reason_ml(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    node_model: Path,
) -> None:
    border = with_risk(make_node("border"), {"model": str(node_model), "learnedRed": 1e-9,
                                              "lanes": {"red": 1000, "yellow": 900},
                                              "redWhen": []})  # fmt: skip
    risk = lodged(border, declaration_request)
    assert risk["lane"] == "red"
    ml = next(r for r in risk["reasons"] if r["code"] == "ML")
    assert ml["name"] == "learned_score"
    assert ml["evidence"] == [
        {"score": risk["learned"]["score"], "threshold": 1e-9, "model": risk["learned"]["model"]}
    ]
    calm = with_risk(make_node("border", name="border-calm"), {"model": str(node_model),
                                           "lanes": {"red": 1000, "yellow": 900},
                                           "redWhen": []})  # fmt: skip
    assert lodged(calm, declaration_request)["lane"] != "red"


def _edited_booster(model: Path, tmp: Path) -> str:
    copy = tmp / "edited"
    shutil.copytree(model, copy)
    with (copy / "booster.txt").open("a") as booster:
        booster.write("\n")
    return str(copy)


def _kcs_format(model: Path, tmp: Path) -> str:
    copy = tmp / "kcs"
    shutil.copytree(model, copy)
    manifest = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**manifest, "format": "kcs"}))
    return str(copy)


def _a_file(_: Path, tmp: Path) -> str:
    (tmp / "model.txt").write_text("not a model")
    return str(tmp / "model.txt")


#: scenario -> the risk section (given the trained model and a scratch directory), and what
#: the one line says
BROKEN: dict[str, tuple[Callable[[Path, Path], dict[str, Any]], str]] = {
    "missing_directory": (lambda _m, _t: {"model": "no-such-model"},
                          "risk.model: ", ),
    "a_file": (lambda m, t: {"model": _a_file(m, t)}, "expected a risk model directory, found a file"),
    "edited_booster": (lambda m, t: {"model": _edited_booster(m, t)}, "sha256 differs"),
    "a_kcs_model": (lambda m, t: {"model": _kcs_format(m, t)},
                    "expected a model of --format medtrace, found one of 'kcs'"),
    "model_not_text": (lambda _m, _t: {"model": 7}, "risk.model: expected the path of a model directory"),
    "threshold_above_1": (lambda m, _t: {"model": str(m), "learnedRed": 1.5},
                          "risk.learnedRed: expected a probability above 0 and at most 1"),
    "threshold_without_model": (lambda _m, _t: {"learnedRed": 0.9},
                                "risk.learnedRed: expected risk.model beside it"),
}  # fmt: skip


@pytest.mark.parametrize("scenario", list(BROKEN))
def test_broken_model_is_one_line_error(
    scenario: str,
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    node_model: Path,
    tmp_path: Path,
) -> None:
    """A risk.model that is missing, not a model, edited or of another format refuses the
    declaration batch in one line, and nothing is stored."""
    section, says = BROKEN[scenario]
    border = with_risk(make_node("border"), section(node_model, tmp_path))
    answer = border.post("/api/v1/declarations", {"declarations": [declaration_request]})
    assert answer.status_code == 500
    assert answer.json["type"] == "urn:medtrace:problem:internal"
    detail = answer.json["detail"]
    assert detail.startswith("this node's risk configuration is not usable: risk.")
    assert says in detail
    assert "\n" not in detail
    assert border.ctx.store.declaration(REF, "border") is None
    if scenario == "missing_directory":
        assert f"{border.data / 'no-such-model'}: expected a risk model directory" in detail


def test_customs_declare_shows_the_learned_score(capsys: pytest.CaptureFixture[str]) -> None:
    """The table of `medtrace customs declare` gains a "learned" column when the node answers a
    learned score, and keeps its columns when it does not."""
    risk = {"lane": "red", "score": 60, "reasons": [{"code": "R1", "name": "never_commissioned"}]}
    learned = {"score": 0.934, "model": "ab" * 32,
               "contributions": [{"feature": "R1_never_commissioned", "value": "1",
                                  "contribution": 2.13}]}  # fmt: skip
    _lanes([{"reference": "DE-1", "risk": risk}])
    plain = capsys.readouterr().out
    assert "learned" not in plain
    _lanes([{"reference": "DE-1", "risk": {**risk, "learned": learned}}])
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if "reference" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "reference",
        "lane",
        "score",
        "learned",
        "reasons",
    ]
    row = next(line for line in table.splitlines() if "DE-1" in line)
    assert "0.93 (R1_never_commissioned +2.1)" in row


def test_train_on_a_customs_node_data_directory(
    make_node: NodeFactory,  # noqa: F811
    declaration_request: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A node made by `medtrace node init`, declarations and outcomes through the API, the
    model trained offline on its data directory and then configured at the node."""
    border = make_node("border")
    outcomes = {"DE-2026-000201": "found_falsified", "DE-2026-000202": "found_compliant",
                "DE-2026-000203": None}  # fmt: skip
    for reference, outcome in outcomes.items():
        lodged(border, {**declaration_request, "reference": reference})
        if outcome is not None:
            inspected = border.post(f"/api/v1/declarations/{reference}/inspection",
                                    {"outcome": outcome})  # fmt: skip
            assert inspected.status_code == 201, inspected.json
    border.ctx.close()
    model = tmp_path / "model"
    trained = run("risk", "train", "--format", "medtrace", "--data", str(border.data),
                  "--out", str(model), "--json")  # fmt: skip
    assert trained.exit_code == 0, trained.output + trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["rows"] == 2  # one not inspected
    measured = run("risk", "evaluate", "--format", "medtrace", "--model", str(model), "--data",
                   str(border.data), "--json")  # fmt: skip
    assert measured.exit_code == 0, measured.output + measured.stderr
    answer = json.loads(measured.stdout.strip().splitlines()[-1])
    assert (answer["rows"], answer["fraud_rate"]) == (2, 0.5)
    again = with_risk(make_node("border", name="border-again"), {"model": str(model)})
    assert set(lodged(again, declaration_request)["learned"]) == {"score", "model",
                                                                  "contributions"}  # fmt: skip
