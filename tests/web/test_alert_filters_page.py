"""The /alerts page's filters in a real browser (Debian's Chromium, Playwright) against a real
`medtrace node run` process: level, product, organisation, declaration and country narrow the
list, the address keeps them, and a page opened with them in its address shows them set."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ledger.identifiers import with_check_digit
from tests.api.conftest import GTIN, PREFIX, init_node, pack
from tests.api.test_server import Running, create_token, free_port, start
from tests.web.browsing import NEEDS_CHROMIUM, use_token
from tests.web.conftest import post_as_operator

pytestmark = NEEDS_CHROMIUM
GTIN2 = with_check_digit("0" + PREFIX + "00002")


@dataclass
class Site:
    url: str
    auditor: str
    shots: Path


@pytest.fixture(scope="module")
def site(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """acme's node holding two failed checks of its own: a REJECT of a GTIN pack in DE, a HOLD
    of a GTIN2 pack in FR."""
    root = tmp_path_factory.mktemp("alert-filters")
    data = init_node(consortium_dir, root / "acme", "acme/line-1", workers=1, threads=4)
    running: Running = start(data, free_port(), root)
    try:
        reports = [
            {"packs": [pack("F1")], "verdict": "REJECT", "reasons": ["recalled"], "country": "DE"},
            {"packs": [pack("F2", GTIN2)], "verdict": "HOLD", "reasons": ["unknown_pack"]},
        ]
        post_as_operator(
            running,
            data,
            [("checks", {"context": "warehouse", **r}) for r in reports],
        )
        yield Site(running.url, create_token(data, "auditor", "inspector"), root)
    finally:
        running.stop(signal.SIGKILL)


def test_alerts_page_filters_narrow_the_list(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/alerts")
    use_token(page, site.auditor)
    cards = page.locator(".alert-card")
    expect(cards).to_have_count(2)
    page.check("#level-critical")
    expect(cards).to_have_count(1)
    expect(page.locator("#alerts-summary")).to_have_text(
        "1 alert with level critical: 1 critical, 0 warning."
    )
    assert page.url.endswith("/alerts?level=critical")
    page.screenshot(path=site.shots / "alerts-filters.png", full_page=True)
    page.check("#level-all")
    page.fill("#product-filter", GTIN2)
    page.click("#filter-form button[type=submit]")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".alert-card__subject")).to_contain_text(pack("F2", GTIN2))
    page.fill("#product-filter", "")
    page.fill("#country-filter", "DE")
    page.fill("#organisation-filter", "acme")
    page.click("#filter-form button[type=submit]")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".alert-card__subject")).to_contain_text(pack("F1"))
    page.fill("#organisation-filter", "dist")
    page.click("#filter-form button[type=submit]")
    expect(page.locator("#alerts-summary")).to_have_text(
        "No alerts with organisation dist, country DE."
    )


def test_alerts_page_opens_with_the_filters_of_its_address(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/alerts?product={GTIN}&declaration=DE-2026-000123&level=warning")
    use_token(page, site.auditor)
    expect(page.locator("#level-warning")).to_be_checked()
    expect(page.locator("#product-filter")).to_have_value(GTIN)
    expect(page.locator("#declaration-filter")).to_have_value("DE-2026-000123")
    expect(page.locator("#alerts-summary")).to_have_text(
        f"No alerts with level warning, product {GTIN}, declaration DE-2026-000123."
    )
