"""Reading what a pack carries: keyboard-wedge text, GS1 Digital Link URIs and barcode images.

This is the scanner's one entry point for input (the CLI and the web scan page both call it)::

    read_text("]d201095060001343521728103110A2611\\x1d21ABC123")  -> ScanData
    read_image(png_bytes)                                        -> [ScanData, …]

Everything GS1 (the Application Identifier table, value formats, check digits, dates, Digital
Link key qualifiers) comes from ``biip``; this module adds what a counter needs on top: one
specific sentence for every problem (``ScanError.hint``), recovery of group separators that a
keyboard wedge dropped when only one reading is possible, and the detection of keyboard-layout
swaps. A syntax problem is always a ``ScanError``, never a verdict: a bad scan is not a
falsification.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gtin import Gtin

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
    "no_barcode",
}

_NAMES = {
    GTIN_AI: "GTIN",
    EXPIRY_AI: "expiry",
    LOT_AI: "lot",
    SERIAL_AI: "serial",
    SSCC_AI: "SSCC",
    "11": "production date",
    "15": "best-before date",
}

#: Ways people and scanners write the group separator (FNC1) in text.
_GS_SPELLINGS = ("<GS>", "<gs>", "[GS]", "{GS}", "\\x1d", "\\x1D", "\\u001d", "\\u001D", "\u241d")

#: AIM symbology identifiers whose data is GS1 element strings (FNC1 in first position).
_GS1_SYMBOLOGIES = frozenset({"]d2", "]Q3", "]C1", "]e0", "]J1"})
#: ... whose data is plain text (it may be a GS1 Digital Link URI).
_PLAIN_SYMBOLOGIES = frozenset({"]d1", "]Q1", "]J0", "]C0", "]Q0", "]d0"})
#: ... that carry a GTIN only (EAN-13 / UPC-A, EAN-8), optionally with a composite "|]e0…".
_GTIN_SYMBOLOGIES = frozenset({"]E0", "]E3", "]E4"})

_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]*)://")
#: RFC 3986 characters (unreserved, reserved, and '%' for escapes).
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_HOST = re.compile(r"\A(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?)+\Z|\A\[[0-9A-Fa-f:.]+\]\Z")
_PORT = re.compile(r"\A\d{1,5}\Z")


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
    ``keyboard_layout``, ``digital_link``, ``empty``, ``image``, ``no_barcode``; or, for data
    that is well-formed but not a pack code, one of ``SCOPE_CODES`` (``not_gs1``,
    ``not_a_pack``, ``container``).
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


@dataclass(frozen=True)
class Parsed:
    """What a text says, before it is required to be a pack code."""

    kind: str  # "gs1" (element strings), "dl" (Digital Link URI), "gtin" (EAN/UPC), "text"
    symbology: str
    data: str  # the payload without the symbology identifier
    elements: tuple[Element, ...] = ()
    recovered: bool = False
    notes: tuple[str, ...] = ()


# -- public entry points ------------------------------------------------------------------------


def read_text(text: str) -> ScanData:
    """What a keyboard-wedge scanner (or a person) typed: with or without ``]d2``, GS as
    ``\\x1d``, ``<GS>`` or lost; bracketed ``(01)…(21)…``; or a GS1 Digital Link URI."""
    return to_scan_data(parse_text(text), decoder=None)


def read_image(data: bytes) -> list[ScanData]:
    """Every GS1 pack code in an image (PNG, JPEG, WebP); ``ScanError`` if there is none."""
    from scanner.decode import ImageError, decode_image  # noqa: PLC0415 - Pillow only when needed

    try:
        report = decode_image(data)
    except ImageError as exc:
        raise ScanError(str(exc), "image") from None
    return scan_data_from_codes(report.codes)


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


# -- from parsed data to a pack -----------------------------------------------------------------


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
        swallowed = _swallowed_serial(parsed.elements)
        if swallowed is not None:
            ai, value = swallowed
            raise ScanError(
                f"group separator missing before AI 21: the {_name(ai)} reads {value!r}; "
                "set the scanner to send GS (FNC1), or type <GS> before 21",
                "lost_separator",
            )
        raise ScanError(
            f"the code carries GTIN {values[GTIN_AI]} but no serial number (21): it identifies "
            "a product, not one pack (scan the 2D code, not the linear barcode)",
            "not_a_pack",
        )
    gtin = _gtin14(values[GTIN_AI])
    expiry = _iso_date(values[EXPIRY_AI]) if EXPIRY_AI in values else None
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


@dataclass
class ImageCodes:
    """What the barcodes in one image say, sorted: packs, cases (SSCCs) and what failed."""

    packs: list[ScanData]
    containers: list[str]
    problems: list[ScanError]
    barcodes: int


def sort_codes(codes: Sequence[Any]) -> ImageCodes:
    """Parse decoded barcodes (``scanner.decode.Decoded``) into pack codes, SSCCs, problems."""
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
    return ImageCodes(list(unique.values()), list(dict.fromkeys(containers)), problems, len(codes))


def scan_data_from_codes(codes: Sequence[Any]) -> list[ScanData]:
    """Pack codes among decoded barcodes; ``ScanError`` if there is none."""
    found = sort_codes(codes)
    if found.packs:
        return found.packs
    raise no_pack_error(found)


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
    return ScanError(
        "no barcode found in the image: hold the code flat, fill more of the frame with it, "
        "avoid glare, and try again",
        "no_barcode",
    )


def parse_decoded(text: str, symbology: str | None, *, gs1: bool) -> Parsed:
    """A decoder's output: the payload with GS separators and what the decoder said it was."""
    if gs1:
        elements, recovered, notes = parse_element_string(text, wedge=False)
        return Parsed("gs1", symbology or "]d2", text, elements, recovered, notes)
    if _looks_like_uri(text):
        return Parsed("dl", "dl", text, parse_digital_link(text))
    return Parsed("text", symbology or "text", text)


