"""``product`` and ``declare`` in the pure ledger: who may write them (by role, under the
memberships already signed), what a replicated malformed one raises, and which version is in
force whatever order the entries arrive in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger import lifecycle
from ledger.alerts import Code
from ledger.errors import GtinOutsidePrefixes, KindNotAllowed, MalformedEntry
from ledger.kinds import Kind
from ledger.lifecycle.declarations import declaration_step
from ledger.lifecycle.products import product_step
from ledger.membership import SignedMembership
from ledger.state import MemoryState
from tests.customs.conftest import doc_example
from tests.ledger.builders import CASE, CUSTOMS, DIST, GTIN, MFR, REGULATOR, Net
from tests.vectors import golden

FOREIGN_GTIN = "04012345000016"


def _product(gtin: str = GTIN, **change: Any) -> tuple[list[str], dict[str, Any]]:
    step, _ = product_step({**doc_example("product-request"), "gtin": gtin, **change})
    return list(step.subjects), dict(step.body)


def test_memberships_signed_before_records_authorise_them() -> None:
    """The golden genesis, signed before ``product`` and ``declare`` existed, lets the
    manufacturer register its own GTIN and customs declare, and nobody else."""
    wire = json.loads(golden.GOLDEN_PATH.read_text())["membership"]["wire"]
    membership = SignedMembership.from_wire(wire).membership
    net = Net()
    subjects, body = _product()
    membership.authorise(net.sign("p", MFR, Kind.PRODUCT, subjects=subjects, body=body).payload)
    declared, _ = declaration_step(doc_example("declaration-request"))
    d = net.sign("d", CUSTOMS, Kind.DECLARE, subjects=declared.subjects, body=declared.body)
    membership.authorise(d.payload)
    for name, feed in (("by-dist", DIST), ("by-reg", REGULATOR), ("by-customs", CUSTOMS)):
        entry = net.sign(name, feed, Kind.PRODUCT, subjects=subjects, body=body)
        with pytest.raises(KindNotAllowed):
            membership.authorise(entry.payload)
    foreign_subjects, foreign = _product(FOREIGN_GTIN)
    entry = net.sign("foreign", MFR, Kind.PRODUCT, subjects=foreign_subjects, body=foreign)
    with pytest.raises(GtinOutsidePrefixes):
        membership.authorise(entry.payload)
    entry = net.sign("d-by-mfr", MFR, Kind.DECLARE, subjects=declared.subjects, body=declared.body)
    with pytest.raises(KindNotAllowed):
        membership.authorise(entry.payload)


def test_newest_registration_is_in_force_whatever_the_arrival_order() -> None:
    net = Net()
    subjects, first = _product()
    _, second = _product(name="Amoxicillin Acme (second)")
    older = net.sign("older", MFR, Kind.PRODUCT, subjects=subjects, body=first)
    newer = net.sign("newer", MFR, Kind.PRODUCT, subjects=subjects, body=second)
    for order in ([older, newer], [newer, older]):
        state = MemoryState()
        for entry in order:
            lifecycle.apply(state, entry, net.membership, strict=False)
        record = state.records[("product", "09506000123455")]
        assert record.entry_id == newer.id
        assert record.data["name"] == "Amoxicillin Acme (second)"


def test_replicated_product_outside_chapter_30_raises_malformed() -> None:
    net = Net()
    subjects, body = _product()
    body["product"] = {**body["product"], "hsCode": "440890"}
    entry = net.sign("wood", MFR, Kind.PRODUCT, subjects=subjects, body=body)
    with pytest.raises(MalformedEntry, match="chapter 30"):
        lifecycle.apply(MemoryState(), entry, net.membership, strict=True)
    state = MemoryState()
    alerts = lifecycle.apply(state, entry, net.membership, strict=False)
    assert [a.code for a in alerts] == [Code.MALFORMED]
    assert not state.records


def test_declaration_is_held_by_org_and_reference() -> None:
    net = Net()
    declared, _ = declaration_step(
        {**doc_example("declaration-request"), "packages": [{"sscc": CASE.rsplit("/", 1)[1]}]}
    )
    entry = net.do("d", CUSTOMS, Kind.DECLARE, subjects=declared.subjects, body=declared.body)
    record = net.state.records[("declare", "border-customs/DE-2026-000123")]
    assert record.entry_id == entry.id
    assert record.about == (CASE,)
    assert "Acme Pharma GmbH" not in json.dumps(record.data)
