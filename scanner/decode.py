"""Finding barcodes in an image: zxing-cpp and ZBar (pyzbar), with retries for phone photos.

zxing-cpp reads DataMatrix and QR Code; ZBar reads QR Code and the linear symbologies (it has no
DataMatrix reader). A code counts as read when either decoder reads it. Both first look at the
image as it is (the fast path: a clean label takes a few milliseconds); only when neither finds
anything does the image go through transformations, cheapest and likeliest first: upscaling for
small codes of a hundred pixels or so, contrast and sharpening, a threshold, inversion, small and
right-angle rotations, a median filter. The first transformation that finds codes ends the
search; a time budget bounds it for images that hold no code at all.

What each decoder reports is kept: the payload (GS separators as ``\\x1d``), whether it is GS1
data (FNC1 in first position), and the AIM symbology identifier (``]d2``, ``]Q3`` …). ZBar's
GS1 flag comes from ``zbar_symbol_get_modifiers``, which pyzbar does not wrap.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from ctypes import POINTER, c_char_p, c_uint, c_void_p, cast, string_at
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

ZXING = "zxing-cpp"
PYZBAR = "pyzbar"
DECODERS = (ZXING, PYZBAR)
#: Largest image accepted (a 48 MP phone photo fits); larger ones are refused, not decoded.
MAX_PIXELS = 50_000_000
#: Time after which the retries stop (the fast path always runs).
BUDGET_S = 3.0
_ZXING_FORMATS = zxingcpp.BarcodeFormats(
    (zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode)
)


class ImageError(Exception):
    """The bytes are not an image that can be decoded."""


@dataclass(frozen=True)
class Decoded:
    text: str  # the payload, GS as \x1d
    symbology: str | None  # AIM symbology identifier as the decoder reports it
    gs1: bool  # FNC1 in first position: the payload is GS1 element strings
    format: str  # "DataMatrix", "QRCode", "CODE128" …
    decoders: tuple[str, ...]  # which decoders read it, the first one first
    transform: str  # what was done to the image before it was read


@dataclass
class DecodeReport:
    codes: list[Decoded] = field(default_factory=list)
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)  # transformations, in order

    @property
    def transform(self) -> str | None:
        return self.codes[0].transform if self.codes else None


# -- loading ------------------------------------------------------------------------------------


def load_image(data: bytes) -> Image.Image:
    """Decode PNG/JPEG/WebP (or any format Pillow reads) into an upright grayscale image."""
    if not data:
        raise ImageError("the image file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(BytesIO(data))
            if opened.width * opened.height > MAX_PIXELS:
                raise ImageError(
                    f"the image is too large to decode ({opened.width}x{opened.height} pixels; "
                    f"at most {MAX_PIXELS // 1_000_000} megapixels)"
                )
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(
            "the file is not an image that can be read (expected PNG, JPEG or WebP)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image file is damaged or cut short: {exc}") from None
    return gray(image)


def gray(image: Image.Image) -> Image.Image:
    """8-bit grayscale, transparency flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L") if image.mode != "L" else image


# -- the decoders -------------------------------------------------------------------------------


def _zxing(image: Image.Image) -> list[tuple[str, str | None, bool, str]]:
    found = []
    for barcode in zxingcpp.read_barcodes(
        image, formats=_ZXING_FORMATS, text_mode=zxingcpp.TextMode.Plain
    ):
        gs1 = barcode.content_type == zxingcpp.ContentType.GS1
        found.append((barcode.text, barcode.symbology_identifier or None, gs1, barcode.format.name))
    return found


_ZBAR_AIM = {
    "QRCODE": ("]Q1", "]Q3"),
    "CODE128": ("]C0", "]C1"),
    "EAN13": ("]E0", "]E0"),
    "EAN8": ("]E4", "]E4"),
    "UPCA": ("]E0", "]E0"),
    "DATABAR": ("]e0", "]e0"),
    "DATABAR_EXP": ("]e0", "]e0"),
    "I25": ("]I0", "]I1"),
}
_ZBAR_GS1 = 1  # 1 << ZBAR_MOD_GS1


@dataclass
class _Zbar:
    """Bindings for ZBar (through pyzbar's loader), with the GS1 modifier pyzbar leaves out."""

    wrapper: Any
    symbol_type: Any
    get_modifiers: Callable[[Any], int] | None

    @classmethod
    def load(cls) -> _Zbar:
        from pyzbar import wrapper  # noqa: PLC0415 - loads libzbar: only when first needed

        try:
            get_modifiers = wrapper.zbar_function(
                "zbar_symbol_get_modifiers", c_uint, POINTER(wrapper.zbar_symbol)
            )
        except AttributeError:  # pragma: no cover - a ZBar older than 0.10
            get_modifiers = None
        return cls(wrapper, wrapper.ZBarSymbol, get_modifiers)

    @contextmanager
    def scanner(self) -> Iterator[Any]:
        scanner = self.wrapper.zbar_image_scanner_create()
        try:
            yield scanner
        finally:
            self.wrapper.zbar_image_scanner_destroy(scanner)

    def read(self, image: Image.Image) -> list[tuple[str, str | None, bool, str]]:
        w = self.wrapper
        pixels = image.tobytes()
        found = []
        with self.scanner() as scanner:
            zimage = w.zbar_image_create()
            try:
                w.zbar_image_set_format(zimage, 808466521)  # fourcc 'Y800': 8-bit gray
                w.zbar_image_set_size(zimage, image.width, image.height)
                w.zbar_image_set_data(zimage, cast(c_char_p(pixels), c_void_p), len(pixels), None)
                if w.zbar_scan_image(scanner, zimage) < 0:  # pragma: no cover
                    return []
                symbol = w.zbar_image_first_symbol(zimage)
                while symbol:
                    data = string_at(
                        w.zbar_symbol_get_data(symbol), w.zbar_symbol_get_data_length(symbol)
                    )
                    try:
                        kind = self.symbol_type(symbol.contents.type).name
                    except ValueError:  # pragma: no cover - a symbology pyzbar does not know
                        kind = f"zbar-{symbol.contents.type}"
                    modifiers = self.get_modifiers(symbol) if self.get_modifiers else 0
                    gs1 = bool(modifiers & _ZBAR_GS1)
                    aim = _ZBAR_AIM.get(kind)
                    found.append(
                        (
                            data.decode("utf-8", errors="replace"),
                            aim[1 if gs1 else 0] if aim else None,
                            gs1,
                            kind,
                        )
                    )
                    symbol = w.zbar_symbol_next(symbol)
            finally:
                w.zbar_image_destroy(zimage)
        return found