# -- text ---------------------------------------------------------------------------------------


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
    if _looks_like_uri(data):
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
    if _looks_like_uri(data):
        return Parsed("dl", "dl", data, parse_digital_link(data))
    if data.startswith("(") and ")" in data:
        return Parsed("gs1", "text", data, parse_bracketed(data))
    if data.isdigit() and len(data) in (8, 12, 13):
        return _parse_ean("text", data)
    if _scheme_like(data):
        return Parsed("text", "text", data)
    first = data.lstrip(GS)[:2]
    if not first.isdigit():
        return Parsed("text", "text", data)
    elements, recovered, notes = parse_element_string(data)
    return Parsed("gs1", "text", data, elements, recovered, notes)


def _parse_ean(symbology: str, data: str) -> Parsed:
    main, _, composite = data.partition("|")
    lengths = {"]E4": (8,), "]E0": (13,), "]E3": (13,)}.get(symbology, (8, 12, 13, 14))
    if not (main.isdigit() and len(main) in lengths):
        raise ScanError(
            f"expected the digits of an EAN/UPC barcode, found {main!r}",
            "syntax",
        )
    elements: list[Element] = [(GTIN_AI, _gtin14(main))]
    if composite:
        if not composite.startswith("]e0"):
            raise ScanError(f"expected a ]e0 composite after '|', found {composite[:3]!r}")
        extra, _, _ = parse_element_string(composite[3:])
        elements.extend(extra)
    return Parsed("gtin", symbology, data, tuple(elements))


def parse_bracketed(data: str) -> tuple[Element, ...]:
    """Human-readable ``(01)…(17)…(10)…(21)…`` as printed under a code."""
    elements: list[Element] = []
    for match in re.finditer(r"\((\d{2,4})\)([^(]*)", data):
        ai, value = match[1], match[2].strip()
        elements.append(_checked(ai, value))
    if not elements or "".join(f"({a}){v}" for a, v in elements) != re.sub(r"\s+", "", data):
        raise ScanError(
            f"expected (AI)value pairs like (01)09506000134352(21)ABC123, found {data[:40]!r}"
        )
    _no_conflicting_repeats(elements)
    return tuple(elements)


# -- element strings ----------------------------------------------------------------------------


