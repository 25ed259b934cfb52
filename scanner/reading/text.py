"""What a keyboard-wedge scanner (or a person) typed: with or without a symbology identifier
(``]d2``), GS as ``\\x1d``, ``<GS>`` or lost; bracketed ``(01)…(21)…``; an EAN/UPC; or a GS1
Digital Link URI."""

from __future__ import annotations

from ledger.digits import ascii_digits
from scanner.reading.digital_link import looks_like_uri, parse_digital_link, scheme_like
from scanner.reading.element_strings import parse_bracketed, parse_element_string
from scanner.reading.element_values import gtin14
from scanner.reading.keyboard_layout import keyboard_layout_hint
from scanner.reading.pack_code import Parsed, to_scan_data
from scanner.reading.scan_data import GS, GTIN_AI, SSCC_AI, Element, ScanData, ScanError

#: Ways people and scanners write the group separator (FNC1) in text.
_GS_SPELLINGS = ("<GS>", "<gs>", "[GS]", "{GS}", "\\x1d", "\\x1D", "\\u001d", "\\u001D", "\u241d")

#: AIM symbology identifiers whose data is GS1 element strings (FNC1 in first position).
_GS1_SYMBOLOGIES = frozenset({"]d2", "]Q3", "]C1", "]e0", "]J1"})
#: ... whose data is plain text (it may be a GS1 Digital Link URI).
_PLAIN_SYMBOLOGIES = frozenset({"]d1", "]Q1", "]J0", "]C0", "]Q0", "]d0"})
#: ... that carry a GTIN only (EAN-13 / UPC-A, EAN-8), optionally with a composite "|]e0…".
_GTIN_SYMBOLOGIES = frozenset({"]E0", "]E3", "]E4"})


def read_text(text: str) -> ScanData:
    """What a keyboard-wedge scanner (or a person) typed: with or without ``]d2``, GS as
    ``\\x1d``, ``<GS>`` or lost; bracketed ``(01)…(21)…``; or a GS1 Digital Link URI."""
    return to_scan_data(parse_text(text), decoder=None)


def read_container(text: str) -> str | None:
    """The SSCC if ``text`` is a logistic unit's code (AI 00, or a Digital Link ``/00/``)."""
    try:
        parsed = parse_text(text)
    except ScanError:
        return None
    values = dict(parsed.elements)
    if SSCC_AI in values and GTIN_AI not in values:
        return values[SSCC_AI]
    return None


def parse_text(text: str) -> Parsed:
    """Classify and parse typed or wedge-scanned text (see ``read_text``)."""
    data = text.strip(" \t\r\n")
    if not data.strip():
        raise ScanError("nothing was scanned: the text is empty", "empty")
    layout = keyboard_layout_hint(data)
    if layout is not None:
        raise ScanError(layout, "keyboard_layout")
    for spelling in _GS_SPELLINGS:
        data = data.replace(spelling, GS)
    symbology = None
    if data.startswith("]"):
        symbology, data = _split_symbology(data)
    if symbology is None:
        return _parse_unprefixed(data)
    if symbology in _GS1_SYMBOLOGIES:
        if not data.strip(GS):
            raise ScanError(f"the code ({symbology}) carries no data", "empty")
        elements, recovered, notes = parse_element_string(data)
        return Parsed("gs1", symbology, data, elements, recovered, notes)
    if symbology in _GTIN_SYMBOLOGIES:
        return _parse_ean(symbology, data)
    if looks_like_uri(data):
        return Parsed("dl", "dl", data, parse_digital_link(data))
    return Parsed("text", symbology, data)


def _split_symbology(data: str) -> tuple[str, str]:
    if len(data) < 3:
        raise ScanError(
            f"the text starts like a symbology identifier but is too short ({data!r})", "syntax"
        )
    symbology = data[:3]
    if (
        symbology in _GS1_SYMBOLOGIES
        or symbology in _PLAIN_SYMBOLOGIES
        or symbology in _GTIN_SYMBOLOGIES
    ):
        return symbology, data[3:]
    raise ScanError(
        f"unknown symbology identifier {symbology!r}: expected ]d2 (GS1 DataMatrix), ]Q3 "
        "(GS1 QR Code) or another AIM identifier",
        "syntax",
    )


def _parse_unprefixed(data: str) -> Parsed:
    if looks_like_uri(data):
        return Parsed("dl", "dl", data, parse_digital_link(data))
    if data.startswith("(") and ")" in data:
        return Parsed("gs1", "text", data, parse_bracketed(data))
    if ascii_digits(data) and len(data) in (8, 12, 13):
        return _parse_ean("text", data)
    if scheme_like(data):
        return Parsed("text", "text", data)
    first = data.lstrip(GS)[:2]
    if not ascii_digits(first):
        return Parsed("text", "text", data)
    elements, recovered, notes = parse_element_string(data)
    return Parsed("gs1", "text", data, elements, recovered, notes)


def _parse_ean(symbology: str, data: str) -> Parsed:
    main, _, composite = data.partition("|")
    lengths = {"]E4": (8,), "]E0": (13,), "]E3": (13,)}.get(symbology, (8, 12, 13, 14))
    if not (ascii_digits(main) and len(main) in lengths):
        raise ScanError(
            f"expected the digits of an EAN/UPC barcode, found {main!r}",
            "syntax",
        )
    elements: list[Element] = [(GTIN_AI, gtin14(main))]
    if composite:
        if not composite.startswith("]e0"):
            raise ScanError(f"expected a ]e0 composite after '|', found {composite[:3]!r}")
        extra, _, _ = parse_element_string(composite[3:])
        elements.extend(extra)
    return Parsed("gtin", symbology, data, tuple(elements))
