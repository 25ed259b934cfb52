"""Photos cannot stall a node's scan (security review, finding 3).

One PNG of 62 KB declaring 7000 x 7000 pixels took 3.4 s and 480 MB of a node worker; a dozen
at once slowed every verification to 20 s. Now the pixel count is checked from the header
before any pixel is decoded, large photos are downscaled before the decoders see them, every
decode has a time budget, and a worker decodes at most ``MAX_CONCURRENT_DECODES`` photos at
once (503 with ``Retry-After`` beyond that). Real images made with Pillow, the real decoders,
and for the concurrency a real node process over HTTP.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFile, ImageFilter
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from medtrace.cli.main import cli
from scanner.decode import BUDGET_S, decode_image
from scanner.decode_slots import MAX_CONCURRENT_DECODES, RETRY_AFTER_S
from scanner.image_loading import DECODE_SIDE, MAX_PIXELS
from scanner.labels import PackLabel, label_image
from scanner.reading import ScanError, read_image
from tests.api.conftest import GTIN, Node, NodeFactory, init_node
from tests.api.test_server import Running, create_token, free_port, start

LOT = "L7"
EXPIRY = "2030-12-31"
PROBLEM = "application/problem+json"


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def phone_photo(label: Image.Image, code_width: int, size: tuple[int, int]) -> bytes:
    """A label ``code_width`` pixels wide on a counter top, slightly out of focus, as a phone
    saves it (JPEG)."""
    canvas = Image.new("L", size, 170)
    draw = ImageDraw.Draw(canvas)
    for n in range(40):  # boxes and papers around the pack
        x, y = n * 97 % size[0], n * 61 % size[1]
        draw.rectangle((x, y, x + 600, y + 300), fill=60 + n * 4)
    height = code_width * label.height // label.width
    canvas.paste(label.resize((code_width, height), Image.Resampling.LANCZOS), (1300, 1000))
    return jpeg(canvas.filter(ImageFilter.GaussianBlur(1.2)))


def noise(size: tuple[int, int]) -> bytes:
    """A photo with no code in it, and the slowest kind for the decoders to search."""
    return jpeg(Image.effect_noise(size, 80), quality=90)


def upload(node: Node, data: bytes) -> TestResponse:
    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(data), "photo.png")})
    return node.client.post(
        "/api/v1/scan",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=node.auth("verifier"),
    )


def commission(node: Node, serial: str) -> None:
    response = node.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": [serial]}
    )
    assert response.status_code == 201, response.get_json()


# -- the pixel cap ------------------------------------------------------------------------------


def test_pixel_bomb_on_scan(make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    acme = make_node("acme")
    bomb = png(Image.new("1", (7000, 7000), 1))
    assert len(bomb) < 64 * 1024  # a few kilobytes declaring 49 megapixels
    acme.auth("verifier")  # the token is made before the clock starts
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(image: ImageFile.ImageFile) -> Any:
        decoded.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    started = time.perf_counter()
    response = upload(acme, bomb)
    elapsed = time.perf_counter() - started

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "urn:medtrace:problem:scan-error"
    assert body["scan_error"] == "image_too_large"
    assert "7000 x 7000 pixels" in body["hint"]
    assert f"at most {MAX_PIXELS / 1e6:g} megapixels" in body["hint"]  # names the cap
    assert decoded == []  # refused from the header: not one pixel decoded
    assert elapsed < 0.5


def test_pixel_bomb_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png(Image.new("1", (7000, 7000), 1)))
    result = CliRunner().invoke(cli, ["scan", str(path), "--decode-only", "--json"])
    assert result.exit_code == 3, result.output
    assert "megapixels" in result.stdout


# -- downscaling --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(4000, 3000), (4608, 3456)], ids=["12MP", "16MP"])
def test_large_photo_still_reads(make_node: NodeFactory, size: tuple[int, int]) -> None:
    acme = make_node("acme")
    commission(acme, "PHOTO1")
    label = label_image(PackLabel(GTIN, LOT, EXPIRY, "PHOTO1"), "datamatrix")
    photo = phone_photo(label, 200, size)

    report = decode_image(photo)
    assert report.size == size
    assert report.transform == f"downscaled to {DECODE_SIDE}x{DECODE_SIDE * 3 // 4}"
    response = upload(acme, photo)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["verdict"] == "RELEASE"


def test_a_small_code_in_a_12_mp_photo_is_read_at_full_resolution() -> None:
    label = PackLabel(GTIN, LOT, EXPIRY, "SMALL1")
    photo = phone_photo(label_image(label, "datamatrix"), 110, (4000, 3000))
    report = decode_image(photo)
    assert report.tried[0] == "downscaled to 2400x1800"  # too few pixels per module there
    assert report.transform == "full resolution"
    (scan,) = read_image(photo)
    assert label.matches(scan)


# -- the time budget ----------------------------------------------------------------------------


def test_a_photo_without_a_code_stops_at_the_decode_budget() -> None:
    photo = noise((1600, 1200))
    report = decode_image(photo)
    assert report.codes == []
    assert report.out_of_time
    assert report.left_out  # the retries it did not start
    assert report.seconds < BUDGET_S + 1.0  # the budget, and never a whole further pass
    with pytest.raises(ScanError) as caught:
        read_image(photo)
    assert caught.value.code == "no_barcode"
    assert f"{BUDGET_S:g} s decode budget" in caught.value.hint


# -- concurrent decodes -------------------------------------------------------------------------


@pytest.fixture
def one_worker(consortium_dir: Path, tmp_path: Path) -> Iterator[tuple[Running, str]]:
    """A node process with one worker and more threads than decode slots."""
    data = init_node(
        consortium_dir,
        tmp_path / "acme",
        "acme/line-1",
        workers=1,
        threads=MAX_CONCURRENT_DECODES + 3,
    )
    token = create_token(data, "verifier", "counter-1")
    running = start(data, free_port(), tmp_path)
    try:
        yield running, token
    finally:
        running.stop()


def test_concurrent_decodes_are_bounded(one_worker: tuple[Running, str]) -> None:
    running, token = one_worker
    photo = noise((2400, 1800))  # each decode holds its slot for about the decode budget
    extra = 2
    gate = threading.Barrier(MAX_CONCURRENT_DECODES + extra)
    answers: list[requests.Response] = []

    def post(data: bytes) -> requests.Response:
        return requests.post(
            f"{running.url}/api/v1/scan",
            files={"image": ("photo.jpg", data, "image/jpeg")},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def send() -> None:
        gate.wait()
        answers.append(post(photo))

    threads = [threading.Thread(target=send) for _ in range(MAX_CONCURRENT_DECODES + extra)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [422] * MAX_CONCURRENT_DECODES + [503] * extra
    for refused in (a for a in answers if a.status_code == 503):
        assert refused.headers["Content-Type"] == PROBLEM
        assert refused.headers["Retry-After"] == str(RETRY_AFTER_S)
        body = refused.json()
        assert body["type"] == "urn:medtrace:problem:unavailable"
        assert body["retry_after"] == RETRY_AFTER_S
        assert f"{MAX_CONCURRENT_DECODES} photos at once" in body["detail"]
    for decoded in (a for a in answers if a.status_code == 422):
        assert decoded.json()["scan_error"] == "no_barcode"
    # the slots are free again once the decodes are done
    assert post(png(Image.new("L", (320, 240), 250))).status_code == 422