def parse_element_string(
    data: str, *, wedge: bool = True
) -> tuple[tuple[Element, ...], bool, tuple[str, ...]]:
    """GS1 element strings (GS between fields) → elements, whether lost separators were put
    back, and notes.

    ``wedge``: the text came through a keyboard wedge, which may have dropped every GS. Then,
    when the data holds no GS at all, every way to split it into valid element strings with a
    GTIN and a serial is considered: one reading is used; several readings that differ are a
    ``ScanError`` naming them (unless exactly one of them holds nothing but GTIN, expiry, lot
    and serial). A decoder's output (``wedge=False``) is read as it is, and recovered only when
    it cannot be read at all.
    """
    body = data.strip(GS + " ")
    if not body:
        raise ScanError("the code carries no GS1 data", "empty")
    try:
        direct: tuple[Element, ...] | None = _direct(body)
        error: ScanError | None = None
    except ScanError as exc:
        direct, error = None, exc
    if GS in body or (not wedge and direct is not None):
        if error is not None:
            raise error
        assert direct is not None
        return direct, False, ()
    try:
        readings = _readings(body)
    except _TooMany:
        raise ScanError(
            "group separators are missing and the data can be split into fields in too many "
            "ways to tell which is meant; set the scanner to send GS (FNC1), or type <GS> "
            "where a field ends",
            "lost_separator",
        ) from None
    if not readings:
        if error is not None:
            raise error
        assert direct is not None
        return direct, False, ()
    chosen: tuple[Element, ...] | None = readings[0] if len(readings) == 1 else None
    assumed = False
    if chosen is None:
        profile = [r for r in readings if {ai for ai, _ in r} <= PACK_AIS]
        if len(profile) != 1:
            shown = " or ".join(_hri(r) for r in (profile or readings)[:3])
            moved = _moved_ai(profile or readings)
            where = f" before AI {moved}" if moved else ""
            raise ScanError(
                f"group separator missing{where}: the data can be read as {shown}; set the "
                "scanner to send GS (FNC1), or type <GS> where a field ends",
                "lost_separator",
            )
        chosen, assumed = profile[0], True
    if chosen == direct:
        return chosen, False, ()
    if assumed:
        note = (
            "group separators were missing; read as the only reading with nothing but GTIN, "
            "expiry, lot and serial: " + _hri(chosen)
        )
    else:
        note = "group separators were missing; the only possible reading is " + _hri(chosen)
    return chosen, True, (note,)


def _moved_ai(readings: Sequence[tuple[Element, ...]]) -> str | None:
    """The first AI that starts at different places in different readings."""
    starts: dict[str, set[int]] = {}
    present: dict[str, int] = {}
    first: dict[str, int] = {}
    for reading in readings:
        offset = 0
        for ai, value in reading:
            starts.setdefault(ai, set()).add(offset)
            present[ai] = present.get(ai, 0) + 1
            first[ai] = min(first.get(ai, offset), offset)
            offset += len(ai) + len(value)
    moved = [ai for ai, where in starts.items() if len(where) > 1 or present[ai] < len(readings)]
    return min(moved, key=lambda ai: first[ai]) if moved else None


def _direct(body: str) -> tuple[Element, ...]:
    elements: list[Element] = []
    pos = 0
    while pos < len(body):
        if body[pos] == GS:
            pos += 1  # a superfluous separator is allowed between any two fields
            continue
        rest = body[pos:]
        ai = _ai_at(rest)
        if ai is None:
            raise ScanError(
                f"no GS1 Application Identifier at character {pos + 1} ({rest[:8]!r}): the "
                "data is cut, mistyped, or a field is longer than allowed"
            )
        field_end = body.find(GS, pos)
        chunk = body[pos : len(body) if field_end < 0 else field_end]
        match = re.match(_PATTERN(ai.ai).pattern.removesuffix("$"), chunk)
        if match is None:
            raise _value_problem(ai, chunk[len(ai.ai) :], fixed=not ai.separator_required)
        take = match.end()
        value = chunk[len(ai.ai) : take]
        if ai.separator_required and take < len(chunk):
            after = chunk[take]
            if not _PATTERN(ai.ai).fullmatch(ai.ai + value[:-1] + after):
                raise _bad_character(ai.ai, after, len(value) + 1)
            raise ScanError(
                f"the {_name(ai.ai)} ({ai.ai}) reaches its maximum length and the data goes on "
                f"({chunk[take : take + 8]!r}…): a group separator is missing after it, or the "
                "value is too long",
                "lost_separator",
            )
        elements.append(_checked(ai.ai, value))
        pos += take
    _no_conflicting_repeats(elements)
    return tuple(elements)


