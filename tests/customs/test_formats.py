"""The body format of the ``product`` and ``declare`` entries and the declaration schema, pinned
to docs/spec/customs.md: a change to either is a format change made on purpose, in the docs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from api.customs_schemas import DECLARATION
from ledger.action import Action
from ledger.canonical import canonical_bytes
from ledger.lifecycle.declarations import declaration_step
from ledger.lifecycle.products import product_step
from ledger.openings import OpeningInvalid
from ledger.sealed import Opening, check_opening, seal
from tests.customs.conftest import EXAMPLES, doc_example

SALT = bytes(range(16))


@pytest.mark.parametrize(
    ("request_name", "entry_name", "build"),
    [
        ("product-request", "product-entry", product_step),
        ("declaration-request", "declaration-entry", declaration_step),
    ],
)
def test_entry_body_format_is_the_documented_one(
    request_name: str, entry_name: str, build: Callable[..., tuple[Action, Opening]]
) -> None:
    step, opening = build(doc_example(request_name), salt=SALT)
    made = {"kind": step.kind.value, "subjects": list(step.subjects), "body": step.body}
    documented = doc_example(entry_name)
    assert made == documented
    # the documented example is in canonical form, as the payload holds it
    text = EXAMPLES.read_text(encoding="utf-8")
    assert canonical_bytes(documented).decode() in text
    check_opening(step.kind.value, step.body, opening)


def test_a_changed_sealed_field_does_not_open_the_seal() -> None:
    step, opening = product_step(doc_example("product-request"), salt=SALT)
    forged = seal({"referencePrice": {"amount": "0.10", "currency": "EUR"}}, SALT)
    with pytest.raises(OpeningInvalid, match="not the fields that were signed"):
        check_opening("product", step.body, forged)
    other_salt = seal(dict(opening.fields), bytes(16))
    with pytest.raises(OpeningInvalid):
        check_opening("product", step.body, other_salt)


def test_declaration_schema_is_the_documented_one() -> None:
    text = Path(EXAMPLES).read_text(encoding="utf-8")
    section = text[text.index("### JSON Schema of one declaration") :]
    start = section.index("```json") + len("```json")
    documented = json.loads(section[start : section.index("```", start)])
    documented.pop("$schema")
    documented.pop("title")
    assert documented == json.loads(json.dumps(DECLARATION))
