"""docs/spec/replication.md's signed request is what a node sends and what a node accepts: its
signature base is the signer's, and its signature verifies with the golden customs post's key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import requests
from http_message_signatures import HTTPMessageSigner, algorithms

from node.replication.signed_requests import (
    COVERED,
    LABEL,
    MAX_SKEW_S,
    TAG,
    RequestSigner,
    SignatureRefused,
    SignedRequest,
    check_signature,
)
from tests.vectors.golden import CUSTOMS, feed_keys, genesis_membership

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "replication.md"
CREATED = 1772622000  # 2026-03-04T11:00:00Z, as the example says


def _blocks() -> list[str]:
    """The fenced blocks of the spec, each its text with a newline after every line."""
    return re.findall(r"^```[a-z]*\n(.*?)^```$", SPEC.read_text(), flags=re.DOTALL | re.MULTILINE)


def _example() -> tuple[str, list[tuple[str, str]]]:
    """The example request's target and its header fields."""
    (block,) = [b for b in _blocks() if b.startswith("GET ") and "Signature-Input:" in b]
    request_line, *lines = block.strip().splitlines()
    fields = [tuple(line.split(": ", 1)) for line in lines]
    return request_line.split()[1], [(name, value) for name, value in fields]


def test_the_spec_example_verifies_with_the_golden_customs_key() -> None:
    target, fields = _example()
    request = SignedRequest("GET", "https://pharmacy.example:8104" + target, tuple(fields))
    membership = genesis_membership()
    assert check_signature(request, membership, "border-customs", now=CREATED) == CUSTOMS
    with pytest.raises(SignatureRefused, match="within 300 s"):
        check_signature(request, membership, "border-customs", now=CREATED + MAX_SKEW_S + 1)


def test_the_spec_example_is_what_a_node_signs() -> None:
    target, fields = _example()
    headers = dict(fields)
    prepared = requests.Request(
        "GET",
        "https://pharmacy.example:8104" + target,
        headers={"Authorization": headers["Authorization"]},
    ).prepare()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519)
    base = signer.prepare(
        prepared,
        key_id=CUSTOMS,
        created=dt.datetime.fromtimestamp(CREATED, dt.UTC),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED,
    ).signature_base.decode()
    assert base + "\n" in _blocks()
    RequestSigner(CUSTOMS, feed_keys()[CUSTOMS])(prepared)  # the node's own signer
    assert (
        prepared.headers["Signature-Input"].split(";created=")[0]
        == (headers["Signature-Input"].split(";created=")[0])
    )