def _is_pack(elements: Sequence[Element]) -> bool:
    ais = {ai for ai, _ in elements}
    return GTIN_AI in ais and SERIAL_AI in ais


class _TooMany(Exception):
    """The search for readings ran out of its budget."""


def _readings(body: str, limit: int = 32, budget: int = 2000) -> list[tuple[Element, ...]]:
    """Every split of ``body`` into distinct, valid element strings with a GTIN and a serial
    (at most ``limit`` of them); ``_TooMany`` after ``budget`` candidate fields."""
    found: list[tuple[Element, ...]] = []
    tried = 0

    def walk(pos: int, acc: list[Element], used: set[str]) -> None:
        nonlocal tried
        if len(found) >= limit:
            return
        if pos == len(body):
            if _is_pack(acc):
                found.append(tuple(acc))
            return
        ai = _ai_at(body[pos:])
        if ai is None or ai.ai in used:
            return
        pattern = _PATTERN(ai.ai)
        start = pos + len(ai.ai)
        for end in range(start + 1, len(body) + 1):
            if not pattern.fullmatch(body[pos:end]):
                continue
            tried += 1
            if tried > budget:
                raise _TooMany
            try:
                element = _checked(ai.ai, body[start:end])
            except ScanError:
                continue
            acc.append(element)
            used.add(ai.ai)
            walk(end, acc, used)
            used.discard(ai.ai)
            acc.pop()
            if not ai.separator_required:
                break

    walk(0, [], set())
    return found


def _swallowed_serial(elements: Iterable[Element]) -> Element | None:
    for ai, value in elements:
        if _ai(ai).separator_required and SERIAL_AI in value[1:-1]:
            return ai, value
    return None


@lru_cache(maxsize=1024)
def _ai(code: str) -> GS1ApplicationIdentifier:
    return GS1ApplicationIdentifier.extract(code)


def _ai_at(text: str) -> GS1ApplicationIdentifier | None:
    try:
        ai = _ai(text[:4])
    except ParseError:
        return None
    return ai if text.startswith(ai.ai) else None


@lru_cache(maxsize=1024)
def _PATTERN(code: str) -> re.Pattern[str]:  # noqa: N802 - a constant per AI
    return re.compile(_ai(code).pattern)


def _in_cset(char: str) -> bool:
    return re.fullmatch(r"[!%-?A-Z_a-z\x22]", char) is not None


def _name(ai: str) -> str:
    return _NAMES.get(ai, f"field ({ai})")


def _checked(ai: str, value: str) -> Element:
    """One element string, validated by biip: format, check digit, date."""
    if not value:
        raise ScanError(f"the {_name(ai)} ({ai}) is empty")
    try:
        element = GS1ElementString.parse(ai + value)
    except ParseError:
        raise _value_problem(_ai(ai), value, fixed=not _ai(ai).separator_required) from None
    for error in (element.gtin_error, element.sscc_error, element.gln_error):
        if error is not None:
            raise _check_digit_problem(ai, value) from None
    return ai, value


def _value_problem(ai: GS1ApplicationIdentifier, value: str, *, fixed: bool) -> ScanError:
    name = _name(ai.ai)
    if ai.ai in _DATE_AIS:
        return _date_problem(ai.ai, value)
    for index, char in enumerate(value, 1):
        if not (char.isdigit() or _in_cset(char)) or (_numeric(ai) and not char.isdigit()):
            return _bad_character(ai.ai, char, index)
    if fixed:
        return ScanError(
            f"the {name} ({ai.ai}) must be {ai.format.split('+', 1)[1]} ({_describe(ai)}), "
            f"found {len(value)} character(s) {value[:20]!r}"
        )
    return ScanError(
        f"the {name} ({ai.ai}) {value[:24]!r} does not match its format {ai.format.split('+', 1)[1]}"
    )


