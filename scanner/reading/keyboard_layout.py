"""Recognising a scanner that types through the wrong keyboard layout: a US-layout scanner on
a German (QWERTZ) or French (AZERTY) computer turns some characters into others."""

from __future__ import annotations

import re

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
    if re.match(r"\A\)[0-9]{2,4}=", text):
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
