"""Values as the event hash and the query compare them: times as UTC instants at millisecond
precision, numbers without superfluous zeros, CBV URNs as Web Vocabulary URIs and GS1
identifiers as canonical Digital Link (CBV 2.0 section 8.9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from ledger.digits import ASCII_NUMBER
from ledger.epcis.normalise import canonical
from ledger.epcis.vocab import URN_TO_WEB

# ASCII digits only, like ASCII_NUMBER: ``int`` and ``Decimal`` read full-width or Arabic-Indic
# digits too, and a time or number written in them would hash as the ASCII one, a different value.
_TIME = re.compile(
    r"\A([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})\Z"
)


def canonical_number(text: str) -> str | None:
    """``26.0`` -> ``26``, ``0.180`` -> ``0.18``, ``1E3`` -> ``1000``; ``None`` if not a number."""
    if not ASCII_NUMBER.match(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover (the pattern admits only valid numbers)
        return None
    if number == 0:
        return "0"
    if number == number.to_integral_value():
        return format(number.to_integral_value(), "f")
    return format(number.normalize(), "f")


def canonical_time(text: str) -> str:
    """An RFC 3339 date-time in UTC at millisecond precision (half-up), e.g.
    ``2023-02-02T11:04:03.1415Z`` -> ``2023-02-02T11:04:03.142Z``; other text unchanged."""
    match = _TIME.match(text)
    if match is None:
        return text
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    digits = (fraction or "").ljust(4, "0")
    millis = int(digits[:3]) + (1 if digits[3] >= "5" else 0)
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return text
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        hh, mm = int(zone[1:3]), int(zone[-2:])
        moment -= sign * timedelta(hours=hh, minutes=mm)
    moment += timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def canonical_value(text: str) -> str:
    """CBV URNs as Web URIs, numbers without noise, GS1 identifiers as canonical Digital Link."""
    for urn, web in URN_TO_WEB.items():
        if text.startswith(urn):
            text = web + text[len(urn) :]
            break
    number = canonical_number(text)
    if number is not None:
        text = number
    return canonical(text) or text


__all__ = ["canonical_number", "canonical_time", "canonical_value"]
