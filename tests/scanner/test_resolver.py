"""Finding a foreign verification service through a GS1 Digital Link resolver
(scanner/resolver.py, docs/spec/cross-border.md "Finding the service")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger.membership import foreign_root
from node.config import ForeignConfig
from scanner.cross_border import configured
from scanner.resolver import resolver_query, service_base, verification_service

GTIN = "04012345000016"
ROOT = foreign_root("ab" * 32, "Medicines DE", "DE", ["4012345"])


@pytest.fixture
def resolver() -> Iterator[tuple[str, list[str]]]:
    """A resolver that redirects GTIN's verificationService link to a node's VRS base."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == f"/01/{GTIN}?linkType=gs1:verificationService":
                self.send_response(307)
                self.send_header("Location", "https://verify.example.de:8443/vrs/v1/gtin/x")
            else:
                self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_resolver_names_the_service_of_a_gtin(resolver: tuple[str, list[str]]) -> None:
    url, asked = resolver
    with requests.Session() as session:
        assert verification_service(url, "4012345000016", session) == (
            "https://verify.example.de:8443"
        )
        assert verification_service(url, "04012345000023", session) is None  # 404
    assert asked[0] == f"/01/{GTIN}?linkType=gs1:verificationService"


def test_unreachable_resolver_names_nothing() -> None:
    with requests.Session() as session:
        assert verification_service("http://127.0.0.1:9", GTIN, session, timeout=1) is None


@pytest.mark.parametrize(
    ("target", "base"),
    [
        ("https://n.example/vrs/v1/gtin/1", "https://n.example"),
        ("https://n.example:8443/de/vrs/v1", "https://n.example:8443/de"),
        ("https://n.example/some/page", "https://n.example"),
        ("ftp://n.example/vrs/v1", None),
        ("/relative", None),
    ],
)
def test_service_base(target: str, base: str | None) -> None:
    assert service_base(target) == base


def test_query_is_the_gtin_14() -> None:
    assert resolver_query("https://id.gs1.org/", "4012345000016") == (
        f"https://id.gs1.org/01/{GTIN}?linkType=gs1:verificationService"
    )


def test_the_url_set_and_the_endpoint_come_before_the_resolver(tmp_path: Path) -> None:
    settings = ForeignConfig(ROOT.genesis, "mt_x", resolver="https://resolver.example")
    found = configured(ROOT, settings, tmp_path, "https://resolved.example")
    assert found is not None
    assert found.url == "https://resolved.example"
    with_endpoint = foreign_root(ROOT.genesis, "M", "DE", ["4012345"], "https://pinned.example")
    found = configured(with_endpoint, settings, tmp_path, "https://resolved.example")
    assert found is not None
    assert found.url == "https://pinned.example"
    assert configured(ROOT, settings, tmp_path, None) is None
    assert configured(ROOT, None, tmp_path, "https://resolved.example") is None