_ZBAR: _Zbar | None = None


def _pyzbar(image: Image.Image) -> list[tuple[str, str | None, bool, str]]:
    global _ZBAR  # noqa: PLW0603 - one binding per process, made on first use
    if _ZBAR is None:
        _ZBAR = _Zbar.load()
    return _ZBAR.read(image)


_READERS: dict[str, Callable[[Image.Image], list[tuple[str, str | None, bool, str]]]] = {
    ZXING: _zxing,
    PYZBAR: _pyzbar,
}


# -- transformations ----------------------------------------------------------------------------


def _scale(image: Image.Image, factor: float, resample: Image.Resampling) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, resample)


def _threshold(image: Image.Image) -> Image.Image:
    """Otsu's threshold on the histogram."""
    histogram = image.histogram()
    total = sum(histogram)
    weighted = sum(i * h for i, h in enumerate(histogram))
    best, level = -1.0, 128
    below = below_weighted = 0.0
    for value, count in enumerate(histogram):
        below += count
        if below in (0, total):
            continue
        below_weighted += value * count
        mean_below = below_weighted / below
        mean_above = (weighted - below_weighted) / (total - below)
        spread = below * (total - below) * (mean_below - mean_above) ** 2
        if spread > best:
            best, level = spread, value
    return image.point(lambda v: 255 if v > level else 0)


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def _transforms(image: Image.Image) -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    """Retries, cheapest and likeliest first."""
    side = max(image.width, image.height)
    if side <= 1600:
        for factor in (2, 3, 4):
            if side * factor <= 3200:
                yield (
                    f"upscale x{factor}",
                    lambda f=factor: _scale(image, f, Image.Resampling.LANCZOS),  # type: ignore[misc]
                )
    yield (
        "autocontrast + sharpen",
        lambda: ImageOps.autocontrast(image, cutoff=1).filter(ImageFilter.SHARPEN),
    )
    yield "threshold", lambda: _threshold(image)
    if side <= 1600:
        yield (
            "upscale x2 + sharpen + threshold",
            lambda: _threshold(
                _scale(image, 2, Image.Resampling.LANCZOS).filter(ImageFilter.SHARPEN)
            ),
        )
    yield "inverted", lambda: ImageOps.invert(image)
    for degrees in (15, -15, 30, -30, 45):
        yield f"rotate {degrees}°", lambda d=degrees: _rotate(image, d)  # type: ignore[misc]
    for degrees in (90, 180, 270):
        yield f"rotate {degrees}°", lambda d=degrees: image.rotate(d, expand=True)  # type: ignore[misc]
    yield "median filter", lambda: image.filter(ImageFilter.MedianFilter(3))
    if side > 1600:
        yield "downscale x0.5", lambda: _scale(image, 0.5, Image.Resampling.LANCZOS)


# -- decoding -----------------------------------------------------------------------------------


def _read(
    image: Image.Image, decoders: Sequence[str], transform: str, found: dict[str, Decoded]
) -> int:
    added = 0
    for name in decoders:
        for text, symbology, gs1, fmt in _READERS[name](image):
            key = text
            held = found.get(key)
            if held is None:
                found[key] = Decoded(text, symbology, gs1, fmt, (name,), transform)
                added += 1
            elif name not in held.decoders:
                found[key] = Decoded(
                    held.text,
                    held.symbology or symbology,
                    held.gs1 or gs1,
                    held.format,
                    (*held.decoders, name),
                    held.transform,
                )
    return added


def decode_image(
    data: bytes | Image.Image,
    *,
    decoders: Sequence[str] = DECODERS,
    retries: bool = True,
    budget_s: float = BUDGET_S,
) -> DecodeReport:
    """Every barcode ``decoders`` find in the image (the bytes of a file, or a Pillow image)."""
    for name in decoders:
        if name not in _READERS:
            raise ValueError(f"expected decoders from {list(_READERS)}, found {name!r}")
    start = time.perf_counter()
    image = gray(data) if isinstance(data, Image.Image) else load_image(data)
    report = DecodeReport()
    found: dict[str, Decoded] = {}
    report.tried.append("plain")
    _read(image, decoders, "plain", found)
    if not found and retries:
        for name, make in _transforms(image):
            if time.perf_counter() - start > budget_s:
                break
            report.tried.append(name)
            if _read(make(), decoders, name, found):
                break
    report.codes = list(found.values())
    report.seconds = time.perf_counter() - start
    return report
