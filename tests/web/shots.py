"""Screenshots of the pages: each test writes its own into its temporary directory; with
MEDTRACE_SAVE_SCREENSHOTS=1 a small copy (at most 800 px wide, 256 colours) also goes to
docs/screenshots/, the pictures the documentation shows."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTH = 800


def shoot(page: Page, directory: Path, name: str, *, full_page: bool = True) -> Path:
    """A PNG of ``page`` in ``directory``; a small copy in docs/screenshots when asked for."""
    path = directory / name
    page.screenshot(path=path, full_page=full_page)
    if os.environ.get("MEDTRACE_SAVE_SCREENSHOTS") == "1":
        with Image.open(path) as image:
            width = min(WIDTH, image.width)  # a phone's page is not enlarged
            height = round(image.height * width / image.width)
            small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            small.quantize(colors=256).save(out, format="PNG", optimize=True)
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        (DOCS_SHOTS / name).write_bytes(out.getvalue())
    return path
