"""medtrace's CBV 2.0 word lists equal GS1's, and its extension terms are published."""

from __future__ import annotations

import json

import pytest

from ledger.epcis.vocab import (
    BIZ_TRANSACTION_TYPES,
    COMPONENTS,
    ERROR_REASONS,
    MEASUREMENT_TYPES,
    MEDTRACE_TERMS,
    SENSOR_ALERT_TYPES,
    SOURCE_DEST_TYPES,
    Vocab,
    is_known,
    medtrace_context,
    words,
)
from ledger.kinds import BIZ_STEP
from ledger.status import DISPOSITION
from tests.epcis.conftest import SCHEMA, need

DEFINITIONS = {
    "bizStep": Vocab.BIZ_STEP,
    "disposition": Vocab.DISPOSITION,
    "bizTransaction-type": Vocab.BIZ_TRANSACTION_TYPE,
    "source-dest-type": Vocab.SOURCE_DEST_TYPE,
    "error-reason": Vocab.ERROR_REASON,
    "measurementType": Vocab.MEASUREMENT_TYPE,
    "sensorAlertType": Vocab.SENSOR_ALERT_TYPE,
    "component": Vocab.COMPONENT,
}


@pytest.mark.parametrize("definition", list(DEFINITIONS))
def test_each_cbv_word_list_is_gs1s(definition: str) -> None:
    schema = json.loads(need(SCHEMA).read_text(encoding="utf-8"))
    options = schema["definitions"][definition]["anyOf"]
    enum = {word for option in options for word in option.get("enum", [])}
    assert words(DEFINITIONS[definition]) == enum


def test_the_word_sets_are_distinct_objects() -> None:
    assert (
        len(
            {
                id(s)
                for s in (
                    BIZ_TRANSACTION_TYPES,
                    COMPONENTS,
                    ERROR_REASONS,
                    MEASUREMENT_TYPES,
                    SENSOR_ALERT_TYPES,
                    SOURCE_DEST_TYPES,
                )
            }
        )
        == 6
    )


def test_every_mt_term_the_ledger_uses_is_published() -> None:
    used = [t for t in [*BIZ_STEP.values(), *DISPOSITION.values()] if t and t.startswith("mt:")]
    graph = medtrace_context()["@graph"]
    assert isinstance(graph, list)
    published = {item["@id"] for item in graph}
    for term in used:
        assert term in published, term
        vocab = Vocab.BIZ_STEP if term in BIZ_STEP.values() else Vocab.DISPOSITION
        assert is_known(term, vocab)
        assert term.removeprefix("mt:") not in words(vocab), f"{term}: CBV 2.0 has it, use it"


def test_the_extension_terms_the_issue_names_exist() -> None:
    for term in ("exported", "sample", "free_sample", "locked", "quarantined"):
        assert term in MEDTRACE_TERMS[Vocab.DISPOSITION]
