"""From what a code says to a pack: a serialised pack identifier (GTIN + serial) is required,
and anything else (plain text, a case's SSCC, a GTIN alone) is a ``ScanError`` that says so."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.reading.element_strings import swallowed_serial
from scanner.reading.element_values import field_name, gtin14, iso_date
from scanner.reading.scan_data import (
    EXPIRY_AI,
    GTIN_AI,
    LOT_AI,
    SERIAL_AI,
    SSCC_AI,
    Element,
    ScanData,
    ScanError,
)


@dataclass(frozen=True)
class Parsed:
    """What a text says, before it is required to be a pack code."""

    kind: str  # "gs1" (element strings), "dl" (Digital Link URI), "gtin" (EAN/UPC), "text"
    symbology: str
    data: str  # the payload without the symbology identifier
    elements: tuple[Element, ...] = ()
    recovered: bool = False
    notes: tuple[str, ...] = ()


def to_scan_data(parsed: Parsed, *, decoder: str | None) -> ScanData:
    """Require a serialised pack identifier (GTIN + serial) in ``parsed``."""
    if parsed.kind == "text":
        shown = parsed.data if len(parsed.data) <= 40 else parsed.data[:40] + "…"
        raise ScanError(
            f"the code holds plain text, not GS1 data ({shown!r}): this is not a pack's "
            "serialisation code",
            "not_gs1",
        )
    values = dict(parsed.elements)
    if GTIN_AI not in values:
        if SSCC_AI in values:
            raise ScanError(
                f"this is the code of a case or pallet (SSCC {values[SSCC_AI]}), not of a pack: "
                "verify the case as a whole or scan the packs inside",
                "container",
            )
        found = ", ".join(f"({ai})" for ai, _ in parsed.elements) or "nothing"
        raise ScanError(
            f"expected a GTIN (01) in the code, found {found}: this is not a pack code",
            "not_a_pack",
        )
    if SERIAL_AI not in values:
        swallowed = swallowed_serial(parsed.elements)
        if swallowed is not None:
            ai, value = swallowed
            raise ScanError(
                f"group separator missing before AI 21: the {field_name(ai)} reads {value!r}; "
                "set the scanner to send GS (FNC1), or type <GS> before 21",
                "lost_separator",
            )
        raise ScanError(
            f"the code carries GTIN {values[GTIN_AI]} but no serial number (21): it identifies "
            "a product, not one pack (scan the 2D code, not the linear barcode)",
            "not_a_pack",
        )
    gtin = gtin14(values[GTIN_AI])
    expiry = iso_date(values[EXPIRY_AI]) if EXPIRY_AI in values else None
    symbology = parsed.symbology
    return ScanData(
        gtin=gtin,
        serial=values[SERIAL_AI],
        lot=values.get(LOT_AI),
        expiry=expiry,
        symbology=symbology,
        raw=parsed.data,
        decoder=decoder,
        recovered=parsed.recovered,
        notes=parsed.notes,
    )
