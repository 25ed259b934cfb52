"""Fixtures for the web pages and the scan endpoint: the API tests' consortium and nodes,
Debian's Chromium and a watched tab in it (tests/web/browsing.py), and label images made here
with zxing-cpp (GS1 DataMatrix) and qrcode (GS1 Digital Link)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import qrcode
import requests
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from ledger.entry import SignedEntry
from node.config import load_config
from node.store import IngestReport, Store
from tests.api.conftest import (  # noqa: F401 (fixtures shared with the API tests)
    _no_ambient_passphrase,
    acme,
    consortium_dir,
    make_node,
    template_nodes,
)
from tests.api.test_server import Running, create_token
from tests.web.browsing import launch, watched_page


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch(playwright)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def console() -> list[str]:
    """What the page's scripts and console said that was wrong (a test asserts it is empty)."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    with watched_page(browser, console) as tab:
        yield tab


def ingest_beside(data: Path, entries: Iterable[SignedEntry]) -> IngestReport:
    """Store ``entries`` in the store of the node of ``data``, beside the running node, as if
    they had been replicated there; the ingest's report."""
    config = load_config(data)
    store = Store(config.database_url(data))
    try:
        return store.ingest(entries, store.membership_chain(config.genesis_id).current)
    finally:
        store.close()


def post_as_operator(
    running: Running, data: Path, calls: Iterable[tuple[str, dict[str, Any]]]
) -> None:
    """POST each ``(path under /api/v1/, body)`` to the node with a new operator token, in
    order; each must answer 201."""
    operator = create_token(data, "operator", "line-operator")
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {operator}"
        for path, body in calls:
            made = http.post(f"{running.url}/api/v1/{path}", json=body, timeout=10)
            assert made.status_code == 201, made.text


def yymmdd(iso: str) -> str:
    return iso[2:4] + iso[5:7] + iso[8:10]


def element_string(gtin: str, serial: str, lot: str, expiry: str) -> str:
    """The HRI form of a pack's element string: (01)(17)(10)(21)."""
    return f"(01){gtin}(17){yymmdd(expiry)}(10){lot}(21){serial}"


def wedge_text(gtin: str, serial: str, lot: str, expiry: str) -> str:
    """What a keyboard-wedge scanner sends: ]d2, fixed-length AIs first, GS after the lot."""
    return f"]d201{gtin}17{yymmdd(expiry)}10{lot}\x1d21{serial}"


def digital_link(gtin: str, serial: str, lot: str | None = None, expiry: str | None = None) -> str:
    uri = f"https://id.gs1.org/01/{gtin}" + (f"/10/{lot}" if lot else "") + f"/21/{serial}"
    return uri + (f"?17={yymmdd(expiry)}" if expiry else "")


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def datamatrix_image(gtin: str, serial: str, lot: str, expiry: str, scale: int = 8) -> Image.Image:
    """A GS1 DataMatrix label (FNC1 first, symbology ]d2) with a white margin."""
    barcode: Any = zxingcpp.create_barcode(
        element_string(gtin, serial, lot, expiry),
        zxingcpp.BarcodeFormat.DataMatrix,
        gs1=True,
        forceSquare=True,
    )
    symbol = Image.fromarray(zxingcpp.write_barcode_to_image(barcode, scale=scale)).convert("L")
    label = Image.new("L", (symbol.width + 8 * scale, symbol.height + 8 * scale), 255)
    label.paste(symbol, (4 * scale, 4 * scale))
    return label


def datamatrix_png(gtin: str, serial: str, lot: str, expiry: str) -> bytes:
    return png(datamatrix_image(gtin, serial, lot, expiry))


def qr_image(text: str) -> Image.Image:
    code = qrcode.QRCode(border=4, box_size=8)
    code.add_data(text)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("L")


def side_by_side(*images: Image.Image) -> bytes:
    width = sum(i.width for i in images) + 40 * (len(images) + 1)
    height = max(i.height for i in images) + 80
    sheet = Image.new("L", (width, height), 255)
    x = 40
    for image in images:
        sheet.paste(image, (x, 40))
        x += image.width + 40
    return png(sheet)


def blank_png() -> bytes:
    return png(Image.new("RGB", (320, 240), (250, 250, 250)))
