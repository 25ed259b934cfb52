"""GS1 element strings (``01…17…10…<GS>21…``) and their printed form ``(01)…(21)…``, with
recovery of group separators that a keyboard wedge dropped when only one reading is
possible."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from scanner.reading.element_values import (
    ai_at,
    ai_of,
    ai_pattern,
    ai_prefix_pattern,
    bad_character,
    checked_element,
    field_name,
    hri,
    value_problem,
)
from scanner.reading.scan_data import GS, GTIN_AI, PACK_AIS, SERIAL_AI, Element, ScanError


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
            shown = " or ".join(hri(r) for r in (profile or readings)[:3])
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
            "expiry, lot and serial: " + hri(chosen)
        )
    else:
        note = "group separators were missing; the only possible reading is " + hri(chosen)
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
        ai = ai_at(rest)
        if ai is None:
            raise ScanError(
                f"no GS1 Application Identifier at character {pos + 1} ({rest[:8]!r}): the "
                "data is cut, mistyped, or a field is longer than allowed"
            )
        field_end = body.find(GS, pos)
        chunk = body[pos : len(body) if field_end < 0 else field_end]
        match = ai_prefix_pattern(ai.ai).match(chunk)
        if match is None:
            raise value_problem(ai, chunk[len(ai.ai) :], fixed=not ai.separator_required)
        take = match.end()
        value = chunk[len(ai.ai) : take]
        if ai.separator_required and take < len(chunk):
            after = chunk[take]
            if not ai_pattern(ai.ai).fullmatch(ai.ai + value[:-1] + after):
                raise bad_character(ai.ai, after, len(value) + 1)
            raise ScanError(
                f"the {field_name(ai.ai)} ({ai.ai}) reaches its maximum length and the data goes on "
                f"({chunk[take : take + 8]!r}…): a group separator is missing after it, or the "
                "value is too long",
                "lost_separator",
            )
        elements.append(checked_element(ai.ai, value))
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
        ai = ai_at(body[pos:])
        if ai is None or ai.ai in used:
            return
        pattern = ai_pattern(ai.ai)
        start = pos + len(ai.ai)
        for end in range(start + 1, len(body) + 1):
            if not pattern.fullmatch(body[pos:end]):
                continue
            tried += 1
            if tried > budget:
                raise _TooMany
            try:
                element = checked_element(ai.ai, body[start:end])
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


def swallowed_serial(elements: Iterable[Element]) -> Element | None:
    for ai, value in elements:
        if ai_of(ai).separator_required and SERIAL_AI in value[1:-1]:
            return ai, value
    return None


def parse_bracketed(data: str) -> tuple[Element, ...]:
    """Human-readable ``(01)…(17)…(10)…(21)…`` as printed under a code."""
    elements: list[Element] = []
    for match in re.finditer(r"\(([0-9]{2,4})\)([^(]*)", data):
        ai, value = match[1], match[2].strip()
        elements.append(checked_element(ai, value))
    if not elements or "".join(f"({a}){v}" for a, v in elements) != re.sub(r"\s+", "", data):
        raise ScanError(
            f"expected (AI)value pairs like (01)09506000134352(21)ABC123, found {data[:40]!r}"
        )
    _no_conflicting_repeats(elements)
    return tuple(elements)


def _no_conflicting_repeats(elements: Sequence[Element]) -> None:
    seen: dict[str, str] = {}
    for ai, value in elements:
        if ai in seen and seen[ai] != value:
            raise ScanError(
                f"AI ({ai}) appears twice with different values ({seen[ai]!r} and {value!r})"
            )
        seen[ai] = value


def fnc1_form(elements: Iterable[Element]) -> str:
    """The GS1 syntax engine's notation: ``^`` for FNC1 in first position and for every
    separator after a variable-length field that is not last."""
    items = list(elements)
    parts = ["^"]
    for index, (ai, value) in enumerate(items):
        parts.append(ai + value)
        if ai_of(ai).separator_required and index < len(items) - 1:
            parts.append("^")
    return "".join(parts)
