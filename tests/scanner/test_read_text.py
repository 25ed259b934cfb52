"""``read_text``: what keyboard-wedge scanners and people type, and one sentence per problem."""

from __future__ import annotations

import pytest

from scanner.reading import ScanData, ScanError, read_container, read_text
from scanner.reading.digital_link import parse_digital_link
from scanner.reading.element_strings import fnc1_form
from scanner.reading.keyboard_layout import keyboard_layout_hint

G = "09506000134352"
PACK = (G, "ABC123", "A2611", "2028-10-31")

READS: list[tuple[str, str, tuple[str, str, str | None, str | None], str]] = [
    # (case, text, (gtin, serial, lot, expiry), symbology)
    ("aim_prefix_and_gs", f"]d201{G}1728103110A2611\x1d21ABC123", PACK, "]d2"),
    ("gs1_qr_prefix", f"]Q301{G}1728103110A2611\x1d21ABC123", PACK, "]Q3"),
    ("no_prefix", f"01{G}1728103110A2611\x1d21ABC123", PACK, "text"),
    ("gs_typed_as_<GS>", f"01{G}1728103110A2611<GS>21ABC123", PACK, "text"),
    ("gs_as_control_picture", f"01{G}1728103110A2611\u241d21ABC123", PACK, "text"),
    (
        "leading_fnc1_and_trailing_newline",
        f"\x1d01{G}1728103110A2611\x1d21ABC123\r\n",
        PACK,
        "text",
    ),
    ("lost_gs_one_reading", f"01{G}1728103110A261121ABC123", PACK, "text"),
    ("serial_first_then_lot", f"]d201{G}21ABC123\x1d1728103110A2611", PACK, "]d2"),
    ("day_00_is_last_day", f"]d201{G}1728100010A2611\x1d21ABC123", PACK, "]d2"),
    (
        "day_00_february_leap",
        f"]d201{G}1728020010A2611\x1d21ABC123",
        (G, "ABC123", "A2611", "2028-02-29"),
        "]d2",
    ),
    ("bracketed_hri", f"(01){G}(17)281031(10)A2611(21)ABC123", PACK, "text"),
    ("no_lot_no_expiry", f"]d201{G}21ABC123", (G, "ABC123", None, None), "]d2"),
    (
        "gtin13_in_element_string_padded",
        "]d20104006381333931\x1d21S1",
        ("04006381333931", "S1", None, None),
        "]d2",
    ),
    ("digital_link", f"https://id.gs1.org/01/{G}/10/A2611/21/ABC123?17=281031", PACK, "dl"),
    (
        "digital_link_brand_domain_stem",
        f"https://example.com/p/01/{G}/10/A2611/21/ABC123?17=281031&x=1",
        PACK,
        "dl",
    ),
    (
        "digital_link_percent_escapes",
        f"https://id.gs1.org/01/{G}/10/A%2F1/21/B%2F2?17=281031",
        (G, "B/2", "A/1", "2028-10-31"),
        "dl",
    ),
    (
        "digital_link_in_plain_qr",
        f"]Q1https://id.gs1.org/01/{G}/10/A2611/21/ABC123?17=281031",
        PACK,
        "dl",
    ),
    ("extra_ai_ignored", f"]d201{G}1728103110A2611\x1d21ABC123\x1d7103DE", PACK, "]d2"),
]


@pytest.mark.parametrize(
    ("case", "text", "expected", "symbology"), READS, ids=[r[0] for r in READS]
)
def test_reads(case: str, text: str, expected: tuple[str, ...], symbology: str) -> None:
    scan = read_text(text)
    assert (scan.gtin, scan.serial, scan.lot, scan.expiry) == expected
    assert scan.symbology == symbology
    assert scan.decoder is None
    assert "\x1d" not in scan.serial


def test_lost_separators_put_back_say_so() -> None:
    scan = read_text(f"01{G}1728103110A261121ABC123")
    assert scan.recovered
    assert "group separators were missing" in scan.notes[0]
    assert not read_text(f"]d201{G}1728103110A2611\x1d21ABC123").recovered


