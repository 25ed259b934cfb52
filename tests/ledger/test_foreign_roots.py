"""Foreign roots in the membership document (ADR 0028, docs/spec/membership.md)."""

from __future__ import annotations

import pytest

from ledger.errors import IdentifierError, MembershipError, ThresholdNotMet
from ledger.kinds import Role
from ledger.membership import (
    ForeignRoot,
    Membership,
    MembershipChain,
    SignedMembership,
    foreign_root,
    organisation,
    sign_membership,
)
from tests.vectors import golden

GOV = golden.governance_keys()
OTHER = "ab" * 32
ROOT = foreign_root(
    OTHER, "Nordland medicines", "no", ["7040001", "7040002"], "https://nl.example/"
)


def two_of_three(m: Membership, into: SignedMembership | None = None) -> SignedMembership:
    return sign_membership(m, {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"]})


def test_a_document_without_foreign_roots_keeps_its_bytes() -> None:
    signed = golden.signed_genesis()
    assert signed.membership.foreign_roots == ()
    assert b"foreign_roots" not in signed.doc_bytes
    assert signed.membership.encode() == signed.doc_bytes


def test_foreign_root_is_normalised() -> None:
    assert (
        ForeignRoot(OTHER, "Nordland medicines", "NO", ("7040001", "7040002"), "https://nl.example")
        == ROOT
    )


def test_pinning_a_root_is_a_signed_version_that_round_trips() -> None:
    g = golden.signed_genesis()
    chain = MembershipChain(g, g.id)
    v2 = g.membership.with_foreign_root(ROOT)
    signed = two_of_three(v2)
    chain.extend(SignedMembership.from_wire(signed.to_wire()))
    current = chain.current
    assert current.foreign_roots == (ROOT,)
    assert current.foreign_root_for_genesis(OTHER) == ROOT
    assert current.foreign_root_for_genesis("cd" * 32) is None
    assert current.foreign_root_for_gtin("07040001000015") == ROOT  # indicator digit skipped
    assert current.foreign_root_for_gtin("17040002000011") == ROOT
    assert current.foreign_root_for_gtin("09506000134352") is None  # an own GTIN
    with pytest.raises(IdentifierError):
        current.foreign_root_for_gtin("123")
    removed = current.without_foreign_root(OTHER)
    assert removed.foreign_roots == ()
    assert b"foreign_roots" not in removed.encode()


def test_foreign_root_signed_by_one_governance_key_is_refused() -> None:
    g = golden.signed_genesis()
    chain = MembershipChain(g, g.id)
    one = sign_membership(g.membership.with_foreign_root(ROOT), {"gov-1": GOV["gov-1"]})
    with pytest.raises(ThresholdNotMet):
        chain.extend(one)


def test_replacing_a_root_of_the_same_genesis() -> None:
    g = golden.signed_genesis().membership
    moved = foreign_root(OTHER, "Nordland medicines", "NO", ["7040001"], "https://new.example")
    v3 = g.with_foreign_root(ROOT).with_foreign_root(moved)
    assert v3.foreign_roots == (moved,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("xyz", "N", "NO", ["7040001"]), "64 lower-case hex"),
        ((OTHER, "", "NO", ["7040001"]), "name of 1 to"),
        ((OTHER, "N", "NOR", ["7040001"]), "alpha-2"),
        ((OTHER, "N", "NO", []), "at least one GS1 company prefix"),
        ((OTHER, "N", "NO", ["70"]), "4 to 12 digits"),
        ((OTHER, "N", "NO", ["7040001"], "ftp://x"), "endpoint URL"),
    ],
)
def test_malformed_foreign_root_is_refused(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(MembershipError, match=message):
        foreign_root(*args)  # type: ignore[arg-type]


def test_prefix_overlapping_own_organisation_is_refused() -> None:
    g = golden.signed_genesis().membership
    own = foreign_root(OTHER, "N", "NO", ["950600"])  # acme-pharma has 9506000
    with pytest.raises(MembershipError, match="overlaps 9506000 of organisation acme-pharma"):
        g.with_foreign_root(own)


def test_prefix_overlapping_another_root_is_refused() -> None:
    g = golden.signed_genesis().membership.with_foreign_root(ROOT)
    other = foreign_root("cd" * 32, "M", "SE", ["70400011"])
    with pytest.raises(MembershipError, match="overlaps 7040001 of foreign root"):
        g.with_foreign_root(other)


def test_document_with_unsorted_roots_is_refused() -> None:
    g = golden.signed_genesis().membership
    a = foreign_root("cd" * 32, "M", "SE", ["7300001"])
    v2 = g.with_foreign_root(ROOT).with_foreign_root(a)
    doc = v2.to_json()
    doc["foreign_roots"].reverse()
    with pytest.raises(MembershipError, match="sorted by genesis"):
        Membership.from_json(doc)


def test_document_with_unknown_root_field_is_refused() -> None:
    doc = golden.signed_genesis().membership.with_foreign_root(ROOT).to_json()
    doc["foreign_roots"][0]["token"] = "x"
    with pytest.raises(MembershipError, match="expected objects with"):
        Membership.from_json(doc)


def test_document_with_empty_root_list_is_refused() -> None:
    doc = golden.signed_genesis().membership.to_json()
    doc["foreign_roots"] = []
    with pytest.raises(MembershipError, match="non-empty list"):
        Membership.from_json(doc)


def test_new_organisation_overlapping_a_root_is_refused() -> None:
    g = golden.signed_genesis().membership.with_foreign_root(ROOT)
    newco = organisation(
        "newco",
        name="Newco",
        role=Role.MANUFACTURER,
        gln="9506000000015",
        company_prefixes=["70400011"],
        feeds={"newco/line": bytes(32)},
    )
    with pytest.raises(MembershipError, match="overlaps"):
        g.with_organisation(newco)
