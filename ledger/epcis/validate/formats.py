"""The string formats of the EPCIS 2.0 JSON Schema, as medtrace checks them (no schema file).

Digits are ASCII ``[0-9]``, as in the schema's ECMA-262 patterns: Python's own digit class would
also take full-width or Arabic-Indic digits, which ``int`` then reads as the same numbers.
"""

from __future__ import annotations

import calendar
import re

_DATE_TIME = re.compile(
    r"\A([0-9]{4})-(0[1-9]|1[0-2])-([0-9]{2})"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_URI = re.compile(
    r"\A[A-Za-z][A-Za-z0-9+\-.]*:"
    r"(?://(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?"
    rf"(?:/{_PCHAR}*)*"
    rf"|/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?\Z"
)
OFFSET = re.compile(r"\A[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)\Z")
VERSION = re.compile(r"\A[0-9]+(?:\.[0-9]+)*\Z")
UOM = re.compile(r"\A[A-Z0-9]{2,3}\Z")
HEX = re.compile(r"\A[A-Fa-f0-9]+\Z")


def is_date_time(value: str) -> bool:
    """RFC 3339 ``date-time``, the JSON Schema format: offset required, a real calendar day."""
    match = _DATE_TIME.match(value)
    if match is None:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    return 1 <= day <= calendar.monthrange(year, month)[1]


def is_uri(value: str) -> bool:
    """An RFC 3986 URI (absolute: a scheme, then no spaces or other characters URIs forbid)."""
    return _URI.match(value) is not None


__all__ = ["HEX", "OFFSET", "UOM", "VERSION", "is_date_time", "is_uri"]
