"""The web pages as HTTP sees them: served without a token, strict security headers, no inline
script or style, nothing from elsewhere, every referenced file served."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.web import CONTENT_SECURITY_POLICY, UNDOCUMENTED_RULES
from ledger.alerts import Code
from tests.api.conftest import Node

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
PAGES = ("/scan", "/alerts", "/customs", "/risk", "/network", "/docs")
#: Where a page's own files come from: the node's static folder, and Swagger UI's under /docs.
OWN_FILES = ("/static/", "/docs/ui/")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def parse(html: str) -> _Collect:
    collector = _Collect()
    collector.feed(html)
    return collector


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_served_without_a_token_with_strict_headers(acme: Node, path: str) -> None:
    response = acme.client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_code_and_nothing_from_elsewhere(acme: Node, path: str) -> None:
    html = acme.client.get(path).get_data(as_text=True)
    page = parse(html)
    assert not page.inline_script
    scripts = [a["src"] for tag, a in page.tags if tag == "script"]
    assert scripts
    assert all(s and s.startswith(OWN_FILES) for s in scripts)
    for tag, attrs in page.tags:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], tag
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"^[a-z]+:|^//", value), (tag, value)
    assert "<style" not in html
    for tag, attrs in page.tags:
        if tag in ("script", "link", "img") and (attrs.get("src") or attrs.get("href")):
            url = attrs.get("src") or attrs.get("href") or ""
            if url.startswith(OWN_FILES):
                with acme.client.get(url) as response:
                    assert response.status_code == 200, url


def test_static_files_have_the_same_headers_and_the_right_types(acme: Node) -> None:
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    served = sorted(p for p in STATIC.iterdir() if p.is_file())
    assert {p.suffix for p in served} <= set(types)
    for path in served:
        with acme.client.get(f"/static/{path.name}") as response:
            assert response.status_code == 200, path.name
            assert response.mimetype == types[path.suffix], path.name
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        text = path.read_text()
        assert not re.search(r"(?:src|href|url)\(?\s*=?\s*[\"']?(?:https?:)?//", text), path
        assert "eval(" not in text, path
        assert "innerHTML" not in text, path


def test_static_files_do_not_leave_their_folder(acme: Node) -> None:
    for path in ("/static/../web.py", "/static/%2e%2e/web.py", "/static/nothing.js"):
        with acme.client.get(path) as response:
            assert response.status_code == 404


def test_the_scan_page_has_labels_and_a_live_verdict(acme: Node) -> None:
    page = parse(acme.client.get("/scan").get_data(as_text=True))
    ids = {a.get("id") for _, a in page.tags}
    labelled = {a.get("for") for tag, a in page.tags if tag == "label"}
    for tag, attrs in page.tags:
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("radio", "hidden"):
            assert attrs.get("id") in labelled, attrs
    (verdict,) = [a for _, a in page.tags if a.get("id") == "verdict"]
    assert verdict["aria-live"] == "assertive"
    assert {"file-input", "code-input", "token-input", "camera-start", "timeline"} <= ids
    camera = [a for _, a in page.tags if a.get("id") == "camera"]
    assert "hidden" in camera[0]  # shown by the script only where the browser can


def test_the_alerts_page_offers_every_alert_code(acme: Node) -> None:
    page = parse(acme.client.get("/alerts").get_data(as_text=True))
    options = [a.get("value") for tag, a in page.tags if tag == "option"]
    assert options == ["", *[c.value for c in Code]]


def test_the_pages_name_the_node(acme: Node) -> None:
    html = acme.client.get("/scan").get_data(as_text=True)
    assert "acme" in html
    assert "acme/line-1" in html


def test_only_the_pages_and_their_files_are_left_out_of_the_openapi_document(
    acme: Node,
) -> None:
    document = acme.client.get("/openapi.json").get_json()
    rules = {r.rule for r in acme.app.url_map.iter_rules()}
    assert rules >= UNDOCUMENTED_RULES
    for page in PAGES:
        assert page not in document["paths"]
    assert "/api/v1/network" in document["paths"]
    assert "/api/v1/scan" in document["paths"]


def test_a_page_answers_post_with_a_problem(acme: Node) -> None:
    response = acme.client.post("/scan")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"


def test_the_node_address_leads_a_person_to_the_scan_page(acme: Node) -> None:
    response = acme.client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/scan")
