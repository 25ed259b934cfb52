"""Verify and dispense in one scan at the pharmacy counter (issue 15, item 5), in Debian's
Chromium against a real pharmacy node process: after RELEASE the page dispenses the pack with
an operator token (POST /api/v1/actions/dispense) and asks for the verdict again; Undo reverts
it within the window (POST /api/v1/actions/undo); a verifier token is told which token writes,
and nothing is sent."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, expect

from ledger.identifiers import with_check_digit
from node.config import load_config
from node.store import Store
from tests.api.conftest import GTIN, init_node, pack
from tests.api.test_server import Running, create_token, free_port, start
from tests.products import AMOXICILLIN_ACME
from tests.web.browsing import NEEDS_CHROMIUM, use_token
from tests.web.conftest import digital_link
from tests.web.shots import shoot
from tests.web.test_browser import EXPIRY

pytestmark = NEEDS_CHROMIUM

LOT = "D1"
#: One pack per test that dispenses, so the tests do not depend on each other's order.
SERIALS = ("DSP1", "DSP2", "DSP3", "DSP4", "DSP5")
#: A GTIN of acme's with no registered product, and its one pack.
BARE_GTIN = with_check_digit("0401234500002")
BARE_SERIAL = "BARE1"
#: The product acme registers for GTIN (docs/spec/customs.md): every verdict names it.
PRODUCT = {"gtin": GTIN, **AMOXICILLIN_ACME}


@dataclass
class Pharmacy:
    url: str
    operator: str
    verifier: str
    shots: Path


def post_201(url: str, token: str, path: str, body: dict[str, object]) -> dict[str, object]:
    with requests.post(
        f"{url}/api/v1/{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    ) as made:
        assert made.status_code == 201, made.text
        answer: dict[str, object] = made.json()
        return answer


def copy_entries(source: Path, target: Path) -> None:
    """Every entry of the node of ``source`` into the store of ``target``, as replication
    would bring them."""
    stores = [Store(load_config(d).database_url(d)) for d in (source, target)]
    try:
        membership = stores[1].membership_chain(load_config(target).genesis_id).current
        stores[1].ingest(list(stores[0].iter_entries()), membership)
    finally:
        for store in stores:
            store.close()


@pytest.fixture(scope="module")
def pharmacy(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pharmacy]:
    """apo's node, holding the packs of SERIALS: acme registered their product, commissioned
    them and shipped them to apo, and apo's operator received them."""
    root = tmp_path_factory.mktemp("web-dispense")
    acme = init_node(consortium_dir, root / "acme", "acme/line-1", workers=1, threads=2)
    apo = init_node(consortium_dir, root / "apo", "apo/counter", workers=1, threads=4)
    maker: Running = start(acme, free_port(), root)
    try:
        operator = create_token(acme, "operator", "line-operator")
        post_201(maker.url, operator, "products", PRODUCT)
        ships = []
        for serial in SERIALS:
            post_201(
                maker.url,
                operator,
                "commission",
                {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": [serial]},
            )
            shipped = post_201(
                maker.url,
                operator,
                "actions/ship",
                {"subjects": [pack(serial)], "body": {"destination": "apo"}},
            )
            ships.append((pack(serial), shipped["entry"]))
        post_201(
            maker.url,
            operator,
            "commission",
            {"gtin": BARE_GTIN, "lot": LOT, "expiry": EXPIRY, "serials": [BARE_SERIAL]},
        )
        bare = pack(BARE_SERIAL, BARE_GTIN)
        shipped = post_201(
            maker.url,
            operator,
            "actions/ship",
            {"subjects": [bare], "body": {"destination": "apo"}},
        )
        ships.append((bare, shipped["entry"]))
    finally:
        maker.stop(signal.SIGKILL)
    copy_entries(acme, apo)
    running: Running = start(apo, free_port(), root)
    try:
        apo_operator = create_token(apo, "operator", "counter-operator")
        for uri, entry in ships:
            assert isinstance(entry, dict)
            post_201(
                running.url,
                apo_operator,
                "actions/receive",
                {"subjects": [uri], "refs": [entry["id"]]},
            )
        shots = root / "screenshots"
        shots.mkdir()
        yield Pharmacy(
            running.url, apo_operator, create_token(apo, "verifier", "pharmacist"), shots
        )
    finally:
        running.stop(signal.SIGKILL)


def _scan(page: Page, serial: str, verdict: str) -> None:
    page.fill("#code-input", digital_link(GTIN, serial, LOT, EXPIRY))
    page.press("#code-input", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", verdict)


def test_dispense_after_release_then_a_rescan_shows_already_dispensed(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.operator)
    _scan(page, "DSP1", "release")
    button = page.get_by_role("button", name="Dispense this pack")
    expect(button).to_be_visible()
    product = page.locator("#product-line")
    expect(product).to_contain_text("Amoxicillin Acme 500 mg hard capsules")
    expect(product).to_contain_text("500 mg · capsule, hard · pack of 20 per blister pack")
    expect(page.locator("#pack")).to_contain_text("Acme Pharma GmbH")
    shoot(page, pharmacy.shots, "scan-dispense-offered.png")
    button.click()
    state = page.locator("#dispense-state")
    expect(state).to_contain_text("Dispensed: apo/counter signed entry")
    # the node's state is asked again (not a verification: that would be a failed check)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "dispensed")
    expect(page.locator("#verdict-sub")).to_have_text(
        "Supplied to the patient: this pharmacy's feed signed the dispense."
    )
    expect(page.locator("#reasons")).to_contain_text("the node holds the pack as dispensed")
    expect(page.locator("#pack")).to_contain_text("dispensed")
    expect(page.locator("#next-block")).to_be_hidden()
    expect(page.locator("#timeline li").last).to_contain_text("Dispensed")
    expect(button).to_be_hidden()
    expect(page.get_by_role("button", name="Undo the dispense")).to_be_visible()
    expect(state).to_contain_text("a mistake may be undone from this feed until")
    shoot(page, pharmacy.shots, "scan-dispense-done.png")
    # a second scan, as of a pack handed in again, is the full REJECT
    _scan(page, "DSP1", "reject")
    expect(page.locator("#verdict-sub")).to_have_text("Must not be supplied.")
    expect(page.locator("#reasons")).to_contain_text("already dispensed")
    expect(page.locator("#next-steps")).to_contain_text("Quarantine the pack")
    expect(page.get_by_role("button", name="Undo the dispense")).to_be_visible()
    expect(page.locator("#dispense-state")).to_contain_text("it may be undone until")
    assert console == []


def test_undo_within_the_window_puts_the_pack_back_in_stock(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.operator)
    _scan(page, "DSP2", "release")
    page.get_by_role("button", name="Dispense this pack").click()
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "dispensed")
    page.get_by_role("button", name="Undo the dispense").click()
    state = page.locator("#dispense-state")
    expect(state).to_contain_text("Undone: the dispense is reverted")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "release")
    expect(page.locator("#timeline li").last).to_contain_text("Undone")
    expect(page.get_by_role("button", name="Dispense this pack")).to_be_visible()
    expect(page.get_by_role("button", name="Undo the dispense")).to_be_hidden()
    shoot(page, pharmacy.shots, "scan-dispense-undone.png")
    _scan(page, "DSP2", "release")
    assert console == []


