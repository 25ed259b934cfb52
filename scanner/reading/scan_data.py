"""What a scan yields: one pack's identifiers (``ScanData``), or a ``ScanError`` with one
sentence saying what is wrong; and the GS1 Application Identifiers a pack code carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GS = "\x1d"

#: AIs of a serialised pack (EU FMD / DSCSA): GTIN, expiry, lot, serial.
GTIN_AI, EXPIRY_AI, LOT_AI, SERIAL_AI, SSCC_AI = "01", "17", "10", "21", "00"
PACK_AIS = frozenset({GTIN_AI, EXPIRY_AI, LOT_AI, SERIAL_AI})

#: ScanError codes that mean "well-formed, but not what a pack verification reads" (as opposed
#: to a syntax problem in the data).
SCOPE_CODES = frozenset({"not_gs1", "not_a_pack", "container"})
#: Every ScanError code (docs/spec/scanner.md, "Syntax hints").
ERROR_CODES = SCOPE_CODES | {
    "syntax",
    "check_digit",
    "date",
    "lost_separator",
    "keyboard_layout",
    "digital_link",
    "empty",
    "image",
    "image_too_large",
    "no_barcode",
}


@dataclass(frozen=True)
class ScanData:
    """One pack as its code identifies it."""

    gtin: str  # GTIN-14
    serial: str
    lot: str | None
    expiry: str | None  # ISO date; YYMMDD with DD=00 → last day of that month
    symbology: str  # "]d2", "]Q3", "]d1"…, "dl" (a Digital Link URI), "text" (typed input)
    raw: str  # the decoded text, GS as \x1d
    decoder: str | None  # "zxing-cpp" | "pyzbar" | None for text
    #: True when lost group separators were put back (only one reading was possible).
    recovered: bool = False
    #: What the reader noticed on the way (a recovery, an ignored AI …), one sentence each.
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "serial": self.serial,
            "lot": self.lot,
            "expiry": self.expiry,
            "symbology": self.symbology,
            "raw": self.raw,
            "decoder": self.decoder,
            "recovered": self.recovered,
            "notes": list(self.notes),
        }


class ScanError(Exception):
    """A scan problem, never a falsification: ``hint`` is one human sentence.

    ``code`` says which kind: ``syntax``, ``check_digit``, ``date``, ``lost_separator``,
    ``keyboard_layout``, ``digital_link``, ``empty``, ``image``, ``image_too_large``,
    ``no_barcode``; or, for data that is well-formed but not a pack code, one of
    ``SCOPE_CODES`` (``not_gs1``, ``not_a_pack``, ``container``).
    """

    def __init__(self, hint: str, code: str = "syntax") -> None:
        if code not in ERROR_CODES:
            raise ValueError(
                f"expected a ScanError code from {sorted(ERROR_CODES)}, found {code!r}"
            )
        super().__init__(hint)
        self.hint = hint
        self.code = code


Element = tuple[str, str]
"""(AI, value) as carried by the code."""
