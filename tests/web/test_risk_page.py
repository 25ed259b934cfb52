"""The risk page (issue 16, item 4), in Debian's Chromium against real node processes: a
customs node's declarations, decisions and inspection outcomes over two weeks drawn as bars per
week (by lane) with a legend; a regulator node's page says why it has no lanes; a phone's width
holds the charts without sideways scrolling."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.risk_routes import week_of
from node.config import DB_FILE
from tests.api.conftest import init_node
from tests.api.test_server import Running, create_token, free_port, start
from tests.web.browsing import NEEDS_CHROMIUM, use_token
from tests.web.shots import shoot
from tests.web.test_customs_page import declaration
from tests.web.test_dispense_page import post_201

pytestmark = NEEDS_CHROMIUM

#: Lodged last week (A: held, found falsified) and this week (B released, C not inspected).
LAST_WEEK = ("RISK-WEB-A",)
THIS_WEEK = ("RISK-WEB-B", "RISK-WEB-C")


@dataclass
class Site:
    url: str
    operator: str
    shots: Path


def _a_week_earlier(data: Path, references: tuple[str, ...]) -> None:
    with sqlite3.connect(data / DB_FILE) as conn:
        conn.executemany(
            "UPDATE records SET ts = strftime('%Y-%m-%dT%H:%M:%fZ', ts, '-7 days') WHERE key = ?",
            [(f"border/{r}",) for r in references],
        )


@pytest.fixture(scope="module")
def border(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web-risk")
    data = init_node(consortium_dir, root / "border", "border/post", workers=1, threads=2)
    operator = create_token(data, "operator", "officer")
    running: Running = start(data, free_port(), root)
    try:
        for reference in LAST_WEEK + THIS_WEEK:
            post_201(running.url, operator, "declarations", {"declarations": [declaration(reference)]})  # fmt: skip
        steps: tuple[tuple[str, dict[str, object]], ...] = (
            ("RISK-WEB-A/decision", {"decision": "hold"}),
            ("RISK-WEB-A/inspection", {"outcome": "found_falsified", "findings": "no hologram"}),
            ("RISK-WEB-B/decision", {"decision": "release"}),
            ("RISK-WEB-C/inspection", {"outcome": "not_inspected"}),
        )
        for path, body in steps:
            post_201(running.url, operator, f"declarations/{path}", body)
    finally:
        running.stop(signal.SIGTERM)
    _a_week_earlier(data, LAST_WEEK)
    running = start(data, free_port(), root)
    try:
        shots = root / "screenshots"
        shots.mkdir()
        yield Site(running.url, operator, shots)
    finally:
        running.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def regulator(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web-risk-reg")
    data = init_node(consortium_dir, root / "reg", "reg/office", workers=1, threads=2)
    running: Running = start(data, free_port(), root)
    try:
        yield Site(running.url, create_token(data, "auditor", "inspector"), root)
    finally:
        running.stop(signal.SIGKILL)


def test_risk_chart_shows_bars_for_the_weeks_with_data(
    page: Page, border: Site, console: list[str]
) -> None:
    today = datetime.now(UTC).date()
    page.goto(f"{border.url}/risk")
    use_token(page, border.operator)
    expect(page.locator("#risk-summary")).to_contain_text("3 declarations lodged")
    expect(page.locator("#risk-summary")).to_contain_text("1 inspected, 1 found falsified")
    lanes = page.locator("#lanes-chart svg")
    expect(lanes.locator("title").first).to_have_text("Declarations per week by lane")
    # the example pallet was never commissioned here: red (R1), one last week, two this week
    red = lanes.locator("rect[data-series=red]")
    expect(red).to_have_count(2)
    weeks = [week_of(today - timedelta(weeks=1)), week_of(today)]
    assert [red.nth(i).get_attribute("data-week") for i in range(2)] == weeks
    assert float(red.nth(1).get_attribute("height") or 0) > float(red.nth(0).get_attribute("height") or 0)  # fmt: skip
    expect(page.locator("#lanes-chart .chart__legend li")).to_have_text(
        ["Green: release", "Yellow: documents", "Red: inspection", "Blue: audit"]
    )
    outcomes = page.locator("#outcomes-chart svg")
    expect(outcomes.locator("rect[data-series=found_falsified]")).to_have_count(1)
    expect(outcomes.locator("rect[data-series=found_falsified]")).to_have_attribute("data-week", weeks[0])  # fmt: skip
    expect(outcomes.locator("polyline.chart__line")).to_have_count(1)
    expect(page.locator("#outcomes-chart .chart__legend li").last).to_have_text("Held, detained or seized")  # fmt: skip
    shoot(page, border.shots, "risk.png")
    assert console == []


def test_risk_chart_fits_a_phone(page: Page, border: Site, console: list[str]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{border.url}/risk")
    use_token(page, border.operator)
    expect(page.locator("#lanes-chart rect[data-series=red]")).to_have_count(2)
    box = page.locator("#lanes-chart svg").bounding_box()
    assert box is not None
    assert box["width"] <= 390
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    shoot(page, border.shots, "risk-phone.png")
    # drawn again at the new width when the phone is turned (or the window widened)
    narrow = page.locator("#lanes-chart svg").get_attribute("viewBox")
    assert narrow is not None
    assert int(narrow.split()[2]) <= 390
    page.set_viewport_size({"width": 1000, "height": 700})
    expect(page.locator("#lanes-chart svg")).not_to_have_attribute("viewBox", narrow)
    assert console == []


def test_regulator_page_says_why_there_are_no_lanes(
    page: Page, regulator: Site, console: list[str]
) -> None:
    page.goto(f"{regulator.url}/risk")
    use_token(page, regulator.operator)
    expect(page.locator("#lanes-note")).to_contain_text("No lanes at this node: lanes are scored")
    expect(page.locator("#lanes-chart svg title").first).to_have_text(
        "Declarations lodged per week"
    )
    expect(page.locator("#lanes-chart rect")).to_have_count(0)
    assert console == []
