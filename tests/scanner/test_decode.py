"""Decoding images: the published zxing-cpp samples, images without codes, and label photos
degraded the way phones degrade them (rotation, small codes, blur, JPEG, several per image)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from scanner.decode import PYZBAR, ZXING, decode_image
from scanner.image_loading import ImageError, load_image
from scanner.labels import PackLabel, label_image, symbol
from scanner.reading import ScanError, read_image, read_text
from tests.scanner.conftest import TESTDATA, shared_data

SAMPLES = TESTDATA / "zxing-cpp-samples"
LABEL = PackLabel("09506000134352", "A2611", "2028-10-31", "4TQ2M8ZK1V9C")


def _samples() -> list[Path]:
    if not SAMPLES.exists():
        return []
    return sorted(
        p for p in SAMPLES.rglob("*") if p.suffix in (".png", ".jpg", ".webp") and p.is_file()
    )


def _expected(image: Path) -> tuple[bytes | None, dict[str, str]]:
    txt = image.with_suffix(".txt")
    meta: dict[str, str] = {}
    result = image.with_suffix(".result.txt")
    if result.exists():
        for line in result.read_text().splitlines():
            key, _, value = line.partition("=")
            meta[key.strip()] = value.strip()
    return (txt.read_bytes() if txt.exists() else None), meta


SAMPLE_FILES = _samples()


@pytest.mark.parametrize(
    "image", SAMPLE_FILES, ids=[str(p.relative_to(SAMPLES)) for p in SAMPLE_FILES]
)
def test_every_published_sample_decodes_to_its_text(image: Path) -> None:
    shared_data("zxing-cpp-samples")
    expected, meta = _expected(image)
    report = decode_image(image.read_bytes())
    if expected is None:  # falsepositives-1: no barcode in there
        assert report.codes == [], f"{image.name}: found {report.codes}"
        return
    assert [c.text.encode() for c in report.codes] == [expected]
    code = report.codes[0]
    if "symbologyIdentifier" in meta:
        assert code.symbology == meta["symbologyIdentifier"]
    # ]d8: zxing-cpp's identifier for a rectangular (DMRE) GS1 DataMatrix (README.txt)
    gs1 = meta.get("contentType") == "GS1" or meta.get("symbologyIdentifier") in (
        "]d2",
        "]Q3",
        "]d8",
    )
    assert code.gs1 == gs1
    if gs1:  # then the GS1 parser reads it, from the image and as wedge text with ]d2
        (scan,) = read_image(image.read_bytes())
        assert (scan.gtin, scan.serial, scan.lot, scan.expiry) == (
            "09504000059101",
            "12345678p901",
            "1234567p",
            "2014-11-20",
        )
        assert read_text("]d2" + expected.decode()) == read_text("]d2" + code.text)


def test_the_published_samples_are_there() -> None:
    shared_data("zxing-cpp-samples")
    assert len(SAMPLE_FILES) == 12
    assert sum(1 for p in SAMPLE_FILES if p.parent.name == "falsepositives-1") == 2


@pytest.mark.parametrize("name", ["#245.png", "#570.png"])
def test_images_with_no_barcode_give_nothing(name: str) -> None:
    image = shared_data("zxing-cpp-samples", "falsepositives-1", name)
    for decoder in (ZXING, PYZBAR):
        assert decode_image(image.read_bytes(), decoders=[decoder]).codes == []
    with pytest.raises(ScanError) as caught:
        read_image(image.read_bytes())
    assert caught.value.code == "no_barcode"


# -- degraded label photos ----------------------------------------------------------------------


def _png(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _rotate(degrees: int) -> Callable[[Image.Image], Image.Image]:
    def turn(image: Image.Image) -> Image.Image:
        return image.rotate(degrees, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)

    return turn


def _small(image: Image.Image) -> Image.Image:
    """The code alone at about a hundred pixels, inside a larger, busier photo."""
    canvas = Image.new("L", (900, 700), 190)
    draw = ImageDraw.Draw(canvas)
    for n in range(60):
        draw.line((n * 15, 0, 900 - n * 9, 700), fill=120 + n, width=2)
    canvas.paste(image.resize((100, 100), Image.Resampling.LANCZOS), (400, 300))
    return canvas


def _blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(2))


def _jpeg30(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(_png(image.convert("RGB"), "JPEG", quality=30)))


DEGRADATIONS: dict[str, tuple[Callable[[Image.Image], Image.Image], bool]] = {
    # name: (what happens to the image, whether it applies to the bare symbol)
    "rotated_90": (_rotate(90), False),
    "rotated_180": (_rotate(180), False),
    "rotated_270": (_rotate(270), False),
    "rotated_15": (_rotate(15), False),
    "scaled_to_100px": (_small, True),
    "blurred": (_blur, False),
    "jpeg_quality_30": (_jpeg30, False),
}
#: what each decoder reads: ZBar has no DataMatrix reader
READABLE = [(ZXING, "datamatrix"), (ZXING, "qr"), (PYZBAR, "qr")]


@pytest.mark.parametrize("degradation", list(DEGRADATIONS))
@pytest.mark.parametrize(("decoder", "fmt"), READABLE, ids=[f"{d}-{f}" for d, f in READABLE])
def test_degraded_labels_still_read(degradation: str, decoder: str, fmt: str) -> None:
    change, bare = DEGRADATIONS[degradation]
    source = symbol(LABEL, fmt) if bare else label_image(LABEL, fmt)
    data = _png(change(source))
    report = decode_image(data, decoders=[decoder])
    assert len(report.codes) == 1, f"{degradation}: tried {report.tried}"
    assert report.codes[0].decoders == (decoder,)
    (scan,) = read_image(data)
    assert LABEL.matches(scan)


def test_several_codes_in_one_image_are_all_read() -> None:
    labels = [PackLabel(LABEL.gtin, LABEL.lot, LABEL.expiry, f"MULTI{n}") for n in range(4)]
    tiles = [label_image(labels[0], "datamatrix"), label_image(labels[1], "qr")]
    tiles += [label_image(labels[2], "datamatrix"), label_image(labels[3], "qr")]
    sheet = Image.new("L", (sum(t.width for t in tiles) + 200, max(t.height for t in tiles)), 255)
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + 50
    scans = read_image(_png(sheet))
    assert sorted(s.serial for s in scans) == [f"MULTI{n}" for n in range(4)]
    assert {s.symbology for s in scans} == {"]d2", "dl"}


def test_a_code_read_by_both_decoders_counts_once() -> None:
    report = decode_image(_png(label_image(LABEL, "qr")))
    assert len(report.codes) == 1
    assert report.codes[0].decoders == (ZXING, PYZBAR)
    assert report.tried == ["plain"]


def test_the_fast_path_tries_no_transformation_on_a_clean_label() -> None:
    report = decode_image(_png(label_image(LABEL, "datamatrix")))
    assert report.tried == ["plain"]
    assert report.transform == "plain"


def test_a_pyzbar_gs1_qr_code_is_reported_as_gs1() -> None:
    image = shared_data("zxing-cpp-samples", "qrcode-2", "gs1-figure-4.15.1-2.png")
    (code,) = decode_image(image.read_bytes(), decoders=[PYZBAR]).codes
    assert (code.symbology, code.gs1) == ("]Q3", True)


IMAGE_ERRORS = [
    ("empty_file", b"", "empty"),
    ("not_an_image", b"%PDF-1.4 hello", "not an image"),
    ("cut_png", _png(Image.new("L", (64, 64), 255))[:60], "damaged"),
]


@pytest.mark.parametrize(("case", "data", "words"), IMAGE_ERRORS, ids=[e[0] for e in IMAGE_ERRORS])
def test_files_that_are_no_images_are_scan_errors(case: str, data: bytes, words: str) -> None:
    with pytest.raises(ImageError, match=words):
        load_image(data)
    with pytest.raises(ScanError) as caught:
        read_image(data)
    assert caught.value.code == "image"


def test_transparent_images_are_read_on_white() -> None:
    code = label_image(LABEL, "datamatrix").convert("LA")
    rgba = Image.new("RGBA", code.size, (0, 0, 0, 0))
    rgba.paste(
        code.convert("RGBA"), (0, 0), mask=Image.eval(code.getchannel("L"), lambda v: 255 - v)
    )
    (scan,) = read_image(_png(rgba))
    assert LABEL.matches(scan)
