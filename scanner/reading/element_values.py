"""One element string's value, checked by biip (format, check digit, date), and the sentence
that names the problem when it is wrong."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from functools import lru_cache

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString
from biip.gtin import Gtin

from ledger.digits import ascii_digits
from scanner.reading.scan_data import (
    EXPIRY_AI,
    GTIN_AI,
    LOT_AI,
    SERIAL_AI,
    SSCC_AI,
    Element,
    ScanError,
)

_NAMES = {
    GTIN_AI: "GTIN",
    EXPIRY_AI: "expiry",
    LOT_AI: "lot",
    SERIAL_AI: "serial",
    SSCC_AI: "SSCC",
    "11": "production date",
    "15": "best-before date",
}


@lru_cache(maxsize=1024)
def ai_of(code: str) -> GS1ApplicationIdentifier:
    return GS1ApplicationIdentifier.extract(code)


def ai_at(text: str) -> GS1ApplicationIdentifier | None:
    try:
        ai = ai_of(text[:4])
    except ParseError:
        return None
    return ai if text.startswith(ai.ai) else None


@lru_cache(maxsize=1024)
def ai_pattern(code: str) -> re.Pattern[str]:
    """The AI's whole element string (``01`` and 14 digits). biip writes its digits as a digit
    class, which without ``re.ASCII`` takes full-width and other scripts' digits too."""
    return re.compile(ai_of(code).pattern, re.ASCII)


@lru_cache(maxsize=1024)
def ai_prefix_pattern(code: str) -> re.Pattern[str]:
    """``ai_pattern`` without its end anchor: the longest value the AI takes at a text's start."""
    return re.compile(ai_of(code).pattern.removesuffix("$"), re.ASCII)


def _in_cset(char: str) -> bool:
    return re.fullmatch(r"[!%-?A-Z_a-z\x22]", char) is not None


def field_name(ai: str) -> str:
    return _NAMES.get(ai, f"field ({ai})")


def checked_element(ai: str, value: str) -> Element:
    """One element string, validated by biip: format, check digit, date."""
    if not value:
        raise ScanError(f"the {field_name(ai)} ({ai}) is empty")
    try:
        definition = ai_of(ai)
    except ParseError:
        raise ScanError(f"({ai}) is not a GS1 Application Identifier", "syntax") from None
    fixed = not definition.separator_required
    if not ai_pattern(ai).fullmatch(ai + value):  # before biip, which takes any script's digits
        raise value_problem(definition, value, fixed=fixed)
    try:
        element = GS1ElementString.parse(ai + value)
    except ParseError:
        raise value_problem(definition, value, fixed=fixed) from None
    for error in (element.gtin_error, element.sscc_error, element.gln_error):
        if error is not None:
            raise check_digit_problem(ai, value) from None
    return ai, value


def value_problem(ai: GS1ApplicationIdentifier, value: str, *, fixed: bool) -> ScanError:
    name = field_name(ai.ai)
    if ai.ai in _DATE_AIS:
        return _date_problem(ai.ai, value)
    for index, char in enumerate(value, 1):
        digit = ascii_digits(char)
        if not (digit or _in_cset(char)) or (_numeric(ai) and not digit):
            return bad_character(ai.ai, char, index)
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


def bad_character(ai: str, char: str, position: int) -> ScanError:
    return ScanError(
        f"character {char!r} is not allowed in the {field_name(ai)} ({ai}) at position {position}",
        "syntax",
    )


_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17", "7006"})


def _date_problem(ai: str, value: str) -> ScanError:
    name = field_name(ai)
    if not (len(value) >= 6 and ascii_digits(value[:6])):
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


def check_digit_problem(ai: str, value: str) -> ScanError:
    expected = gs1_standard_check_digit(value[:-1])
    return ScanError(
        f"{field_name(ai)} check digit wrong: expected {expected}, found {value[-1]} "
        f"({ai} {value}): a misread or mistyped digit",
        "check_digit",
    )


def gtin14(value: str) -> str:
    if not ascii_digits(value):  # biip's Gtin takes any script's digits
        raise ScanError(f"expected a GTIN of digits 0-9, found {value[:20]!r}", "syntax")
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError:
        raise check_digit_problem(GTIN_AI, value) from None


def iso_date(value: str) -> str:
    parsed = GS1ElementString.parse(EXPIRY_AI + value).date
    assert parsed is not None
    return parsed.isoformat()


def hri(elements: Iterable[Element]) -> str:
    return "".join(f"({ai}){value}" for ai, value in elements)