def test_dispense_with_a_verifier_token_says_it_needs_an_operator_token(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    writes: list[str] = []

    def on_request(request: Request) -> None:
        if "/api/v1/actions/" in request.url:
            writes.append(request.url)

    page.on("request", on_request)
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.verifier)
    _scan(page, "DSP3", "release")
    page.get_by_role("button", name="Dispense this pack").click()
    state = page.locator("#dispense-state")
    expect(state).to_have_text(
        "Not dispensed: dispensing needs an operator token of this pharmacy's node; a "
        "verifier token may only verify. Enter an operator token above (Change), then press "
        "the button again."
    )
    expect(state).to_have_class("dispense__state dispense__state--refused")
    assert writes == []  # nothing sent: the page knows the token's role
    expect(page.locator("#token-state")).to_contain_text("is in use")  # the token still verifies
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "release")
    shoot(page, pharmacy.shots, "scan-dispense-verifier.png")
    assert console == []


def test_dispense_refused_by_the_node_keeps_the_token_and_says_why(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    """The node refuses a verifier's write (403) even when the page did not know the role."""
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.verifier)
    _scan(page, "DSP4", "release")
    page.evaluate("sessionStorage.removeItem('medtrace.token.who')")
    page.get_by_role("button", name="Dispense this pack").click()
    expect(page.locator("#dispense-state")).to_contain_text(
        "Not dispensed: dispensing needs an operator token of this pharmacy's node"
    )
    assert page.evaluate("sessionStorage.getItem('medtrace.token')") == pharmacy.verifier
    assert console == []


def test_no_dispense_at_the_border_or_after_hold(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.operator)
    _scan(page, "NOSUCH9", "hold")
    expect(page.locator("#dispense")).to_be_hidden()
    page.locator("input[name=context][value=border]").check()
    _scan(page, "DSP5", "release")
    expect(page.locator("#dispense")).to_be_hidden()
    assert console == []


def test_dispense_on_a_phone_fits(browser: Browser, pharmacy: Pharmacy) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(f"{pharmacy.url}/scan")
        use_token(phone, pharmacy.verifier)
        _scan(phone, "DSP5", "release")
        expect(phone.get_by_role("button", name="Dispense this pack")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(phone, pharmacy.shots, "scan-dispense-phone.png")
    finally:
        context.close()


def test_a_pack_without_a_registered_product_says_so_at_the_counter(
    page: Page, pharmacy: Pharmacy, console: list[str]
) -> None:
    page.goto(f"{pharmacy.url}/scan")
    use_token(page, pharmacy.verifier)
    page.fill("#code-input", digital_link(BARE_GTIN, BARE_SERIAL, LOT, EXPIRY))
    page.press("#code-input", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "release")
    line = page.locator("#product-line")
    expect(line).to_contain_text("No registered product")
    expect(line).to_contain_text(f"GTIN {BARE_GTIN} has no product data")
    expect(page.locator("#reasons .reason--warning")).to_contain_text("unregistered_product")
    assert console == []