ERRORS: list[tuple[str, str, str, str]] = [
    # (case, text, code, words the hint must contain)
    ("empty", "  \r\n", "empty", "nothing was scanned"),
    (
        "gtin_check_digit",
        "]d20109506000134353172810311 0A\x1d21X".replace(" ", ""),
        "check_digit",
        "GTIN check digit wrong: expected 2, found 3",
    ),
    ("expiry_month_13", f"]d201{G}1728133110A\x1d21X", "date", "expiry month 13 is not a month"),
    ("expiry_month_00", f"]d201{G}1728003110A\x1d21X", "date", "expiry month 00 is not a month"),
    (
        "expiry_day_30_february",
        f"]d201{G}1728023010A\x1d21X",
        "date",
        "expiry day 30 does not exist in 2028-02",
    ),
    (
        "lost_gs_ambiguous",
        f"01{G}1728103110A261121X21Y",
        "lost_separator",
        "group separator missing before AI 21",
    ),
    (
        "gs_missing_before_21_with_gs_elsewhere",
        f"]d201{G}\x1d10A261121ABC",
        "lost_separator",
        "group separator missing before AI 21",
    ),
    (
        "lot_too_long",
        f"]d201{G}10ABCDEFGHIJKLMNOPQRSTUV\x1d21X",
        "lost_separator",
        "maximum length",
    ),
    (
        "space_in_serial",
        f"]d201{G}21AB C",
        "syntax",
        "character ' ' is not allowed in the serial (21)",
    ),
    (
        "letter_in_gtin",
        "]d2010950600013435X21AB",
        "syntax",
        "character 'X' is not allowed in the GTIN (01)",
    ),
    ("gtin_cut_short", "]d201095060001343", "syntax", "must be N14"),
    ("unknown_ai", f"]d201{G}89XYZ", "syntax", "no GS1 Application Identifier at character 17"),
    (
        "repeated_ai_differs",
        f"]d201{G}21A\x1d21B",
        "syntax",
        "AI (21) appears twice with different values",
    ),
    ("unknown_symbology", "]X901x", "syntax", "unknown symbology identifier"),
    ("german_layout_prefix", f"+d201{G}21ABC", "keyboard_layout", "German"),
    (
        "german_layout_eszett",
        f"01{G}10Aß2611",
        "keyboard_layout",
        "'ß' arrived where the scanner sent '-'",
    ),
    ("german_layout_url", "httpsÖ--id.gs1.org-01-09506000134352", "keyboard_layout", "':'"),
    ("german_layout_brackets", f")01={G})21=ABC", "keyboard_layout", "')' as '='"),
    ("french_layout_digits", "à&àçé", "keyboard_layout", "French"),
    (
        "dl_lot_after_serial",
        f"https://id.gs1.org/01/{G}/21/ABC123/10/A2611",
        "digital_link",
        "the lot (/10/) must come before the serial (/21/)",
    ),
    (
        "dl_lot_in_query",
        f"https://id.gs1.org/01/{G}/21/ABC123?10=A2611",
        "digital_link",
        "belongs in the path",
    ),
    (
        "dl_gtin13",
        "https://id.gs1.org/01/9506000134352/21/ABC123",
        "digital_link",
        "must have 14 digits",
    ),
    ("dl_bad_expiry", f"https://id.gs1.org/01/{G}/21/ABC123?17=281331", "date", "expiry month 13"),
    (
        "dl_repeated_ai",
        f"https://id.gs1.org/01/{G}/21/A?17=281031&17=281031",
        "digital_link",
        "appears twice",
    ),
    (
        "dl_unknown_numeric_param",
        f"https://id.gs1.org/01/{G}/21/A?89=X",
        "digital_link",
        "not a GS1 Application Identifier",
    ),
    ("plain_text", "hello world", "not_gs1", "plain text"),
    ("plain_web_address", "https://example.com/shop", "not_gs1", "web address"),
    ("plain_datamatrix", "]d1HELLO", "not_gs1", "plain text"),
    ("gtin_only_linear", "4006381333931", "not_a_pack", "no serial number (21)"),
    ("ean13_with_aim", "]E04006381333931", "not_a_pack", "no serial number"),
    ("ean13_bad_check", "]E04006381333932", "check_digit", "expected 1, found 2"),
    ("sscc_case_label", "]d200095060000000000015", "container", "case or pallet"),
]


@pytest.mark.parametrize(("case", "text", "code", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_scan_errors_name_the_problem(case: str, text: str, code: str, words: str) -> None:
    with pytest.raises(ScanError) as caught:
        read_text(text)
    assert caught.value.code == code, caught.value.hint
    assert words in caught.value.hint
    assert caught.value.hint == str(caught.value)
    assert "\n" not in caught.value.hint


def test_ambiguous_lost_separator_names_both_readings() -> None:
    with pytest.raises(ScanError) as caught:
        read_text(f"01{G}1728103110A261121X21Y")
    assert f"(01){G}(17)281031(10)A2611(21)X21Y" in caught.value.hint
    assert f"(01){G}(17)281031(10)A261121X(21)Y" in caught.value.hint


def test_a_case_label_gives_its_sscc() -> None:
    assert read_container("]d200095060000000000015") == "095060000000000015"
    assert read_container("https://id.gs1.org/00/095060000000000015") == "095060000000000015"
    assert read_container(f"]d201{G}21X") is None


def test_digital_link_elements_in_path_then_query_order() -> None:
    elements = parse_digital_link(f"https://id.gs1.org/01/{G}/10/L1/21/S1?17=281031")
    assert elements == (("01", G), ("10", "L1"), ("21", "S1"), ("17", "281031"))
    assert fnc1_form(elements) == f"^01{G}10L1^21S1^17281031"


def test_layouts_that_agree_give_no_hint() -> None:
    assert keyboard_layout_hint(f"]d201{G}21ABC-123") is None


def test_scan_data_keeps_the_interface_the_web_page_uses() -> None:
    scan = read_text(f"]d201{G}1728103110A2611\x1d21ABC123")
    assert isinstance(scan, ScanData)
    assert scan.raw == f"01{G}1728103110A2611\x1d21ABC123"
    assert set(scan.to_json()) >= {"gtin", "serial", "lot", "expiry", "symbology", "raw", "decoder"}