def _numeric(ai: GS1ApplicationIdentifier) -> bool:
    return ai.format.split("+", 1)[1].startswith("N")


def _describe(ai: GS1ApplicationIdentifier) -> str:
    spec = ai.format.split("+", 1)[1]
    kind = "digits" if spec.startswith("N") else "characters"
    return f"{spec[1:].replace('..', 'up to ')} {kind}"


def _bad_character(ai: str, char: str, position: int) -> ScanError:
    return ScanError(
        f"character {char!r} is not allowed in the {_name(ai)} ({ai}) at position {position}",
        "syntax",
    )


_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17", "7006"})


def _date_problem(ai: str, value: str) -> ScanError:
    name = _name(ai)
    if not (len(value) >= 6 and value[:6].isdigit()):
        return ScanError(
            f"the {name} ({ai}) must be a date YYMMDD of 6 digits, found {value[:10]!r}", "date"
        )
    month, day = int(value[2:4]), int(value[4:6])
    if not 1 <= month <= 12:
        return ScanError(f"{name} month {month:02d} is not a month ({value[:6]})", "date")
    year = _century_year(int(value[:2]))
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return ScanError(
            f"{name} day {day:02d} does not exist in {year}-{month:02d} ({value[:6]})", "date"
        )
    return ScanError(f"the {name} ({ai}) {value!r} is not a valid date YYMMDD", "date")


def _century_year(two_digits: int) -> int:
    parsed = GS1ElementString.parse(f"17{two_digits:02d}0101").date
    assert parsed is not None
    return parsed.year


def _check_digit_problem(ai: str, value: str) -> ScanError:
    expected = gs1_standard_check_digit(value[:-1])
    return ScanError(
        f"{_name(ai)} check digit wrong: expected {expected}, found {value[-1]} "
        f"({ai} {value}): a misread or mistyped digit",
        "check_digit",
    )


def _no_conflicting_repeats(elements: Sequence[Element]) -> None:
    seen: dict[str, str] = {}
    for ai, value in elements:
        if ai in seen and seen[ai] != value:
            raise ScanError(
                f"AI ({ai}) appears twice with different values ({seen[ai]!r} and {value!r})"
            )
        seen[ai] = value


def _gtin14(value: str) -> str:
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError:
        raise _check_digit_problem(GTIN_AI, value) from None


def _iso_date(value: str) -> str:
    parsed = GS1ElementString.parse(EXPIRY_AI + value).date
    assert parsed is not None
    return parsed.isoformat()


def _hri(elements: Iterable[Element]) -> str:
    return "".join(f"({ai}){value}" for ai, value in elements)


def fnc1_form(elements: Iterable[Element]) -> str:
    """The GS1 syntax engine's notation: ``^`` for FNC1 in first position and for every
    separator after a variable-length field that is not last."""
    items = list(elements)
    parts = ["^"]
    for index, (ai, value) in enumerate(items):
        parts.append(ai + value)
        if _ai(ai).separator_required and index < len(items) - 1:
            parts.append("^")
    return "".join(parts)


# -- keyboard layouts ---------------------------------------------------------------------------

#: What a US-layout scanner's keys become on a German (QWERTZ) computer, for characters that
#: cannot be in GS1 data; and the French (AZERTY) unshifted number row.
_GERMAN = {"ß": "-", "ä": "'", "Ä": '"', "ö": ";", "Ö": ":", "ü": "[", "Ü": "{", "§": "#", "°": "~"}
_FRENCH = {"à": "0", "é": "2", "è": "7", "ç": "9"}


