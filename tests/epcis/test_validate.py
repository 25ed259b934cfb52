"""medtrace's EPCIS validator against GS1's official JSON Schema: every published example and
every document broken on purpose is accepted or refused by both, the refusal naming the path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from ledger.epcis import jsontext
from ledger.epcis.validate.checker import EpcisInvalid
from ledger.epcis.validate.document import validate_document
from ledger.epcis.validate.formats import is_date_time, is_uri
from tests.epcis.conftest import (
    GS1_EPCIS,
    HASH_GENERATOR,
    example_id,
    gs1_examples,
    need,
    need_gs1_examples,
)
from tests.epcis.documents import BROKEN, STRICTER, broken, valid


def schema_errors(official_schema: Any, doc: Any) -> list[str]:
    """What GS1's schema says (format checks on: date-time, uri), on the document as JSON."""
    plain = json.loads(jsontext.dumps(doc))
    validator = Draft7Validator(official_schema, format_checker=FormatChecker())
    return [error.message for error in validator.iter_errors(plain)]


def medtrace_error(doc: Any, *, strict: bool = True) -> EpcisInvalid | None:
    try:
        validate_document(doc, strict=strict)
    except EpcisInvalid as exc:
        return exc
    return None


def published() -> list[Path]:
    """GS1's examples, the hash generator's JSON-LD examples and the JSON "identical hash" one."""
    return [
        *gs1_examples(),
        *sorted(HASH_GENERATOR.glob("examples/*.jsonld")),
        *sorted((GS1_EPCIS / "XML" / "WithEventHashID").glob("*.json")),
    ]


@pytest.mark.parametrize("path", published(), ids=example_id)
def test_medtrace_and_gs1_schema_agree_on_every_published_document(
    path: Path, official_schema: Any
) -> None:
    doc = jsontext.loads(need(path).read_bytes())
    schema = schema_errors(official_schema, doc)
    mine = medtrace_error(doc)
    assert (mine is None) == (not schema), f"medtrace: {mine}; schema: {schema[:2]}"


def test_every_gs1_example_is_valid() -> None:
    examples = need_gs1_examples()
    assert len(examples) == 47
    for path in examples:
        validate_document(jsontext.loads(path.read_bytes()))


def test_the_valid_base_document_is_valid_for_both(official_schema: Any) -> None:
    assert schema_errors(official_schema, valid()) == []
    assert medtrace_error(valid()) is None


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_document_broken_on_purpose_is_refused_by_both_at_its_path(
    name: str, official_schema: Any
) -> None:
    doc = broken(name)
    assert schema_errors(official_schema, doc), f"GS1's schema accepts {name}"
    error = medtrace_error(doc)
    assert error is not None, f"medtrace accepts {name}"
    assert error.path == BROKEN[name][1], error
    assert error.message.startswith("expected"), error.message


@pytest.mark.parametrize("name", list(STRICTER))
def test_medtrace_is_stricter_than_the_schema_only_where_documented(
    name: str, official_schema: Any
) -> None:
    doc = broken(name, STRICTER)
    if name != "lone_surrogate":  # jsonschema cannot be given text Python cannot encode
        assert schema_errors(official_schema, doc) == []
    assert medtrace_error(doc, strict=False) is None
    error = medtrace_error(doc)
    assert error is not None
    assert error.path == STRICTER[name][1], error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T08:00:00Z", True),
        ("2026-03-02T08:00:00.123456+01:00", True),
        ("2024-02-29T00:00:00Z", True),
        ("2026-02-29T00:00:00Z", False),
        ("2026-03-02T24:00:00Z", False),
        ("2026-03-02T08:00:60Z", False),
        ("2026-03-02 08:00:00Z", False),
        ("2026-03-02T08:00:00", False),
        ("2026-03-02T08:00:00+0100", False),
    ],
)
def test_date_time_is_rfc_3339_like_the_schema_format(text: str, expected: bool) -> None:
    checker = FormatChecker()
    assert is_date_time(text) is expected
    assert checker.conforms(text, "date-time") is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", True),
        ("https://id.gs1.org/01/09506000134352/21/A%2Fb", True),
        ("example:myField", True),
        (
            "ni:///sha-256;f2bd33fd4e051713b781b82ae63a3375bbf23d464265437d3fc45eee5b600733?ver=CBV2.0",
            True,
        ),
        ("http://[::1]:8080/x", True),
        ("no scheme", False),
        ("myField", False),
        ("https://example.com/a b", False),
        ("https://example.com/%zz", False),
        ("1abc:x", False),
    ],
)
def test_uri_is_rfc_3986_like_the_schema_format(text: str, expected: bool) -> None:
    assert is_uri(text) is expected
    assert FormatChecker().conforms(text, "uri") is expected
