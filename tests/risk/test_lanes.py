"""Lanes (issue 16, item 2; docs/spec/risk.md "Lanes", ADR 0027): thresholds and rules from the
configuration, the reasons of every non-green lane, the same lane for the same input, and the
random selection: unpredictable without the seed, replayed exactly from the revealed seed, at
its configured rate."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli
from node.risk.indicators import Finding
from node.risk.lanes import (
    Lane,
    RandomSelection,
    RiskConfig,
    RiskConfigError,
    assess,
    assessed,
    commitment,
    draw,
    lane_of,
    load_config,
)
from tests.risk.test_indicators import FIRES, legitimate

SEED = bytes(range(32))


def finding(code: str, weight: int) -> Finding:
    return Finding(code, code.lower(), weight, "Why.", True, True, ({"entry": "e" * 64},))


@pytest.mark.parametrize(
    ("score", "codes", "lane"),
    [
        (0, set(), Lane.GREEN),
        (24, {"R11"}, Lane.GREEN),
        (25, {"R11"}, Lane.YELLOW),
        (59, {"R3", "R11"}, Lane.YELLOW),
        (60, {"R3", "R9"}, Lane.RED),
        (10, {"R2"}, Lane.RED),  # a rule: a clone is red whatever its weight
        (10, {"R6"}, Lane.BLUE),  # below yellow, a value finding goes to post-clearance audit
        (30, {"R6"}, Lane.YELLOW),
    ],
)
def test_lane_thresholds_and_rules(score: int, codes: set[str], lane: Lane) -> None:
    assert lane_of(score, codes, RiskConfig()) is lane


def test_lane_thresholds_come_from_the_configuration() -> None:
    config = load_config({"lanes": {"red": 100, "yellow": 50}, "redWhen": [], "blueWhen": []})
    assert lane_of(60, {"R3", "R9"}, config) is Lane.YELLOW
    assert lane_of(10, {"R2"}, config) is Lane.GREEN


def test_weights_come_from_the_configuration() -> None:
    config = load_config({"weights": {"R5": 70}})
    assert assess(FIRES["R5"](legitimate()), config).lane is Lane.RED
    assert assess(FIRES["R5"](legitimate()), RiskConfig()).lane is Lane.YELLOW


def test_non_green_lane_lists_its_reasons() -> None:
    answer = assess(FIRES["R2"](legitimate()), RiskConfig()).to_json()
    assert answer["lane"] == "red"
    # one pack sold at apo's counter: a clone (R2) the consignor never held (R3), where ten
    # were declared (R7)
    assert [r["code"] for r in answer["reasons"]] == ["R2", "R3", "R7"]
    assert answer["score"] == 70 + 40 + 30
    reason = answer["reasons"][0]
    assert reason["rationale"]
    assert reason["evidence"][0]["status"] == "dispensed"


def test_green_lane_has_no_reasons() -> None:
    answer = assess(legitimate(), RiskConfig()).to_json()
    assert (answer["lane"], answer["score"], answer["reasons"]) == ("green", 0, [])


def test_evidence_is_bounded_and_counted() -> None:
    big = Finding("R2", "inactive_elsewhere", 70, "Why.", True, True,
                  tuple({"pack": str(n)} for n in range(500)))  # fmt: skip
    (reason,) = assessed("DE-1", [big], RiskConfig()).to_json()["reasons"]
    assert len(reason["evidence"]) == 20
    assert reason["more"] == 480


@pytest.mark.parametrize("code", list(FIRES))
def test_same_input_same_lane(code: str) -> None:
    config = RiskConfig(random=RandomSelection(0.5, SEED, commitment(SEED)))
    first = assess(FIRES[code](legitimate()), config).to_json()
    again = assess(FIRES[code](legitimate()), config).to_json()
    assert first == again


def test_random_selection_replays_from_the_revealed_seed() -> None:
    selection = RandomSelection(0.3, SEED, commitment(SEED))
    references = [f"DE-2026-{n:06d}" for n in range(200)]
    chosen = [r for r in references if selection.selects(r)]
    # the auditor, with the seed revealed, the rate and the references only:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["risk", "draw", "--seed", SEED.hex(), "--rate", "0.3", "--commitment",
              commitment(SEED), "--json", *references],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    draws = json.loads(result.output.strip().splitlines()[-1])["draws"]
    assert [r for r in references if draws[r]["selected"]] == chosen


def test_random_selection_is_unpredictable_without_the_seed() -> None:
    references = [f"DE-2026-{n:06d}" for n in range(1000)]
    other = bytes(32)
    mine = {r for r in references if draw(SEED, r) < 0.1}
    guessed = {r for r in references if draw(other, r) < 0.1}
    assert len(mine & guessed) < len(mine) / 3


def test_random_selection_rate_over_10000_draws_within_one_point() -> None:
    for rate in (0.01, 0.05, 0.2):
        selection = RandomSelection(rate, SEED, commitment(SEED))
        picked = sum(selection.selects(f"DE-2026-{n:06d}") for n in range(10_000))
        assert abs(picked / 10_000 - rate) <= 0.01, (rate, picked)


def test_random_selection_raises_a_green_lane_and_says_so() -> None:
    selection = RandomSelection(1.0, SEED, commitment(SEED))
    answer = assess(legitimate(), RiskConfig(random=selection)).to_json()
    assert answer["lane"] == "red"
    assert answer["random"]["selected"] is True
    assert [r["code"] for r in answer["reasons"]] == ["random"]
    assert answer["reasons"][0]["evidence"][0]["commitment"] == commitment(SEED)


def test_draw_with_a_wrong_commitment_is_refused() -> None:
    result = CliRunner().invoke(
        cli, ["risk", "draw", "--seed", SEED.hex(), "--rate", "0.1", "--commitment", "0" * 64, "X"]
    )
    assert result.exit_code == 1
    assert "SHA-256 of the seed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"lanes": {"red": 10, "yellow": 20}}, "risk.lanes"),
        ({"redWhen": ["R99"]}, "risk.redWhen"),
        ({"weights": {"R1": -1}}, "risk.weights"),
        ({"random": {"rate": 2}}, "risk.random.rate"),
        ({"random": {"rate": 0.1}}, "risk.random.seed"),
        ({"random": {"rate": 0.1, "seed": SEED.hex(), "commitment": "0" * 64}}, "commitment"),
        ({"indicators": {"windowDays": "many"}}, "risk.indicators"),
    ],
)
def test_unusable_configuration_is_one_line_naming_the_field(raw: dict[str, Any], message: str) -> None:  # fmt: skip
    with pytest.raises(RiskConfigError, match=message):
        load_config(raw)


def test_seed_must_match_its_published_commitment() -> None:
    config = load_config({"random": {"rate": 0.1, "seed": SEED.hex(), "commitment": commitment(SEED)}})  # fmt: skip
    assert config.random.selects("DE-2026-000001") == (draw(SEED, "DE-2026-000001") < 0.1)


def test_unevaluated_indicators_are_listed() -> None:
    answer = assess(dataclasses.replace(legitimate(), commercial=None), RiskConfig()).to_json()
    assert {u["code"] for u in answer["unevaluated"]} == {"R3", "R5", "R6", "R7", "R8", "R11"}


def test_member_countries_come_from_the_configuration() -> None:
    from node.risk.facts import members  # noqa: PLC0415
    from node.risk.generator import membership  # noqa: PLC0415

    config = load_config({"indicators": {"countries": {"nord": "AT"}}})
    found = members(membership(), config.settings.countries)
    assert (found["nord"].country, found["sunrise"].country) == ("AT", "IN")
