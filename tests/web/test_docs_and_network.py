"""/docs (Swagger UI over /openapi.json, served by the node) and /network (every peer, its lag,
last contact, frozen feeds and the digest agreement) in Debian's Chromium, and
GET /api/v1/network behind them, against real node processes: acme, with dist running and apo
down (tests/web/network_nodes.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from api.web import CONTENT_SECURITY_POLICY
from tests.web.browsing import NEEDS_CHROMIUM, TIMEOUT_MS, use_token
from tests.web.network_nodes import Network, network_of_nodes
from tests.web.shots import shoot

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def net(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with network_of_nodes(consortium_dir, tmp_path_factory.mktemp("web-network")) as network:
        yield network


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("network-shots")


def _operations(url: str) -> int:
    with requests.get(f"{url}/openapi.json", timeout=10) as answer:
        return sum(len(methods) for methods in answer.json()["paths"].values())


# -- /docs -----------------------------------------------------------------------------------


def test_docs_page_shows_every_operation_under_the_strict_policy(
    page: Page, net: Network, shots: Path, console: list[str]
) -> None:
    answer = page.goto(f"{net.acme.url}/docs")
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    expect(page.locator(".opblock")).to_have_count(_operations(net.acme.url))
    expect(page.locator("#operations-operations-network")).to_be_visible()
    shoot(page, shots, "docs.png", full_page=False)
    assert console == []  # no CSP violation, no script error


def test_docs_try_it_out_sends_the_token_of_the_panel(
    page: Page, net: Network, console: list[str]
) -> None:
    page.goto(f"{net.acme.url}/docs")
    use_token(page, net.auditor)
    operation = page.locator("#operations-operations-whoami")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".responses-wrapper .live-responses-table .microlight").first
    expect(body).to_contain_text('"role": "auditor"')
    assert console == []


def test_docs_serves_only_the_swagger_ui_files_it_uses(net: Network) -> None:
    for name, status in (
        ("swagger-ui-bundle.js", 200),
        ("swagger-ui.css", 200),
        ("swagger-ui.js", 404),
        ("oauth2-redirect.html", 404),
        ("../__init__.py", 404),
    ):
        with requests.get(f"{net.acme.url}/docs/ui/{name}", timeout=10) as answer:
            assert answer.status_code == status, name
            if status == 200:
                assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# -- /network ----------------------------------------------------------------------------------


def test_network_page_shows_every_peer_reachable_or_not(
    page: Page, net: Network, shots: Path, console: list[str]
) -> None:
    net.commission("NETW1")
    ours = net.sizes(net.acme, net.operator)
    theirs = net.sizes(net.dist, net.dist_operator)
    behind = sum(ours.values()) - sum(theirs.values())
    assert behind > 0
    page.goto(f"{net.acme.url}/network")
    expect(page.locator("#network-summary")).to_contain_text("Enter a token")
    use_token(page, net.auditor)
    expect(page.locator("#peers-body > tr")).to_have_count(2)
    dist = page.locator('tr[data-peer="dist"]')
    expect(dist).to_contain_text("reachable")
    expect(dist.locator("td").nth(2)).to_have_text(str(behind))
    expect(dist.locator("td").nth(3)).to_have_text("0")
    expect(dist).to_contain_text("differs")
    expect(dist.locator("time")).to_have_text(re.compile(r"\d\d:\d\d:\d\d UTC"))
    apo = page.locator('tr[data-peer="apo"]')
    expect(apo).to_contain_text("unreachable")
    expect(apo).to_contain_text("never")
    expect(apo.locator(".peer-error")).to_contain_text("apo")
    expect(page.locator("#network-summary")).to_contain_text("2 peers: 1 reachable, 1 unreachable")
    expect(page.locator("#network-facts")).to_contain_text("Newest cosigned checkpoint—")
    dist.locator("summary").click()
    expect(dist.locator('tr[data-feed="acme/line-1"]')).to_contain_text(str(behind))
    shoot(page, shots, "network.png")
    assert console == []


def test_network_page_shows_the_digest_agreement_once_a_peer_caught_up(
    page: Page, net: Network, shots: Path, console: list[str]
) -> None:
    net.catch_up()
    page.goto(f"{net.acme.url}/network")
    use_token(page, net.operator)
    dist = page.locator('tr[data-peer="dist"]')
    expect(dist).to_contain_text("agrees")
    expect(dist.locator("td").nth(2)).to_have_text("0")
    expect(page.locator("#network-summary")).to_contain_text("1 of 2 hold exactly our ledger")
    assert console == []


def test_network_page_refuses_a_verifier_token_before_keeping_it(
    page: Page, net: Network, console: list[str]
) -> None:
    page.goto(f"{net.acme.url}/network")
    page.fill("#token-input", net.verifier)
    page.get_by_role("button", name="Use token").click()
    state = page.locator("#token-state")
    expect(state).to_contain_text("has role verifier; this page needs an operator or auditor token")
    expect(state).not_to_contain_text("in use")
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.locator("#token-input")).to_be_focused()
    assert console == []


def test_network_page_fits_a_phone(browser: Browser, net: Network, console: list[str]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        phone = context.new_page()
        phone.on("pageerror", lambda error: console.append(f"page error: {error}"))
        phone.goto(f"{net.acme.url}/network")
        use_token(phone, net.operator)
        expect(phone.locator("#peers-body > tr")).to_have_count(2)
        # the peers table scrolls sideways inside its card, the page does not
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
    assert console == []


# -- GET /api/v1/network -------------------------------------------------------------------------


def test_network_route_answers_operators_and_auditors_only(net: Network) -> None:
    url = f"{net.acme.url}/api/v1/network"
    with requests.get(url, timeout=10) as answer:
        assert answer.status_code == 401
    with requests.get(url, headers={"Authorization": f"Bearer {net.verifier}"}, timeout=10) as a:
        assert a.status_code == 403
        assert a.headers["Content-Type"].startswith("application/problem+json")
    assert net.network(net.auditor)["node"] == "acme"


def test_network_route_reports_lag_down_peers_and_the_checkpoint_slot(net: Network) -> None:
    net.commission("NETW2")
    view = net.network()
    peers = {p["name"]: p for p in view["peers"]}
    assert set(peers) == {"dist", "apo"}
    assert peers["apo"]["reachable"] is False
    assert peers["apo"]["digest_agrees"] is None
    assert peers["apo"]["behind"] is None
    assert "127.0.0.1" in peers["apo"]["error"]
    dist = peers["dist"]
    assert dist["reachable"] is True
    assert dist["behind"] >= 1
    assert dist["ahead"] == 0
    assert dist["digest_agrees"] is False
    assert dist["last_contact"].endswith("Z")
    row = next(f for f in dist["feeds"] if f["feed"] == "acme/line-1")
    assert row["behind"] == row["ours"] - row["theirs"] >= 1
    assert view["newest_cosigned_checkpoint_age_s"] is None
    assert view["agreement"] == {"peers": 2, "reachable": 1, "agreeing": 0, "all_agree": False}
