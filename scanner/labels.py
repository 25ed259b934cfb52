"""Pack labels: a GS1 DataMatrix and a GS1 Digital Link QR Code, with the text a person reads.

* **DataMatrix** (zxing-cpp's writer, GS1 mode, square): FNC1 in first position, then the
  element strings ``(01) GTIN (17) expiry (10) lot <GS> (21) serial``; a scanner reports it as
  ``]d2``. This is what EU FMD and DSCSA packs carry.
* **QR Code** (the ``qrcode`` package): the GS1 Digital Link URI
  ``https://id.gs1.org/01/{gtin}/10/{lot}/21/{serial}?17=YYMMDD``, key qualifiers in the
  standard's order (built by biip, values percent-encoded).

Under the code the label prints GTIN, expiry, lot and serial (the human-readable
interpretation). Each symbol is read back through ``scanner.reading`` before it is drawn, so a
label that would not scan as what it says is never written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import qrcode
import zxingcpp
from biip.gs1_messages import GS1Message
from PIL import Image, ImageDraw, ImageFont

from ledger.errors import IdentifierError
from ledger.identifiers import check_cset82, gtin14
from scanner.reading import ScanData, ScanError, read_text
from scanner.reading.scan_data import GS

FORMATS = ("datamatrix", "qr")
#: A4 at 300 dpi, the printable sheet's page.
PAGE = (2480, 3508)
DPI = 300


class LabelError(ValueError):
    """The pack data cannot be put on a label (bad GTIN, lot, serial or expiry)."""


@dataclass(frozen=True)
class PackLabel:
    gtin: str
    lot: str
    expiry: str  # ISO date YYYY-MM-DD, printed as YYMMDD
    serial: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "gtin", gtin14(self.gtin))
            check_cset82(self.lot, "lot")
            check_cset82(self.serial, "serial")
        except IdentifierError as exc:
            raise LabelError(str(exc)) from None
        try:
            day = date.fromisoformat(self.expiry)
        except ValueError:
            raise LabelError(f"expected an expiry date YYYY-MM-DD, found {self.expiry!r}") from None
        if day.isoformat() != self.expiry:
            raise LabelError(f"expected an expiry date YYYY-MM-DD, found {self.expiry!r}")

    @property
    def yymmdd(self) -> str:
        return date.fromisoformat(self.expiry).strftime("%y%m%d")

    def element_string(self) -> str:
        """What the DataMatrix carries after FNC1: (01)(17)(10) GS (21)."""
        return f"01{self.gtin}17{self.yymmdd}10{self.lot}{GS}21{self.serial}"

    def digital_link(self) -> str:
        """The GS1 Digital Link URI: /01/{gtin}/10/{lot}/21/{serial}?17=YYMMDD."""
        message = GS1Message.parse(self.element_string())
        return message.as_gs1_digital_link_uri().as_uri()

    def matches(self, scan: ScanData) -> bool:
        return (scan.gtin, scan.serial, scan.lot, scan.expiry) == (
            self.gtin,
            self.serial,
            self.lot,
            self.expiry,
        )

    def stem(self) -> str:
        """A file name for this pack's label."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.serial)
        return f"{self.gtin}-{safe}"


# -- symbols ------------------------------------------------------------------------------------


def datamatrix(label: PackLabel, *, module: int = 8) -> Image.Image:
    """The GS1 DataMatrix symbol (grayscale, with its quiet zone), ``module`` pixels a module."""
    content = f"[01]{label.gtin}[17]{label.yymmdd}[10]{label.lot}[21]{label.serial}"
    barcode = zxingcpp.create_barcode(
        content, zxingcpp.BarcodeFormat.DataMatrix, gs1=True, force_square=True
    )
    data = bytes(barcode.bytes).decode("ascii")
    _check(label, f"{barcode.symbology_identifier}{data}", "DataMatrix")
    image = zxingcpp.write_barcode_to_image(barcode, scale=module, add_quiet_zones=True)
    view = memoryview(image)  # type: ignore[arg-type]  # zxingcpp.Image has the buffer protocol
    assert view.shape is not None
    height, width = view.shape[0], view.shape[1]
    drawn = Image.frombytes("L", (width, height), view.tobytes())
    pad = 2 * module  # a quiet zone of 3 modules in all (the writer adds one)
    framed = Image.new("L", (width + 2 * pad, height + 2 * pad), 255)
    framed.paste(drawn, (pad, pad))
    return framed


