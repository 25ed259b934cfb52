"""The scan page's fixes of issue 18, in Debian's Chromium against a real node process: a token
the node refuses is never shown as in use; a good token clears the "enter a token first"
verdict; HOLD and REJECT say what to do next, by reason; the custody timeline shows each step's
decision or detail (as `medtrace scan` does) and times to the second."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from keys.consortium import Consortium
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from tests.api.conftest import GTIN, PASSPHRASE, init_node, pack
from tests.api.test_server import MEDTRACE, Running, create_token, free_port, start
from tests.web.browsing import NEEDS_CHROMIUM, enter_token, use_token
from tests.web.conftest import digital_link, ingest_beside, post_as_operator
from tests.web.shots import shoot
from tests.web.test_browser import EXPIRY

pytestmark = NEEDS_CHROMIUM


@dataclass
class Counter:
    url: str
    data: Path
    verifier: str
    shots: Path


def _inspect_at_the_border(data: Path, consortium_dir: Path, serial: str) -> None:
    """Customs holds the pack in transit: border/post's signed inspection, as if replicated
    here (written into the node's store beside the running node)."""
    key = Consortium.open(consortium_dir).feed_key("border/post", PASSPHRASE)
    entry = FeedWriter("border/post", key).append(
        Kind.INSPECT, subjects=[pack(serial)], body={"decision": "hold"}
    )
    ingest_beside(data, [entry])


@pytest.fixture(scope="module")
def counter(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counter]:
    root = tmp_path_factory.mktemp("web-fixes")
    data = init_node(consortium_dir, root / "acme", "acme/line-1", workers=1, threads=4)
    running: Running = start(data, free_port(), root)
    try:
        post_as_operator(
            running,
            data,
            [
                ("commission", {"gtin": GTIN, "lot": "L7", "expiry": EXPIRY, "serials": ["TL1"]}),
                ("commission", {"gtin": GTIN, "lot": "LR", "expiry": EXPIRY, "serials": ["RC1"]}),
                ("commission", {"gtin": GTIN, "lot": "L7", "expiry": EXPIRY, "serials": ["OK1"]}),
                ("actions/ship", {"subjects": [pack("TL1")], "body": {"destination": "dist"}}),
                ("actions/recall", {"subjects": [lot_uri(GTIN, "LR")]}),
            ],
        )
        _inspect_at_the_border(data, consortium_dir, "TL1")
        shots = root / "screenshots"
        shots.mkdir()
        yield Counter(running.url, data, create_token(data, "verifier", "pharmacist"), shots)
    finally:
        running.stop(signal.SIGKILL)


def _scan(page: Page, text: str, verdict: str) -> None:
    page.fill("#code-input", text)
    page.press("#code-input", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", verdict)


def test_a_bad_token_is_never_shown_as_in_use(
    page: Page, counter: Counter, console: list[str]
) -> None:
    page.goto(f"{counter.url}/scan")
    enter_token(page, "mt_" + "x" * 43)
    state = page.locator("#token-state")
    expect(state).to_contain_text("is not valid at this node")
    expect(state).not_to_contain_text("in use")
    expect(page.locator("#token-panel")).to_have_class(re.compile(r"\btoken--refused\b"))
    expect(page.locator("#token-panel")).not_to_have_class(re.compile(r"\btoken--set\b"))
    expect(page.locator("#token-input")).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0
    shoot(page, counter.shots, "scan-token-refused.png", full_page=False)
    assert console == []


def test_a_token_revoked_while_in_use_is_no_longer_shown_as_in_use(
    page: Page, counter: Counter, console: list[str]
) -> None:
    token = create_token(counter.data, "verifier", "short-lived")
    page.goto(f"{counter.url}/scan")
    use_token(page, token)
    revoked = subprocess.run(
        [MEDTRACE, "node", "token", "revoke", "--data", str(counter.data), "--user", "short-lived"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(1.2)  # a worker trusts what it read of a token for 1 s (node/tokens.py)
    _scan(page, digital_link(GTIN, "RC1"), "error")
    expect(page.locator("#verdict-sub")).to_contain_text("not valid at this node")
    state = page.locator("#token-state")
    expect(state).to_contain_text("is not valid at this node")
    expect(state).not_to_contain_text("in use")
    assert page.evaluate("sessionStorage.length") == 0
    assert console == []


def test_a_good_token_clears_enter_a_token_first(
    page: Page, counter: Counter, console: list[str]
) -> None:
    page.goto(f"{counter.url}/scan")
    _scan(page, digital_link(GTIN, "RC1"), "error")
    expect(page.locator("#verdict-sub")).to_contain_text("Enter an access token first")
    enter_token(page, counter.verifier)
    expect(page.locator("#token-state")).to_contain_text("(verifier pharmacist) is in use")
    expect(page.locator("#verdict-sub")).not_to_contain_text("Enter an access token first")
    expect(page.locator("#verdict-word")).to_have_text("Ready")
    assert console == []


def test_reject_says_what_to_do_next(page: Page, counter: Counter, console: list[str]) -> None:
    page.goto(f"{counter.url}/scan")
    use_token(page, counter.verifier)
    _scan(page, digital_link(GTIN, "RC1", "LR", EXPIRY), "reject")
    steps = page.locator("#next-steps li")
    expect(steps.first).to_contain_text("Quarantine the pack")
    expect(page.locator("#next-steps")).to_contain_text(
        "Return it to the supplier under the recall"
    )
    expect(page.locator("#timeline")).to_contain_text("Lot recalled: lot LR")
    shoot(page, counter.shots, "scan-reject-next-steps.png")
    assert console == []


def test_hold_of_an_unknown_pack_says_rescan_then_report(
    page: Page, counter: Counter, console: list[str]
) -> None:
    page.goto(f"{counter.url}/scan")
    use_token(page, counter.verifier)
    _scan(page, digital_link(GTIN, "NOSUCH1"), "hold")
    steps = page.locator("#next-steps li")
    expect(steps.first).to_contain_text("Rescan the code")
    expect(page.locator("#next-steps")).to_contain_text("Report it to the regulator")
    assert console == []


def test_release_has_no_next_steps(page: Page, counter: Counter, console: list[str]) -> None:
    page.goto(f"{counter.url}/scan")
    use_token(page, counter.verifier)
    _scan(page, digital_link(GTIN, "RC1", "LR", EXPIRY), "reject")
    expect(page.locator("#next-block")).to_be_visible()
    _scan(page, digital_link(GTIN, "OK1", "L7", EXPIRY), "release")
    expect(page.locator("#next-block")).to_be_hidden()
    assert console == []


def test_timeline_shows_each_decision_and_seconds(
    page: Page, counter: Counter, console: list[str]
) -> None:
    page.goto(f"{counter.url}/scan")
    use_token(page, counter.verifier)
    _scan(page, digital_link(GTIN, "TL1", "L7", EXPIRY), "hold")
    items = page.locator("#timeline li")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("Commissioned: lot L7, expiry")
    expect(items.nth(1)).to_contain_text("Shipped: to dist")
    expect(items.nth(2)).to_contain_text("Inspected: HOLD")
    expect(items.nth(2)).to_contain_text("by border/post")
    expect(items.nth(2).locator("time")).to_have_text(re.compile(r", \d\d:\d\d:\d\d UTC$"))
    expect(page.locator("#reasons")).to_contain_text("quarantined")
    expect(page.locator("#next-steps")).to_contain_text("Ask the supplier or the customs office")
    shoot(page, counter.shots, "scan-hold-timeline.png")
    assert console == []


def test_reject_at_the_border_says_detain_and_tell_the_importer(
    page: Page, counter: Counter, console: list[str]
) -> None:
    page.goto(f"{counter.url}/scan")
    use_token(page, counter.verifier)
    page.locator("input[name=context][value=border]").check()
    _scan(page, digital_link(GTIN, "RC1", "LR", EXPIRY), "reject")
    steps = page.locator("#next-steps")
    expect(steps.locator("li").first).to_contain_text("Detain the pack")
    expect(steps).to_contain_text("Tell the importer")
    expect(steps).not_to_contain_text("supplier")
    assert console == []
