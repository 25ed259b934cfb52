"""The `/scan` page of country B's node, in Debian's Chromium, with a pack of country A: it says
whose ledger answered and how fresh its checkpoint was (docs/spec/web.md, ADR 0028)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.crossborder.conftest import EXPIRY, GTIN, World
from tests.web.browsing import NEEDS_CHROMIUM, launch, use_token, watched_page

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    driver: Playwright
    with sync_playwright() as driver:
        chromium = launch(driver)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    with watched_page(browser, console) as tab:
        yield tab


def test_scan_page_names_the_foreign_ledger(w: World, page: Page, console: list[str]) -> None:
    page.goto(f"{w.b.url}/scan")
    use_token(page, w.b.tokens["verifier"])
    yymmdd = EXPIRY[2:4] + EXPIRY[5:7] + EXPIRY[8:10]
    page.fill("#code-input", f"https://id.gs1.org/01/{GTIN}/10/L1/21/{w.authentic}?17={yymmdd}")
    page.press("#code-input", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "release")
    facts = page.locator("#pack")
    expect(facts).to_contain_text("Answered by")
    expect(facts).to_contain_text("the ledger of DE: Medicines DE")
    expect(facts).to_contain_text("cosigned")
    assert console == []