def qr(label: PackLabel, *, module: int = 8) -> Image.Image:
    """A QR Code with the pack's GS1 Digital Link URI (grayscale, quiet zone of 4 modules)."""
    uri = label.digital_link()
    _check(label, uri, "QR Code")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=module, border=4
    )
    code.add_data(uri)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("L")


def _check(label: PackLabel, text: str, what: str) -> None:
    try:
        scanned = read_text(text)
    except ScanError as exc:  # pragma: no cover - PackLabel validated the parts
        raise LabelError(f"the {what} would not scan: {exc.hint}") from None
    if not label.matches(scanned):  # pragma: no cover - a writer bug, not a data problem
        raise LabelError(f"the {what} would scan as {scanned}, not as {label}")


def symbol(label: PackLabel, fmt: str, *, module: int = 8) -> Image.Image:
    if fmt == "datamatrix":
        return datamatrix(label, module=module)
    if fmt == "qr":
        return qr(label, module=module)
    raise LabelError(f"expected a label format from {list(FORMATS)}, found {fmt!r}")


# -- labels -------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def hri_lines(label: PackLabel) -> list[str]:
    return [
        f"GTIN {label.gtin}",
        f"EXP  {label.expiry}",
        f"LOT  {label.lot}",
        f"SN   {label.serial}",
    ]


def label_image(label: PackLabel, fmt: str = "datamatrix", *, module: int = 8) -> Image.Image:
    """The code with the human-readable lines under it, on white."""
    code = symbol(label, fmt, module=module)
    size = max(14, module * 3)
    font = _font(size)
    lines = hri_lines(label)
    probe = ImageDraw.Draw(Image.new("L", (1, 1), 255))
    text_width = max(int(probe.textlength(line, font=font)) for line in lines)
    margin = module * 2
    width = max(code.width, text_width + 2 * margin)
    line_height = int(size * 1.3)
    height = code.height + margin + line_height * len(lines) + margin
    canvas = Image.new("L", (width, height), 255)
    canvas.paste(code, ((width - code.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    top = code.height + margin // 2
    for index, line in enumerate(lines):
        draw.text((margin, top + index * line_height), line, fill=0, font=font)
    return canvas


def write_label(
    label: PackLabel,
    out: Path,
    fmt: str = "datamatrix",
    *,
    module: int = 8,
    prefix: str = "",
) -> Path:
    """Write one label PNG into ``out`` (named ``{prefix}{gtin}-{serial}-dm.png`` or ``-qr``);
    returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = "dm" if fmt == "datamatrix" else "qr"
    path = out / f"{prefix}{label.stem()}-{suffix}.png"
    label_image(label, fmt, module=module).save(path, format="PNG", dpi=(DPI, DPI))
    return path


# -- sheets -------------------------------------------------------------------------------------


def sheet_pages(
    images: Sequence[Image.Image], *, columns: int = 4, page: tuple[int, int] = PAGE
) -> list[Image.Image]:
    """Labels laid out on A4 pages at 300 dpi, as many per page as fit in ``columns``."""
    if not images:
        return []
    margin = 90
    cell_w = (page[0] - 2 * margin) // columns
    cell_h = max(img.height for img in images) + 40
    scale = min(1.0, (cell_w - 30) / max(img.width for img in images))
    cell_h = int(cell_h * scale) + 20
    rows = max(1, (page[1] - 2 * margin) // cell_h)
    per_page = rows * columns
    pages: list[Image.Image] = []
    for start in range(0, len(images), per_page):
        canvas = Image.new("L", page, 255)
        for index, original in enumerate(images[start : start + per_page]):
            img = original
            if scale < 1.0:
                img = original.resize(
                    (int(original.width * scale), int(original.height * scale)),
                    Image.Resampling.NEAREST,
                )
            row, col = divmod(index, columns)
            x = margin + col * cell_w + (cell_w - img.width) // 2
            y = margin + row * cell_h
            canvas.paste(img, (x, y))
        pages.append(canvas)
    return pages


def write_sheet(
    images: Iterable[Image.Image], out: Path, *, columns: int = 4, page: tuple[int, int] = PAGE
) -> tuple[Path, int]:
    """A printable multi-page PDF (A4, 300 dpi); returns its path and the number of pages."""
    pages = sheet_pages(list(images), columns=columns, page=page)
    if not pages:
        raise LabelError("expected at least one label for the sheet, found none")
    out.parent.mkdir(parents=True, exist_ok=True)
    first, rest = pages[0], pages[1:]
    first.save(out, format="PDF", save_all=True, append_images=rest, resolution=float(DPI))
    return out, len(pages)
