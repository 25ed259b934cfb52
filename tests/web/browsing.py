"""Debian's Chromium for the browser tests (tests/web/test_browser.py, test_scan_page_fixes.py,
test_docs_and_network.py): launched headless by Playwright, pages whose console errors are
kept, and the token form every page has. The fixtures (``playwright``, ``browser``,
``console``, ``page``) are in tests/web/conftest.py."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

#: The ``pytestmark`` of every browser test module.
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
    "(`make test` installs it; or: apt-get install chromium)",
)


def launch(playwright: Playwright, *extra: str) -> Browser:
    """Debian's Chromium, headless; launch() gives it a fresh, temporary profile."""
    try:
        return playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*FLAGS, *extra]
        )
    except PlaywrightError as exc:
        version = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        pytest.fail(f"{CHROMIUM} ({version or 'version unknown'}) did not start: {exc}")


@contextmanager
def watched_page(browser: Browser, console: list[str]) -> Iterator[Page]:
    """A desktop tab in a fresh context; its script errors and console errors and warnings
    are appended to ``console``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # An answer with an error status is logged by the browser: that is the test's doing.
        expected = message.text.startswith("Failed to load resource: the server responded")
        if message.type in ("error", "warning") and not expected:
            console.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: console.append(f"page error: {error}"))
    try:
        yield tab
    finally:
        context.close()


def enter_token(page: Page, token: str) -> None:
    """Type ``token`` into the page's token form and press "Use token"."""
    if page.locator("#token-change").is_visible():
        page.get_by_role("button", name="Change").click()
    page.fill("#token-input", token)
    page.get_by_role("button", name="Use token").click()


def use_token(page: Page, token: str) -> None:
    """Enter ``token`` and wait until the page says it is in use."""
    enter_token(page, token)
    expect(page.locator("#token-state")).to_contain_text("is in use")
