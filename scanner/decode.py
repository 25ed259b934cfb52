"""Finding barcodes in an image: zxing-cpp and ZBar (pyzbar), with retries for phone photos.

zxing-cpp reads DataMatrix and QR Code; ZBar reads QR Code and the linear symbologies (it has no
DataMatrix reader). A code counts as read when either decoder reads it. Both first look at the
image as ``scanner.image_loading`` loads it, upright, gray and at most ``DECODE_SIDE`` pixels
on its longest side (the fast path: a clean label takes a few milliseconds); only when neither
finds anything does the image go through retries, cheapest and likeliest first: the full
resolution of a downscaled phone photo, upscaling for small codes of a hundred pixels or so,
contrast and sharpening, a threshold, inversion, small and right-angle rotations, a median
filter. The first retry that finds codes ends the search; the time budget ``BUDGET_S`` ends it
for images that hold no code at all, and the report lists what it left out.

What each decoder reports is kept: the payload (GS separators as ``\\x1d``), whether it is GS1
data (FNC1 in first position), and the AIM symbology identifier (``]d2``, ``]Q3`` …). ZBar's
GS1 flag comes from ``zbar_symbol_get_modifiers``, which pyzbar does not wrap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from ctypes import POINTER, c_char_p, c_uint, c_void_p, cast, string_at
from dataclasses import dataclass, field
from typing import Any

import zxingcpp
from PIL import Image, ImageFilter, ImageOps

from scanner.image_loading import FULL_RESOLUTION_PIXELS, LoadedImage, gray, load_image, prepare

ZXING = "zxing-cpp"
PYZBAR = "pyzbar"
DECODERS = (ZXING, PYZBAR)
#: Time budget of one decode, loading included. The fast path's first decoder always runs;
#: after that no decoder starts once the budget is spent, nor when its cost per pixel measured
#: on the fast path says it would end past the budget. A decode thus ends within about the
#: budget plus one decoder pass (a tenth of a second on a photo at ``DECODE_SIDE``, about a
#: second on pure noise); a label that reads at all reads in well under a second.
BUDGET_S = 2.0
_ZXING_FORMATS = zxingcpp.BarcodeFormats(
    (zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode)
)


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
    size: tuple[int, int] = (0, 0)  # the image's size in pixels, upright
    budget_s: float = BUDGET_S
    left_out: list[str] = field(default_factory=list)  # attempts the time budget cut off

    @property
    def out_of_time(self) -> bool:
        """The budget ran out before every attempt was made."""
        return bool(self.left_out)

    @property
    def transform(self) -> str | None:
        return self.codes[0].transform if self.codes else None


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
    yield "autocontrast + sharpen", lambda: _sharpened(image)
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


@dataclass
class _Budget:
    """The time left for one decode, and what each decoder costs per pixel on this image (as
    measured on the fast path): a decoder pass starts only if it should end within the budget."""

    deadline: float
    seconds_per_pixel: dict[str, float] = field(default_factory=dict)

    def allows(self, decoder: str, image: Image.Image) -> bool:
        expected = self.seconds_per_pixel.get(decoder, 0.0) * image.width * image.height
        return time.perf_counter() + expected < self.deadline

    def spent(self) -> bool:
        return time.perf_counter() >= self.deadline

    def measure(self, decoder: str, image: Image.Image, seconds: float) -> None:
        self.seconds_per_pixel.setdefault(decoder, seconds / max(1, image.width * image.height))


def _read(
    image: Image.Image,
    decoders: Sequence[str],
    transform: str,
    found: dict[str, Decoded],
    budget: _Budget,
    *,
    fast_path: bool = False,
) -> tuple[int, str | None]:
    """Codes added to ``found``, and the first decoder the budget left out. On the fast path
    the first decoder always runs, and each decoder's cost is measured."""
    added = 0
    for position, name in enumerate(decoders):
        if not (fast_path and position == 0) and not budget.allows(name, image):
            return added, name
        started = time.perf_counter()
        read = _READERS[name](image)
        if fast_path:
            budget.measure(name, image, time.perf_counter() - started)
        for text, symbology, gs1, fmt in read:
            held = found.get(text)
            if held is None:
                found[text] = Decoded(text, symbology, gs1, fmt, (name,), transform)
                added += 1
            elif name not in held.decoders:
                found[text] = Decoded(
                    held.text,
                    held.symbology or symbology,
                    held.gs1 or gs1,
                    held.format,
                    (*held.decoders, name),
                    held.transform,
                )
    return added, None


def _retries(loaded: LoadedImage) -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    full = loaded.full
    if full is not None:  # a small code in a phone photo: every pixel, then sharpened
        yield "full resolution", lambda: full
        yield "full resolution + autocontrast + sharpen", lambda: _sharpened(full)
    yield from _transforms(loaded.image)


def _sharpened(image: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(image, cutoff=1).filter(ImageFilter.SHARPEN)


def _load(data: bytes | Image.Image) -> LoadedImage:
    if isinstance(data, Image.Image):
        image = gray(data)
        keep_full = image.width * image.height <= FULL_RESOLUTION_PIXELS
        return prepare(image, image.size, keep_full=keep_full)
    return load_image(data)


def decode_image(
    data: bytes | Image.Image,
    *,
    decoders: Sequence[str] = DECODERS,
    retries: bool = True,
    budget_s: float = BUDGET_S,
) -> DecodeReport:
    """Every barcode ``decoders`` find in the image (the bytes of a file, or a Pillow image),
    within the limits of ``scanner.image_loading`` and the time budget ``budget_s``."""
    for name in decoders:
        if name not in _READERS:
            raise ValueError(f"expected decoders from {list(_READERS)}, found {name!r}")
    start = time.perf_counter()
    budget = _Budget(start + budget_s)
    loaded = _load(data)
    report = DecodeReport(size=loaded.size, budget_s=budget_s)
    found: dict[str, Decoded] = {}
    first = "plain" if not loaded.downscaled else "downscaled to {}x{}".format(*loaded.image.size)
    report.tried.append(first)
    _, skipped = _read(loaded.image, decoders, first, found, budget, fast_path=True)
    attempts = _retries(loaded) if retries and not found else iter(())
    if skipped is not None:
        report.left_out = [f"{skipped} on {first}", *(n for n, _ in attempts)]
    for name, make in attempts:
        if budget.spent():
            report.left_out = [name, *(n for n, _ in attempts)]
            break
        report.tried.append(name)
        added, skipped = _read(make(), decoders, name, found, budget)
        if added:
            break
        if skipped is not None:
            report.left_out = [f"{skipped} on {name}", *(n for n, _ in attempts)]
            break
    report.codes = list(found.values())
    report.seconds = time.perf_counter() - start
    return report
