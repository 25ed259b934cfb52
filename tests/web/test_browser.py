"""End to end in a real browser: Debian's Chromium, driven by Playwright, against a real
`medtrace node run` process on loopback. A person's path through the pages: enter the token,
upload a label photo, read the verdict and its colour; type codes; read the alerts and open
an evidence entry. Screenshots of each state go to the test's temporary directory."""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, expect

from keys.consortium import Consortium
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from tests.api.conftest import GTIN, PASSPHRASE, PRODUCT, init_node, pack
from tests.api.test_server import Running, create_token, free_port, start
from tests.web.browsing import NEEDS_CHROMIUM, TIMEOUT_MS, launch, use_token
from tests.web.conftest import (
    datamatrix_image,
    datamatrix_png,
    digital_link,
    ingest_beside,
    post_as_operator,
    wedge_text,
)
from tests.web.shots import shoot

LOT = "L7"
EXPIRY = "2030-12-31"
#: The verdict colours of api/static/medtrace.css, as the browser computes them.
GREEN = "rgb(11, 122, 62)"
AMBER = "rgb(242, 176, 30)"
RED = "rgb(179, 38, 30)"

pytestmark = NEEDS_CHROMIUM


@dataclass
class Site:
    url: str
    verifier: str
    auditor: str
    label: Path
    shots: Path
    ghost_entry: str
    peer: str
    console: list[str] = field(default_factory=list)


def _forge_alerts(data: Path, consortium_dir: Path) -> str:
    """A pharmacy's signed entries, as if replicated here (the test writes them into the
    node's SQLite store beside the running node): a dispense of a pack nobody commissioned
    (unknown pack), a dispense of a pack the manufacturer still holds (custody violation),
    and that dispense again (already inactive). Returns the first entry's id."""
    key = Consortium.open(consortium_dir).feed_key("apo/counter", PASSPHRASE)
    writer = FeedWriter("apo/counter", key)
    entries = [
        writer.append(Kind.DISPENSE, subjects=[pack("GHOST")]),
        writer.append(Kind.DISPENSE, subjects=[pack("WEB2")]),
        writer.append(Kind.DISPENSE, subjects=[pack("WEB2")]),
    ]
    report = ingest_beside(data, entries)
    assert [a.code.value for a in report.alerts] == [
        "unknown_pack",
        "custody_violation",
        "already_inactive",
    ]
    return entries[0].id


@pytest.fixture(scope="module")
def site(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web-e2e")
    data = init_node(consortium_dir, root / "acme", "acme/line-1", workers=1, threads=4)
    running: Running = start(data, free_port(), root)
    try:
        post_as_operator(
            running,
            data,
            [
                (
                    "products",
                    {"gtin": GTIN, **PRODUCT, "referencePrice": {"amount": "9", "currency": "EUR"}},
                ),
                *(
                    (
                        "commission",
                        {"gtin": GTIN, "lot": lot, "expiry": EXPIRY, "serials": [serial]},
                    )
                    for serial, lot in (("WEB1", LOT), ("WEB2", LOT), ("REC1", "LR"))
                ),
                ("actions/recall", {"subjects": [lot_uri(GTIN, "LR")]}),
            ],
        )
        ghost = _forge_alerts(data, consortium_dir)
        label = root / "label-WEB1.png"
        label.write_bytes(datamatrix_png(GTIN, "WEB1", LOT, EXPIRY))
        shots = root / "screenshots"
        shots.mkdir()
        yield Site(
            running.url,
            create_token(data, "verifier", "pharmacist"),
            create_token(data, "auditor", "inspector"),
            label,
            shots,
            ghost,
            create_token(data, "peer", "dist-node"),
        )
    finally:
        running.stop(signal.SIGKILL)


@pytest.fixture
def console(site: Site) -> list[str]:
    """The page's complaints go to the site's list, emptied for each test."""
    site.console.clear()
    return site.console


def _background(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "el => getComputedStyle(el).backgroundColor"))


def _verdict(page: Page, kind: str) -> None:
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", kind)


