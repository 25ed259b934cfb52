"""GS1 identifiers: one canonical Digital Link spelling per pack, container, lot and product."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import IdentifierError
from ledger.identifiers import (
    DL_ROOT,
    Subject,
    SubjectType,
    check_company_prefix,
    check_sscc,
    container_uri,
    gtin14,
    gtin_in_prefixes,
    lot_uri,
    pack_uri,
    parse_subject,
    product_uri,
)

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
DL_VECTORS = TESTDATA / "epcis-event-hash-generator" / "dl_normaliser_vectors.json"

GTIN = "09506000123455"

BUILT: list[tuple[str, str, str]] = [
    ("pack_from_gtin14", pack_uri(GTIN, "4XN7QH2B9KDM"), f"{DL_ROOT}/01/{GTIN}/21/4XN7QH2B9KDM"),
    ("pack_from_gtin13_is_padded", pack_uri("9506000123455", "A1"), f"{DL_ROOT}/01/{GTIN}/21/A1"),
    (
        "pack_from_gtin12_is_padded",
        pack_uri("614141000036", "A1"),
        f"{DL_ROOT}/01/00614141000036/21/A1",
    ),
    ("pack_from_gtin8_is_padded", pack_uri("96385074", "A1"), f"{DL_ROOT}/01/00000096385074/21/A1"),
    ("serial_slash_is_encoded", pack_uri(GTIN, "AB/12"), f"{DL_ROOT}/01/{GTIN}/21/AB%2F12"),
    ("serial_quote_is_encoded", pack_uri(GTIN, '98"'), f"{DL_ROOT}/01/{GTIN}/21/98%22"),
    ("serial_percent_is_encoded", pack_uri(GTIN, "5%"), f"{DL_ROOT}/01/{GTIN}/21/5%25"),
    ("serial_unreserved_kept", pack_uri(GTIN, "a-b.c_d"), f"{DL_ROOT}/01/{GTIN}/21/a-b.c_d"),
    ("container", container_uri("095060000000000015"), f"{DL_ROOT}/00/095060000000000015"),
    ("lot", lot_uri(GTIN, "L2026-03A"), f"{DL_ROOT}/01/{GTIN}/10/L2026-03A"),
    ("lot_parentheses_encoded", lot_uri(GTIN, "L(1)"), f"{DL_ROOT}/01/{GTIN}/10/L%281%29"),
    ("product", product_uri("9506000123455"), f"{DL_ROOT}/01/{GTIN}"),
]


@pytest.mark.parametrize(
    ("built", "expected"), [(b, e) for _, b, e in BUILT], ids=[i for i, _, _ in BUILT]
)
def test_builders_spell_the_canonical_uri(built: str, expected: str) -> None:
    assert built == expected
    assert parse_subject(built).uri == expected


PARSED: list[tuple[str, str, Subject]] = [
    (
        "pack",
        f"{DL_ROOT}/01/{GTIN}/21/AB%2F12",
        Subject(SubjectType.PACK, f"{DL_ROOT}/01/{GTIN}/21/AB%2F12", gtin=GTIN, serial="AB/12"),
    ),
    (
        "container",
        f"{DL_ROOT}/00/095060000000000015",
        Subject(
            SubjectType.CONTAINER, f"{DL_ROOT}/00/095060000000000015", sscc="095060000000000015"
        ),
    ),
    (
        "lot",
        f"{DL_ROOT}/01/{GTIN}/10/L1",
        Subject(SubjectType.LOT, f"{DL_ROOT}/01/{GTIN}/10/L1", gtin=GTIN, lot="L1"),
    ),
    (
        "product",
        f"{DL_ROOT}/01/{GTIN}",
        Subject(SubjectType.PRODUCT, f"{DL_ROOT}/01/{GTIN}", gtin=GTIN),
    ),
]


@pytest.mark.parametrize(
    ("uri", "expected"), [(u, e) for _, u, e in PARSED], ids=[i for i, _, _ in PARSED]
)
def test_parse_subject_reads_each_form(uri: str, expected: Subject) -> None:
    assert parse_subject(uri) == expected


NOT_CANONICAL: list[tuple[str, str]] = [
    ("http_scheme", f"http://id.gs1.org/01/{GTIN}/21/A1"),
    ("brand_domain", f"https://example.com/01/{GTIN}/21/A1"),
    ("upper_case_host", f"https://ID.GS1.ORG/01/{GTIN}/21/A1"),
    ("gtin13_in_path", f"{DL_ROOT}/01/9506000123455/21/A1"),
    ("gtin_alpha_key", f"{DL_ROOT}/gtin/{GTIN}/ser/A1"),
    ("lower_case_percent_escape", f"{DL_ROOT}/01/{GTIN}/21/AB%2f12"),
    ("unencoded_exclamation_mark", f"{DL_ROOT}/01/{GTIN}/21/98!"),
    ("unencoded_quote", f'{DL_ROOT}/01/{GTIN}/21/98"'),
    ("needless_escape_of_a_letter", f"{DL_ROOT}/01/{GTIN}/21/%41B"),
    ("trailing_slash", f"{DL_ROOT}/01/{GTIN}/21/A1/"),
    ("query_string", f"{DL_ROOT}/01/{GTIN}/21/A1?17=280630"),
    ("fragment", f"{DL_ROOT}/01/{GTIN}/21/A1#x"),
    ("lot_and_serial_together", f"{DL_ROOT}/01/{GTIN}/10/L1/21/A1"),
    ("cpv_key_qualifier", f"{DL_ROOT}/01/{GTIN}/22/344/21/A1"),
    ("gln_subject", f"{DL_ROOT}/414/9506000000008"),
    ("sscc_with_17_digits", f"{DL_ROOT}/00/09506000000000001"),
    ("sscc_bad_check_digit", f"{DL_ROOT}/00/095060000000000016"),
    ("gtin_bad_check_digit", f"{DL_ROOT}/01/09506000123456/21/A1"),
    ("serial_of_21_characters", f"{DL_ROOT}/01/{GTIN}/21/{'A' * 21}"),
    ("serial_with_space", f"{DL_ROOT}/01/{GTIN}/21/A%201"),
    ("serial_with_non_cset82_character", f"{DL_ROOT}/01/{GTIN}/21/A%7E1"),
    ("serial_with_hash_escape", f"{DL_ROOT}/01/{GTIN}/21/A%231"),
    ("empty_serial", f"{DL_ROOT}/01/{GTIN}/21/"),
    ("urn_form", "urn:epc:id:sgtin:9506000.012345.A1"),
    ("surrounding_white_space", f" {DL_ROOT}/01/{GTIN}/21/A1"),
]


@pytest.mark.parametrize("uri", [u for _, u in NOT_CANONICAL], ids=[i for i, _ in NOT_CANONICAL])
def test_parse_subject_refuses_non_canonical_spellings(uri: str) -> None:
    with pytest.raises(IdentifierError):
        parse_subject(uri)


@pytest.mark.parametrize(
    "build",
    [
        lambda: pack_uri("09506000123456", "A1"),
        lambda: pack_uri("0950600012345", "A1"),
        lambda: pack_uri("0950600012345X", "A1"),
        lambda: pack_uri(GTIN, ""),
        lambda: pack_uri(GTIN, "A" * 21),
        lambda: pack_uri(GTIN, "A B"),
        lambda: pack_uri(GTIN, "Ä1"),
        lambda: lot_uri(GTIN, "L~1"),
        lambda: container_uri("095060000000000016"),
        lambda: container_uri("95060000000000015"),
        lambda: container_uri("09506000000000001X"),
        lambda: product_uri("-9506000123455"),
    ],
    ids=[
        "gtin_bad_check_digit",
        "gtin_of_13_digits_with_wrong_check",
        "gtin_with_letter",
        "empty_serial",
        "serial_too_long",
        "serial_with_space",
        "serial_non_ascii",
        "lot_with_tilde",
        "sscc_bad_check_digit",
        "sscc_of_17_digits",
        "sscc_with_letter",
        "gtin_with_sign",
    ],
)
def test_builders_refuse_invalid_identifiers(build: Any) -> None:
    with pytest.raises(IdentifierError):
        build()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9506000123455", GTIN),
        (GTIN, GTIN),
        ("96385074", "00000096385074"),
        ("614141000036", "00614141000036"),
    ],
    ids=["gtin13", "gtin14", "gtin8", "gtin12"],
)
def test_gtin14_pads_with_zeros(value: str, expected: str) -> None:
    assert gtin14(value) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("095060000000000015", True),
        ("340123451111111111", True),
        ("095060000000000016", False),
        ("095060000000000010", False),
    ],
    ids=["ours", "upstream_vector", "check_plus_one", "check_zero"],
)
def test_sscc_check_digit(value: str, valid: bool) -> None:
    if valid:
        assert check_sscc(value) == value
    else:
        with pytest.raises(IdentifierError):
            check_sscc(value)


@pytest.mark.parametrize(
    ("gtin", "prefixes", "inside"),
    [
        (GTIN, ("9506000",), True),
        ("19506000123452", ("9506000",), True),
        (GTIN, ("9506001",), False),
        (GTIN, ("950600",), True),
        (GTIN, ("95060001",), True),
        (GTIN, ("95060002",), False),
        (GTIN, (), False),
        ("9506000123455", ("9506000",), True),
    ],
    ids=[
        "own_prefix",
        "indicator_digit_skipped",
        "neighbour_prefix",
        "shorter_prefix",
        "longer_prefix",
        "longer_other_prefix",
        "no_prefixes",
        "gtin13_input",
    ],
)
def test_gtin_in_prefixes(gtin: str, prefixes: tuple[str, ...], inside: bool) -> None:
    assert gtin_in_prefixes(gtin, prefixes) is inside


@pytest.mark.parametrize(
    "prefix",
    ["950", "9506000000001", "95O6000", ""],
    ids=["3_digits", "13_digits", "letter_o", "empty"],
)
def test_company_prefix_must_be_4_to_12_digits(prefix: str) -> None:
    with pytest.raises(IdentifierError):
        check_company_prefix(prefix)


def _other_digits(ascii_digits: str, zero: str) -> str:
    """``ascii_digits`` written with another script's digits (``zero``: that script's 0)."""
    return "".join(chr(ord(zero) + int(d)) for d in ascii_digits)


#: Digits ``str.isdigit`` and ``\\d`` accept that are not ASCII 0-9 (issue 13, finding 10).
OTHER_DIGITS = {"fullwidth": "\uff10", "arabic_indic": "\u0660", "devanagari": "\u0966"}


@pytest.mark.parametrize("zero", OTHER_DIGITS.values(), ids=OTHER_DIGITS.keys())
def test_fullwidth_digits_accepted_as_gtin(zero: str) -> None:
    """A GTIN, SSCC or company prefix in another script's digits is not a second spelling
    of the same key: every builder and the subject parser refuse it."""
    sscc = "095060000000000015"
    for build in (
        lambda: gtin14(_other_digits(GTIN, zero)),
        lambda: gtin14(_other_digits(GTIN[:-1], zero) + GTIN[-1]),
        lambda: pack_uri(_other_digits(GTIN, zero), "A1"),
        lambda: check_sscc(_other_digits(sscc, zero)),
        lambda: container_uri(_other_digits(sscc, zero)),
        lambda: check_company_prefix(_other_digits("9506000", zero)),
        lambda: parse_subject(f"{DL_ROOT}/01/{_other_digits(GTIN, zero)}/21/A1"),
        lambda: parse_subject(f"{DL_ROOT}/00/{_other_digits(sscc, zero)}"),
    ):
        with pytest.raises(IdentifierError):
            build()
    assert gtin14(GTIN) == GTIN  # ASCII digits still read
    with pytest.raises(IdentifierError):
        gtin14(GTIN[:-1] + "²")  # a superscript two: isdigit() says it is a digit


# -- upstream Digital Link vectors -------------------------------------------------------------

_SGTIN_OR_SSCC = re.compile(r"\Ahttps://id\.gs1\.org/(?:01/\d{14}/21/[^/]+|00/\d{18})\Z")


def upstream_subjects() -> list[tuple[str, str]]:
    if not DL_VECTORS.is_file():
        return []
    data = json.loads(DL_VECTORS.read_text(encoding="utf-8"))
    return [
        (f"{index}:{row['group']}", row["expected"])
        for index, row in enumerate(data["vectors"])
        if isinstance(row["expected"], str) and _SGTIN_OR_SSCC.match(row["expected"])
    ]


def test_upstream_vectors_are_present_or_the_folder_is_absent() -> None:
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA} (clone shared/ beside main/)")
    assert len(upstream_subjects()) >= 10


@pytest.mark.parametrize(
    "uri",
    [u for _, u in upstream_subjects()] or [None],
    ids=[i for i, _ in upstream_subjects()] or ["absent"],
)
def test_upstream_sgtin_and_sscc_digital_links_parse_and_round_trip(uri: str | None) -> None:
    """epcis-event-hash-generator's normalised outputs are canonical subjects for us too."""
    if uri is None:
        pytest.skip(f"no Digital Link vectors at {DL_VECTORS} (clone shared/ beside main/)")
    subject = parse_subject(uri)
    if subject.type is SubjectType.PACK:
        assert subject.gtin is not None
        assert subject.serial is not None
        assert pack_uri(subject.gtin, subject.serial) == uri
    else:
        assert subject.type is SubjectType.CONTAINER
        assert subject.sscc is not None
        assert container_uri(subject.sscc) == uri
