"""What the barcodes in an image say: pack codes, the SSCCs of cases and pallets, and the
problems, sorted; the one ``ScanError`` to show when no pack code is among them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scanner.reading.digital_link import looks_like_uri, parse_digital_link
from scanner.reading.element_strings import parse_element_string
from scanner.reading.pack_code import Parsed, to_scan_data
from scanner.reading.scan_data import SCOPE_CODES, SSCC_AI, ScanData, ScanError


def read_image(data: bytes) -> list[ScanData]:
    """Every GS1 pack code in an image (PNG, JPEG, WebP); ``ScanError`` if there is none.

    The decode holds one of this process's decode slots (``scanner.decode_slots``):
    ``DecodersBusy`` when every slot is taken."""
    # Pillow and the decoders only when an image comes
    from scanner.decode import decode_image  # noqa: PLC0415
    from scanner.decode_slots import DECODE_SLOTS  # noqa: PLC0415
    from scanner.image_loading import ImageError  # noqa: PLC0415

    with DECODE_SLOTS.slot():
        try:
            report = decode_image(data)
        except ImageError as exc:
            raise ScanError(str(exc), exc.code) from None
    found = sort_codes(report.codes, budget=budget_spent(report))
    if found.packs:
        return found.packs
    raise no_pack_error(found)


@dataclass
class ImageCodes:
    """What the barcodes in one image say, sorted: packs, cases (SSCCs) and what failed."""

    packs: list[ScanData]
    containers: list[str]
    problems: list[ScanError]
    barcodes: int
    budget: str | None = None  # how the decode's time budget cut the search short, if it did


def budget_spent(report: Any) -> str | None:
    """What the time budget of a decode (``scanner.decode.DecodeReport``) left untried."""
    if not report.left_out:
        return None
    return (
        f"stopped at the {report.budget_s:g} s decode budget after {len(report.tried)} "
        f"attempt(s), leaving out {report.left_out[0]} and {len(report.left_out) - 1} more"
    )


def sort_codes(codes: Sequence[Any], *, budget: str | None = None) -> ImageCodes:
    """Parse decoded barcodes (``scanner.decode.Decoded``) into pack codes, SSCCs, problems;
    ``budget`` is what ``budget_spent`` said of the decode."""
    unique: dict[tuple[str, str, str | None, str | None], ScanData] = {}
    containers: list[str] = []
    problems: list[ScanError] = []
    for code in codes:
        try:
            parsed = parse_decoded(code.text, code.symbology, gs1=code.gs1)
            scan = to_scan_data(parsed, decoder=code.decoders[0])
        except ScanError as exc:
            if exc.code == "container":
                sscc = dict(parse_decoded(code.text, code.symbology, gs1=code.gs1).elements)
                containers.append(sscc[SSCC_AI])
            else:
                problems.append(exc)
            continue
        unique.setdefault((scan.gtin, scan.serial, scan.lot, scan.expiry), scan)
    return ImageCodes(
        list(unique.values()), list(dict.fromkeys(containers)), problems, len(codes), budget
    )


def no_pack_error(found: ImageCodes) -> ScanError:
    syntax = [p for p in found.problems if p.code not in SCOPE_CODES]
    if syntax:
        return syntax[0]
    if found.containers:
        return ScanError(
            f"this is the code of a case or pallet (SSCC {found.containers[0]}), not of a pack: "
            "verify the case as a whole or scan the packs inside",
            "container",
        )
    if found.problems:
        first = found.problems[0]
        return ScanError(
            f"found {found.barcodes} barcode(s) but no pack code: {first.hint}", first.code
        )
    searched = f" ({found.budget})" if found.budget else ""
    return ScanError(
        f"no barcode found in the image{searched}: hold the code flat, fill more of the frame "
        "with it, avoid glare, and try again",
        "no_barcode",
    )


def parse_decoded(text: str, symbology: str | None, *, gs1: bool) -> Parsed:
    """A decoder's output: the payload with GS separators and what the decoder said it was."""
    if gs1:
        elements, recovered, notes = parse_element_string(text, wedge=False)
        return Parsed("gs1", symbology or "]d2", text, elements, recovered, notes)
    if looks_like_uri(text):
        return Parsed("dl", "dl", text, parse_digital_link(text))
    return Parsed("text", symbology or "text", text)