def keyboard_layout_hint(text: str) -> str | None:
    """A sentence when ``text`` shows a keyboard-layout mismatch between scanner and computer."""
    if len(text) >= 3 and text[0] in "+$" and text[1:3] in {"d2", "Q3", "d1", "Q1", "C1", "e0"}:
        layout = "German (QWERTZ)" if text[0] == "+" else "French (AZERTY)"
        return (
            f"keyboard layout mismatch: the symbology identifier ']{text[1:3]}' arrived as "
            f"{text[:3]!r}, so the scanner types US keys into a {layout} layout; set the "
            "scanner and the computer to the same layout, then scan again"
        )
    for layouts, table in (("German (QWERTZ)", _GERMAN), ("French (AZERTY)", _FRENCH)):
        for char in text:
            if char in table:
                return (
                    f"keyboard layout mismatch: {char!r} arrived where the scanner sent "
                    f"{table[char]!r}, which a {layouts} layout does to a US-layout scanner; set "
                    "the scanner and the computer to the same layout, then scan again"
                )
    if re.match(r"\A\)\d{2,4}=", text):
        return (
            "keyboard layout mismatch: '(' arrived as ')' and ')' as '=', which a German "
            "(QWERTZ) layout does to a US-layout scanner; set the scanner and the computer to "
            "the same layout, then scan again"
        )
    if re.match(r"\Ahttps?Ö", text, re.IGNORECASE):
        return (
            "keyboard layout mismatch: ':' arrived as 'Ö' (a German layout); set the scanner "
            "and the computer to the same layout, then scan again"
        )
    return None


# -- GS1 Digital Link ---------------------------------------------------------------------------


def _looks_like_uri(text: str) -> bool:
    match = _SCHEME.match(text)
    if match is None:
        return False
    scheme = match[1]
    return scheme.lower() in ("http", "https") and scheme in (scheme.lower(), scheme.upper())


def _scheme_like(text: str) -> bool:
    return _SCHEME.match(text) is not None


@lru_cache(maxsize=1)
def _primary_keys() -> dict[str, tuple[str, ...]]:
    """Digital Link primary keys and their key qualifiers in order, from biip."""
    from biip.gs1_digital_link_uris import _PRIMARY_IDENTIFIER_MAP  # noqa: PLC0415

    return {
        key: tuple(q.ai.ai for q in component.qualifiers)
        for key, component in _PRIMARY_IDENTIFIER_MAP.items()
    }


def parse_digital_link(uri: str) -> tuple[Element, ...]:
    """A GS1 Digital Link URI → its elements: the primary key and its qualifiers from the path
    (in the standard's order), then the data attributes from the query string."""
    match = _SCHEME.match(uri)
    if match is None or not _looks_like_uri(uri):
        raise ScanError(
            f"expected a GS1 Digital Link URI starting https:// or http://, found {uri[:30]!r}",
            "digital_link",
        )
    for char in uri:
        if char not in _URI_CHARS:
            raise ScanError(
                f"character {char!r} is not allowed in a URI (found in {uri[:60]!r})",
                "digital_link",
            )
    if "%00" in uri:
        raise ScanError("a Digital Link may not contain %00", "digital_link")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise ScanError(f"the URI cannot be read: {exc}", "digital_link") from None
    host, port = _host_port(parts.netloc)
    if not host or not _HOST.match(host) or (port and not _PORT.match(port)):
        raise ScanError(
            f"expected a domain name after {match[0]!r}, found {parts.netloc!r}", "digital_link"
        )
    path = parts.path
    keys = _primary_keys()
    if not any(segment in keys for segment in path.split("/")):
        raise ScanError(
            f"the code holds a web address, not a GS1 Digital Link ({uri[:60]!r}): no GS1 "
            "primary key such as /01/{GTIN} in its path",
            "not_gs1",
        )
    if path.endswith("/"):
        raise ScanError("a Digital Link URI may not end with '/'", "digital_link")
    segments = path.split("/")[1:]
    candidates = [
        i
        for i in range(len(segments) - 1, -1, -1)
        if segments[i] in keys and (len(segments) - i) % 2 == 0
    ]
    if not candidates:
        raise ScanError(
            "no GS1 primary key in the URI path (expected e.g. /01/{GTIN}/21/{serial})",
            "digital_link",
        )
    first_error: ScanError | None = None
    for index in candidates:
        try:
            path_elements = _dl_path(segments[index:], keys)
            break
        except ScanError as exc:
            first_error = first_error or exc
    else:
        assert first_error is not None
        raise first_error
    elements = list(path_elements)
    elements.extend(_dl_query(parts.query, path_elements, keys))
    _no_repeats(elements)
    return tuple(elements)


