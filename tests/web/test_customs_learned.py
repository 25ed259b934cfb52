"""The learned score on the customs page (issue 16, item 3; docs/spec/risk.md "The learned score
at the node"), in Debian's Chromium against a real customs node process whose node.json names
a model (``risk.model``) trained on a generated node store: beside the lane, the score, and under
it the five features that moved it most."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import init_node
from tests.api.test_server import Running, create_token, free_port, start
from tests.risk.conftest import generated_node, run
from tests.web.browsing import NEEDS_CHROMIUM, use_token
from tests.web.test_customs_page import REFERENCE, declaration

pytestmark = NEEDS_CHROMIUM


@dataclass
class Border:
    url: str
    operator: str


@pytest.fixture(scope="module")
def border(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Border]:
    root = tmp_path_factory.mktemp("web-learned")
    trained = run("risk", "train", "--format", "medtrace", "--data",
                  str(generated_node(root / "generated", 16, 300)), "--out", str(root / "model"))  # fmt: skip
    assert trained.exit_code == 0, trained.output + trained.stderr
    data = init_node(consortium_dir, root / "border", "border/post", workers=1, threads=2,
                     extra={"risk": {"model": str(root / "model")}})  # fmt: skip
    running: Running = start(data, free_port(), root)
    try:
        yield Border(running.url, create_token(data, "operator", "officer"))
    finally:
        running.stop(signal.SIGKILL)


def test_the_learned_score_is_shown_beside_the_lane_with_its_contributions(
    page: Page, border: Border, console: list[str], tmp_path: Path
) -> None:
    upload = tmp_path / "declaration.json"
    upload.write_text(json.dumps(declaration()))
    page.goto(f"{border.url}/customs")
    use_token(page, border.operator)
    page.set_input_files("#declare-file", str(upload))
    item = page.locator("#declared li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(REFERENCE)
    expect(item.locator(".lane")).to_have_attribute("data-lane", "red")  # R1: never commissioned
    badge = item.locator(".learned")
    expect(badge).to_contain_text("learned score ")
    score = float(badge.get_attribute("data-score") or "nan")
    assert 0.0 <= score <= 1.0
    expect(badge).to_contain_text(f"{score:.2f}")
    reasons = item.locator(".learned-reason")
    expect(reasons).to_have_count(5)
    expect(item.locator(".learned-reasons")).to_contain_text("largest contributions")
    assert console == []