def test_scan_page_verdicts_in_colour(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/scan")
    expect(page).to_have_title("Verify a pack · medtrace · acme")
    expect(page.locator("#camera")).to_be_hidden()  # no BarcodeDetector in this Chromium
    expect(page.locator("#verdict-word")).to_have_text("Ready")
    page.screenshot(path=site.shots / "scan-idle.png", full_page=True)

    use_token(page, site.verifier)
    page.set_input_files("#file-input", str(site.label))
    _verdict(page, "release")
    expect(page.locator("#verdict-word")).to_have_text("RELEASE")
    assert "verdict--release" in (page.get_attribute("#verdict", "class") or "")
    assert _background(page, "#verdict") == GREEN
    expect(page.locator("#reasons li")).to_have_count(1)
    expect(page.locator("#reasons")).to_contain_text("Commissioned by acme/line-1")
    expect(page.locator("body")).to_contain_text(str(PRODUCT["name"]))
    expect(page.locator("#timeline li")).to_have_count(1)
    expect(page.locator("#timeline")).to_contain_text("Commissioned")
    expect(page.locator("#pack")).to_contain_text("WEB1")
    expect(page.locator("#preview")).to_be_visible()
    page.screenshot(path=site.shots / "scan-release.png", full_page=True)

    code = page.locator("#code-input")
    code.fill(digital_link(GTIN, "REC1", "LR", EXPIRY))
    code.press("Enter")
    _verdict(page, "reject")
    expect(page.locator("#verdict-word")).to_have_text("REJECT")
    assert _background(page, "#verdict") == RED
    expect(page.locator("#reasons")).to_contain_text("Lot LR is recalled.")
    expect(page.locator("#timeline li")).to_have_count(2)
    expect(page.locator("#timeline")).to_contain_text("Lot recalled")
    page.screenshot(path=site.shots / "scan-reject.png", full_page=True)

    code.fill(digital_link(GTIN, "NOSUCH"))
    page.get_by_role("button", name="Verify").click()
    _verdict(page, "hold")
    expect(page.locator("#verdict-word")).to_have_text("HOLD")
    assert _background(page, "#verdict") == AMBER
    expect(page.locator("#reasons")).to_contain_text("No commissioning of this serial is known")
    expect(page.locator("#timeline-empty")).to_be_visible()
    page.screenshot(path=site.shots / "scan-hold.png", full_page=True)

    code.fill(f"01{GTIN}17301231" + "10L21" + "21X")  # GS lost: lot L21 + X, or L + 21X?
    code.press("Enter")
    _verdict(page, "scan-error")
    expect(page.locator("#verdict-word")).to_have_text("Scan error — rescan")
    expect(page.locator("#details")).to_be_hidden()
    expect(page.locator("#verdict-sub")).to_contain_text("Group separator missing before AI 21")
    page.screenshot(path=site.shots / "scan-error.png", full_page=True)

    page.reload()  # the token stays for this tab
    expect(page.locator("#token-state")).to_contain_text("is in use")
    expect(page.locator("#token-input")).to_be_hidden()  # the panel folds to one line
    code = page.locator("#code-input")
    code.fill(wedge_text(GTIN, "WEB1", LOT, EXPIRY))
    page.locator("input[name=context][value=border]").check()
    code.press("Enter")
    _verdict(page, "release")
    expect(page.locator("#verdict-sub")).to_have_text("Authentic: may be released.")

    code.fill(wedge_text(GTIN, "WEB2", LOT, EXPIRY))  # dispensed twice by a pharmacy
    code.press("Enter")
    _verdict(page, "reject")
    expect(page.locator("#reasons")).to_contain_text("already dispensed")
    expect(page.locator("#reasons")).to_contain_text("custody_violation")
    expect(page.locator("#timeline li")).to_have_count(3)
    page.screenshot(path=site.shots / "scan-reject-dispensed.png", full_page=True)
    assert site.console == []  # no CSP violation, no script error


def test_scan_page_without_a_token_asks_for_one(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/scan")
    page.fill("#code-input", digital_link(GTIN, "WEB1"))
    page.press("#code-input", "Enter")
    _verdict(page, "error")
    expect(page.locator("#verdict-sub")).to_contain_text("Enter an access token first")
    expect(page.locator("#token-input")).to_be_focused()
    page.fill("#token-input", "mt_" + "x" * 43)  # refused when entered, never kept
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-state")).to_contain_text("not valid at this node")
    expect(page.locator("#token-input")).to_be_focused()  # the form stays open
    expect(page.locator("#token-forget")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    page.press("#code-input", "Enter")
    _verdict(page, "error")
    expect(page.locator("#verdict-sub")).to_contain_text("Enter an access token first")


def test_scan_page_on_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        phone = context.new_page()
        phone.goto(f"{site.url}/scan")
        use_token(phone, site.verifier)
        phone.set_input_files("#file-input", str(site.label))
        _verdict(phone, "release")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing sticks out sideways
        shoot(phone, site.shots, "scan-phone.png")
    finally:
        context.close()


#: Chromium on Linux has no BarcodeDetector; this one "sees" a code in any frame with pixels.
FAKE_BARCODE_DETECTOR = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["data_matrix", "qr_code", "ean_13"]; }
  constructor(options) { this.formats = options.formats; }
  async detect(video) {
    return video.videoWidth ? [{ rawValue: "(not used)", format: "data_matrix" }] : [];
  }
};
"""


def test_scan_page_camera_sends_the_frame(
    playwright: Playwright, site: Site, tmp_path: Path
) -> None:
    """The camera button: a fake camera shows the label (Chromium plays an MJPEG file as the
    camera), the detector fires, and the page uploads the frame, which the node reads."""
    frame = Image.new("RGB", (640, 480), "white")
    label = datamatrix_image(GTIN, "WEB1", LOT, EXPIRY).convert("RGB")
    frame.paste(label, ((640 - label.width) // 2, (480 - label.height) // 2))
    jpeg = io.BytesIO()
    frame.save(jpeg, format="JPEG", quality=90)
    video = tmp_path / "camera.mjpeg"
    video.write_bytes(jpeg.getvalue() * 10)
    chromium = launch(
        playwright,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        context = chromium.new_context(permissions=["camera"])
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(FAKE_BARCODE_DETECTOR)
        page = context.new_page()
        page.goto(f"{site.url}/scan")
        use_token(page, site.verifier)
        start = page.get_by_role("button", name="Use the camera")
        expect(start).to_be_visible()
        start.click()
        _verdict(page, "release")
        expect(page.locator("#pack")).to_contain_text("WEB1")
        expect(page.locator("#camera-view")).to_be_hidden()  # the camera is off again
        expect(page.locator("#preview")).to_be_visible()  # the frame that was checked
    finally:
        chromium.close()


def test_alerts_page_lists_alerts_with_their_evidence(page: Page, site: Site) -> None:
    # the alerts apo's forged entries raised (the scans of the other tests raise failed-check
    # alerts of acme's, ADR 0022)
    page.goto(f"{site.url}/alerts?organisation=apo")
    expect(page.locator("#alerts-summary")).to_contain_text("Enter a token")
    use_token(page, site.auditor)
    expect(page.locator(".alert-card")).to_have_count(3)
    expect(page.locator("#group-critical")).to_contain_text("Critical 2")
    expect(page.locator("#group-warning")).to_contain_text("Warning 1")
    codes = page.locator(".alert-group--critical .alert-card__code").all_inner_texts()
    assert codes == ["Custody violation", "Unknown pack"]  # newest first
    card = page.locator(".alert-card[data-code=unknown_pack]")
    expect(card.locator(".alert-card__code")).to_have_text("Unknown pack")
    expect(card.locator(".alert-card__subject")).to_contain_text(pack("GHOST"))
    row = card.locator("tbody tr").first
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[0] == "apo/counter"
    assert cells[1] == "0"
    assert cells[2].startswith("Dispensed")
    assert "UTC" in cells[3]
    assert cells[4] == site.ghost_entry[:12] + "…"
    assert "verified by node" in cells[5]
    expect(page.locator("#alerts-summary")).to_have_text(
        "3 alerts with organisation apo: 2 critical, 1 warning."
    )
    inactive = page.locator(".alert-card[data-code=already_inactive] tbody tr")
    expect(inactive).to_have_count(2)  # the first dispense and the second
    shoot(page, site.shots, "alerts.png", full_page=False)

    row.get_by_role("link").focus()
    page.keyboard.press("Enter")  # keyboard: the evidence link opens the entry
    dialog = page.locator("#entry-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#entry-wire")).to_contain_text(f'"id": "{site.ghost_entry}"')
    expect(page.locator("#entry-payload")).to_contain_text('"kind": "dispense"')
    page.screenshot(path=site.shots / "alerts-entry.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.select_option("#code-filter", "fork")
    expect(page.locator("#alerts-summary")).to_have_text(
        "No alerts with code “Fork”, organisation apo."
    )
    expect(page.locator(".alert-card")).to_have_count(0)
    assert page.url.endswith("/alerts?code=fork&organisation=apo")
    page.select_option("#code-filter", "unknown_pack")
    expect(page.locator(".alert-card")).to_have_count(1)
    expect(page.locator("#alerts-summary")).to_have_text(
        "1 alert with code “Unknown pack”, organisation apo: 1 critical, 0 warning."
    )
    page.select_option("#code-filter", "")
    expect(page.locator(".alert-card")).to_have_count(3)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=site.shots / "alerts-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # tables scroll inside
    assert site.console == []


def test_alerts_page_says_when_the_token_s_role_may_not_read_alerts(page: Page, site: Site) -> None:
    """A peer token (another node's) may not read alerts; a verifier may (docs/spec/api.md)."""
    page.goto(f"{site.url}/alerts")
    page.fill("#token-input", site.peer)  # refused when entered, before any call for alerts
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-state")).to_contain_text(
        "has role peer; this page needs an auditor, operator or verifier token"
    )
    expect(page.locator("#alerts-summary")).to_contain_text("Enter a token")
    expect(page.locator("#token-input")).to_be_focused()
    use_token(page, site.verifier)
    # a verifier is shown no alert that names a pack it did not ask about (issue 14): all
    # three name packs
    expect(page.locator("#alerts-summary")).to_have_text("No alerts.")
    expect(page.locator(".alert-card")).to_have_count(0)
    assert site.console == []