def _host_port(netloc: str) -> tuple[str, str]:
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        inside, _, rest = netloc.partition("]")
        if rest and not rest.startswith(":"):
            return "", ""
        return inside + "]", rest[1:]
    host, _, port = netloc.partition(":")
    return host, port


def _dl_path(segments: list[str], keys: dict[str, tuple[str, ...]]) -> tuple[Element, ...]:
    if any(not s for s in segments):
        raise ScanError("the Digital Link path has an empty segment ('//')", "digital_link")
    values = [unquote(s) for s in segments]
    key, key_value = segments[0], values[1]
    if key == GTIN_AI and len(key_value) != 14:
        raise ScanError(
            f"the GTIN in a Digital Link must have 14 digits, found {len(key_value)} "
            f"({key_value!r}: pad with leading zeros)",
            "digital_link",
        )
    qualifiers = keys[key]
    order = [segments[i] for i in range(2, len(segments), 2)]
    _qualifier_order(key, order, qualifiers)
    try:
        parsed = GS1DigitalLinkURI.parse("https://id.gs1.org/" + "/".join(segments))
    except ParseError:
        for i in range(0, len(segments), 2):
            _checked(segments[i], values[i + 1])
        raise ScanError(
            f"the Digital Link path /{'/'.join(segments)} is not valid", "digital_link"
        ) from None
    elements = tuple((es.ai.ai, es.value) for es in parsed.element_strings)
    for ai, value in elements:
        _checked(ai, value)
    return elements


def _qualifier_order(key: str, order: list[str], qualifiers: tuple[str, ...]) -> None:
    for ai in order:
        if ai not in qualifiers:
            allowed = ", ".join(f"/{q}/" for q in qualifiers) or "none"
            raise ScanError(
                f"/{ai}/ is not a key qualifier of /{key}/ in a Digital Link path (allowed, in "
                f"this order: {allowed})",
                "digital_link",
            )
    positions = [qualifiers.index(ai) for ai in order]
    for (a, pa), (b, pb) in zip(
        zip(order, positions, strict=True), zip(order[1:], positions[1:], strict=True), strict=False
    ):
        if pb <= pa:
            raise ScanError(
                f"in a Digital Link the {_name(b)} (/{b}/) must come before the {_name(a)} "
                f"(/{a}/): key qualifiers go in the order "
                + ", ".join(f"/{q}/" for q in qualifiers),
                "digital_link",
            )


def _dl_query(
    query: str, path: tuple[Element, ...], keys: dict[str, tuple[str, ...]]
) -> list[Element]:
    elements: list[Element] = []
    key = path[0][0]
    for item in query.split("&"):
        if not item:
            continue
        name, _, raw = item.partition("=")
        name = unquote_plus(name)
        if not name.isdigit():
            continue  # a non-AI parameter: allowed and ignored
        try:
            ai = _ai(name)
        except ParseError:
            ai = None
        if ai is None or ai.ai != name:
            raise ScanError(
                f"query parameter {name!r} is numeric but not a GS1 Application Identifier",
                "digital_link",
            )
        value = unquote_plus(raw)
        if not value:
            raise ScanError(f"the query parameter {name}= has no value", "digital_link")
        if name in keys[key]:
            raise ScanError(
                f"the {_name(name)} ({name}) is a key qualifier of /{key}/: it belongs in the "
                "path, not in the query string",
                "digital_link",
            )
        elements.append(_checked(name, value))
    return elements


def _no_repeats(elements: Sequence[Element]) -> None:
    seen: set[str] = set()
    for ai, _ in elements:
        if ai in seen:
            raise ScanError(f"AI ({ai}) appears twice in the Digital Link", "digital_link")
        seen.add(ai)
