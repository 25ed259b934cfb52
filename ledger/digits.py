"""Digits as medtrace reads them: ASCII ``0``-``9``, whatever the text claims to be.

Python's ``str.isdigit``, ``str.isdecimal``, ``str.isnumeric``, ``int(text)``,
``Decimal(text)`` and a regex digit class without ``re.ASCII`` take every Unicode decimal
digit: full-width (U+FF10 to U+FF19), Arabic-Indic (U+0660...), Devanagari (U+0966...);
``isdigit`` takes superscripts such as U+00B2 too, which ``int`` then fails on. ``int`` reads
full-width "12" as 12, so a GTIN, serial number, sequence or date read that way gets a second
spelling that names the same thing, or passes a check made on its text and breaks the step
after. Every place where such text comes in uses these (or a pattern written with ``[0-9]``).
"""

from __future__ import annotations

import re

#: The whole text is one or more ASCII digits.
ASCII_DIGITS = re.compile(r"\A[0-9]+\Z")
#: The whole text is an integer: an optional minus sign, then ASCII digits.
ASCII_INT = re.compile(r"\A-?[0-9]+\Z")
#: The whole text is a decimal number as JSON and ``Decimal`` write one: ``-1``, ``+2.50``,
#: ``.5``, ``1E3`` (ASCII digits; no ``inf``, ``nan``, white space or ``_``).
ASCII_NUMBER = re.compile(r"\A[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits ``0``-``9`` and nothing else."""
    return ASCII_DIGITS.match(text) is not None


def ascii_int(text: str) -> int | None:
    """The integer ``text`` spells in ASCII digits (a leading ``-`` allowed); ``None`` for any
    other text, and for more digits than ``int`` converts (4,300 by default)."""
    if ASCII_INT.match(text) is None:
        return None
    try:
        return int(text, 10)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        return None


__all__ = ["ASCII_DIGITS", "ASCII_INT", "ASCII_NUMBER", "ascii_digits", "ascii_int"]
