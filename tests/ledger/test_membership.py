"""Membership: who may write what, with which key, and how versions chain."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.canonical import canonical_bytes
from ledger.entry import ENTRY_DOMAIN, Payload, SignedEntry, sign
from ledger.errors import (
    GtinOutsidePrefixes,
    KeyNotAuthorised,
    KindNotAllowed,
    MalformedEntry,
    MembershipChainError,
    MembershipError,
    SignatureInvalid,
    ThresholdNotMet,
    UnknownFeed,
)
from ledger.feed import verify_chain, verify_entry
from ledger.identifiers import lot_uri
from ledger.kinds import ROLE_KINDS, Kind, Role
from ledger.membership import (
    FeedKey,
    Membership,
    MembershipChain,
    SignedMembership,
    genesis,
    organisation,
    raw_public,
    sign_membership,
)
from ledger.membership.versions import MEMBERSHIP_DOMAIN
from tests.ledger.builders import (
    CUSTOMS,
    DIST,
    GTIN,
    GTIN2,
    MFR,
    PACK,
    PHARMACY,
    commission_body,
    keys,
    membership,
)
from tests.vectors import golden

T0 = "2026-03-02T08:00:00.000Z"
NEW_KEY = golden.seed_key(0x21)
GOV = golden.governance_keys()
NEW_GOV = {f"gov-{n}": golden.seed_key(n) for n in (4, 5, 6)}


def feed_entries(feed: str, size: int, signers: dict[int, Ed25519PrivateKey]) -> list[SignedEntry]:
    """``size`` lock entries of ``feed``; position ``n`` signed by ``signers[n]`` or the feed key."""
    entries: list[SignedEntry] = []
    for seq in range(size):
        payload = Payload(
            feed=feed,
            seq=seq,
            prev=entries[-1].id if entries else None,
            ts=T0,
            kind=Kind.LOCK,
            subjects=(PACK,),
        )
        entries.append(sign(payload, signers.get(seq, keys()[feed])))
    return entries


def entry_of(
    feed: str, kind: Kind, body: dict[str, Any], subjects: tuple[str, ...] = ()
) -> SignedEntry:
    payload = Payload(feed=feed, seq=0, prev=None, ts=T0, kind=kind, subjects=subjects, body=body)
    return sign(payload, keys()[feed])


# -- keys by feed position ---------------------------------------------------------------------

REVOKE_AT = 2


@pytest.mark.parametrize(
    ("seq", "error"),
    [(0, None), (1, None), (2, KeyNotAuthorised), (3, KeyNotAuthorised)],
    ids=["before_revocation_0", "before_revocation_1", "at_revocation", "after_revocation"],
)
def test_revoked_key_is_valid_before_the_revocation_point_only(
    seq: int, error: type[Exception] | None
) -> None:
    revoked = membership().revoke_feed(PHARMACY, REVOKE_AT)
    entry = feed_entries(PHARMACY, 4, {})[seq]
    if error is None:
        verify_entry(entry, revoked)
    else:
        with pytest.raises(error):
            verify_entry(entry, revoked)


def test_revoked_feed_history_still_verifies_as_a_chain_up_to_the_revocation() -> None:
    revoked = membership().revoke_feed(PHARMACY, REVOKE_AT)
    entries = feed_entries(PHARMACY, 4, {})
    assert verify_chain(entries[:REVOKE_AT], revoked, feed=PHARMACY) is entries[REVOKE_AT - 1]
    with pytest.raises(KeyNotAuthorised):
        verify_chain(entries, revoked, feed=PHARMACY)


ROTATE_AT = 2
OLD = "old"
NEW = "new"


@pytest.mark.parametrize(
    ("seq", "signer", "error"),
    [
        (1, OLD, None),
        (1, NEW, SignatureInvalid),
        (2, OLD, SignatureInvalid),
        (2, NEW, None),
        (5, NEW, None),
        (5, OLD, SignatureInvalid),
    ],
    ids=[
        "old_key_before_rotation",
        "new_key_before_rotation",
        "old_key_at_rotation",
        "new_key_at_rotation",
        "new_key_after_rotation",
        "old_key_after_rotation",
    ],
)
def test_rotated_key_is_replaced_from_the_rotation_point(
    seq: int, signer: str, error: type[Exception] | None
) -> None:
    rotated = membership().rotate_feed_key(PHARMACY, raw_public(NEW_KEY), ROTATE_AT)
    key = NEW_KEY if signer == NEW else keys()[PHARMACY]
    entry = feed_entries(PHARMACY, seq + 1, {seq: key})[seq]
    if error is None:
        verify_entry(entry, rotated)
    else:
        with pytest.raises(error):
            verify_entry(entry, rotated)


def test_rotation_then_revocation_closes_both_ranges() -> None:
    rotated = (
        membership().rotate_feed_key(PHARMACY, raw_public(NEW_KEY), 2).revoke_feed(PHARMACY, 4)
    )
    spec = rotated.feed(PHARMACY)
    assert [(k.from_seq, k.until_seq) for k in spec.keys] == [(0, 2), (2, 4)]
    assert spec.open_key is None
    with pytest.raises(KeyNotAuthorised, match=r"\[0, 2\), \[2, 4\)"):
        spec.key_at(4)


def test_revocation_below_a_closed_range_does_not_reopen_it() -> None:
    spec = membership().revoke_feed(PHARMACY, 5).revoke_feed(PHARMACY, 8).feed(PHARMACY)
    assert [(k.from_seq, k.until_seq) for k in spec.keys] == [(0, 5)]


def test_revocation_at_a_negative_position_is_refused() -> None:
    with pytest.raises(MembershipError):
        membership().revoke_feed(PHARMACY, -1)


def test_without_organisation_revokes_each_feed_from_its_size() -> None:
    gone = membership().without_organisation("city-pharmacy", {PHARMACY: 2})
    assert gone.feed(PHARMACY).keys == (FeedKey(raw_public(keys()[PHARMACY]), 0, 2),)


def test_key_range_covers_from_inclusive_until_exclusive() -> None:
    key = FeedKey(b"k" * 32, 3, 6)
    assert [seq for seq in range(8) if key.covers(seq)] == [3, 4, 5]


# -- what a feed may write ---------------------------------------------------------------------


def test_kind_not_allowed_for_the_role_is_refused() -> None:
    entry = entry_of(CUSTOMS, Kind.DISPENSE, {}, (PACK,))
    with pytest.raises(KindNotAllowed):
        verify_entry(entry, membership())


@pytest.mark.parametrize(
    ("role", "kind"),
    [
        (Role.PHARMACY, Kind.COMMISSION),
        (Role.DISTRIBUTOR, Kind.DISPENSE),
        (Role.CUSTOMS, Kind.SHIP),
        (Role.REGULATOR, Kind.DISPENSE),
        (Role.PHARMACY, Kind.RECALL),
        (Role.DISTRIBUTOR, Kind.RECALL),
    ],
    ids=str,
)
def test_role_kind_table_forbids(role: Role, kind: Kind) -> None:
    assert kind not in ROLE_KINDS[role]


def test_kind_removed_from_a_narrowed_feed_is_refused() -> None:
    narrowed = membership().with_feed(
        "nordic-dist", "nordic-dist/dock-2", raw_public(keys()[DIST]), [Kind.SHIP, Kind.RECEIVE]
    )
    payload = Payload(feed="nordic-dist/dock-2", seq=0, prev=None, ts=T0, kind=Kind.DESTROY)
    with pytest.raises(KindNotAllowed):
        verify_entry(sign(payload, keys()[DIST]), narrowed)


def test_kinds_outside_the_role_cannot_be_listed_for_a_feed() -> None:
    doc = membership().to_json()
    doc["organisations"]["border-customs"]["feeds"][CUSTOMS]["kinds"].append("dispense")
    with pytest.raises(MembershipError, match="not allowed for role customs"):
        Membership.from_json(doc)


def test_commission_of_a_gtin_outside_the_manufacturers_prefixes_is_refused() -> None:
    body = commission_body(gtin=GTIN2)
    entry = entry_of(MFR, Kind.COMMISSION, body, (lot_uri(GTIN2, "L1"),))
    with pytest.raises(GtinOutsidePrefixes):
        verify_entry(entry, membership())


def test_commission_of_an_own_gtin_is_authorised() -> None:
    entry = entry_of(MFR, Kind.COMMISSION, commission_body(), (lot_uri(GTIN, "L1"),))
    verify_entry(entry, membership())


@pytest.mark.parametrize(
    ("gtin", "error"),
    [
        (None, GtinOutsidePrefixes),
        (9506000123455, GtinOutsidePrefixes),
        ("09506000123456", MalformedEntry),
        ("0950600012345X", MalformedEntry),
    ],
    ids=["missing_gtin", "gtin_as_number", "bad_check_digit", "not_digits"],
)
def test_commission_with_an_unusable_gtin_is_refused(gtin: Any, error: type[Exception]) -> None:
    body = commission_body() | {"gtin": gtin}
    with pytest.raises(error):
        verify_entry(entry_of(MFR, Kind.COMMISSION, body), membership())


def test_unknown_feed_of_a_known_organisation_is_refused() -> None:
    with pytest.raises(UnknownFeed):
        membership().feed("acme-pharma/line-9")


# -- versions, thresholds, the pinned genesis ---------------------------------------------------


def v2_of(genesis_signed: SignedMembership, **changes: Any) -> Membership:
    return genesis_signed.membership.next_version(**changes)


def pubs(private: dict[str, Ed25519PrivateKey]) -> dict[str, bytes]:
    return {name: raw_public(key) for name, key in private.items()}


def test_next_version_signed_by_the_threshold_extends_the_chain(
    golden_genesis: SignedMembership,
) -> None:
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    v2 = golden_genesis.membership.revoke_feed(PHARMACY, 3)
    signed = sign_membership(v2, {"gov-2": GOV["gov-2"], "gov-3": GOV["gov-3"]})
    chain.extend(signed)
    assert chain.current == v2
    chain.extend(signed)  # idempotent
    assert len(chain.versions) == 2


def test_signatures_can_be_collected_one_by_one(golden_genesis: SignedMembership) -> None:
    v2 = v2_of(golden_genesis)
    first = sign_membership(v2, {"gov-1": GOV["gov-1"]})
    both = sign_membership(v2, {"gov-3": GOV["gov-3"]}, into=first)
    assert sorted(both.signatures) == ["gov-1", "gov-3"]
    MembershipChain(golden_genesis, golden_genesis.id).extend(both)
    with pytest.raises(MembershipError):
        sign_membership(v2.next_version(), {"gov-2": GOV["gov-2"]}, into=first)


GOVERNANCE_CHANGE: dict[str, Any] = {"governance": pubs(NEW_GOV), "threshold": 2}

THRESHOLD_CASES: list[tuple[str, dict[str, Any], dict[str, Ed25519PrivateKey]]] = [
    ("one_key_of_two_needed", {}, {"gov-1": GOV["gov-1"]}),
    ("no_signature", {}, {}),
    (
        "old_governance_only",
        GOVERNANCE_CHANGE,
        {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"], "gov-3": GOV["gov-3"]},
    ),
    ("new_governance_only", GOVERNANCE_CHANGE, dict(NEW_GOV)),
    (
        "old_threshold_and_one_new_key",
        GOVERNANCE_CHANGE,
        {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"], "gov-4": NEW_GOV["gov-4"]},
    ),
    ("signature_under_a_wrong_name", {}, {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-3"]}),
    ("key_not_in_governance", {}, {"gov-1": GOV["gov-1"], "gov-9": golden.seed_key(9)}),
]


@pytest.mark.parametrize(
    ("changes", "signers"),
    [(c, s) for _, c, s in THRESHOLD_CASES],
    ids=[i for i, _, _ in THRESHOLD_CASES],
)
def test_membership_update_without_the_threshold_is_refused(
    golden_genesis: SignedMembership,
    changes: dict[str, Any],
    signers: dict[str, Ed25519PrivateKey],
) -> None:
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    signed = sign_membership(v2_of(golden_genesis, **changes), signers)
    with pytest.raises(ThresholdNotMet):
        chain.extend(signed)
    assert len(chain.versions) == 1


def test_governance_change_signed_by_old_and_new_thresholds_is_accepted(
    golden_genesis: SignedMembership,
) -> None:
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    signers = {"gov-1": GOV["gov-1"], "gov-3": GOV["gov-3"]} | {
        "gov-5": NEW_GOV["gov-5"],
        "gov-6": NEW_GOV["gov-6"],
    }
    chain.extend(sign_membership(v2_of(golden_genesis, **GOVERNANCE_CHANGE), signers))
    assert set(chain.current.governance) == set(NEW_GOV)
    v3 = chain.current.revoke_feed(PHARMACY, 0)
    with pytest.raises(ThresholdNotMet):  # the old governance is out now
        chain.extend(sign_membership(v3, {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"]}))
    chain.extend(sign_membership(v3, {"gov-4": NEW_GOV["gov-4"], "gov-6": NEW_GOV["gov-6"]}))
    assert chain.current.version == 3


def test_one_key_listed_under_two_governance_names_counts_once(
    golden_genesis: SignedMembership,
) -> None:
    """A key holder must not meet a 2-of-n threshold alone by being listed twice."""
    governance = dict(golden_genesis.membership.governance) | {
        "gov-1-bis": raw_public(GOV["gov-1"])
    }
    v2 = v2_of(golden_genesis, governance=governance)
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    chain.extend(sign_membership(v2, {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"]}))
    v3 = chain.current.revoke_feed(PHARMACY, 0)
    alone = sign_membership(v3, {"gov-1": GOV["gov-1"], "gov-1-bis": GOV["gov-1"]})
    assert alone.count_valid(chain.current.governance) == 1
    with pytest.raises(ThresholdNotMet):
        chain.extend(alone)


CHAIN_BREAKS: list[tuple[str, Callable[[SignedMembership], Membership]]] = [
    ("version_skipped", lambda g: replace(v2_of(g), version=3)),
    ("version_repeated", lambda g: replace(v2_of(g), version=1)),
    ("wrong_previous", lambda g: replace(v2_of(g), previous="00" * 32)),
    ("no_previous", lambda g: replace(v2_of(g), previous=None)),
    (
        "previous_is_the_membership_not_the_signed_bytes",
        lambda g: replace(v2_of(g), previous=g.doc_bytes.hex()[:64]),
    ),
    ("other_consortium", lambda g: replace(v2_of(g), consortium="rival")),
]


@pytest.mark.parametrize("build", [b for _, b in CHAIN_BREAKS], ids=[i for i, _ in CHAIN_BREAKS])
def test_membership_version_that_does_not_follow_is_refused(
    golden_genesis: SignedMembership, build: Callable[[SignedMembership], Membership]
) -> None:
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    signed = sign_membership(build(golden_genesis), dict(GOV))
    with pytest.raises(MembershipChainError):
        chain.extend(signed)


def test_versions_arriving_out_of_order_are_sorted_by_extend_all(
    golden_genesis: SignedMembership,
) -> None:
    v2 = golden_genesis.membership.revoke_feed(PHARMACY, 9)
    v3 = v2.revoke_feed(DIST, 9)
    signed = [sign_membership(v, dict(GOV)) for v in (v3, v2)]
    chain = MembershipChain(golden_genesis, golden_genesis.id)
    chain.extend_all(signed)
    assert chain.current == v3


def test_wrong_pinned_genesis_id_is_refused(golden_genesis: SignedMembership) -> None:
    with pytest.raises(MembershipChainError):
        MembershipChain(golden_genesis, "00" * 32)


def test_genesis_signed_below_its_own_threshold_is_refused(
    golden_genesis: SignedMembership,
) -> None:
    weak = sign_membership(golden_genesis.membership, {"gov-1": GOV["gov-1"]})
    with pytest.raises(ThresholdNotMet):
        MembershipChain(weak, weak.id)


def test_a_later_version_cannot_be_pinned_as_genesis(golden_genesis: SignedMembership) -> None:
    v2 = sign_membership(v2_of(golden_genesis), dict(GOV))
    with pytest.raises(MembershipChainError):
        MembershipChain(v2, v2.id)


def test_entry_signature_replayed_as_a_membership_signature_does_not_count(
    golden_genesis: SignedMembership,
) -> None:
    """Domain separation: an entry-domain signature over the document bytes is no vote."""
    v2 = v2_of(golden_genesis)
    data = v2.encode()
    replayed = SignedMembership(
        data, {name: key.sign(ENTRY_DOMAIN + data) for name, key in GOV.items()}, v2
    )
    assert replayed.count_valid(golden_genesis.membership.governance) == 0
    with pytest.raises(ThresholdNotMet):
        MembershipChain(golden_genesis, golden_genesis.id).extend(replayed)
    genuine = SignedMembership(
        data, {name: key.sign(MEMBERSHIP_DOMAIN + data) for name, key in GOV.items()}, v2
    )
    assert genuine.count_valid(golden_genesis.membership.governance) == 3


# -- the document and its wire form ------------------------------------------------------------


def test_membership_json_round_trips(golden_membership: Membership) -> None:
    assert Membership.from_json(golden_membership.to_json()) == golden_membership
    assert Membership.from_json(json.loads(golden_membership.encode())).encode() == (
        golden_membership.encode()
    )


def test_signed_membership_wire_round_trips(golden_genesis: SignedMembership) -> None:
    back = SignedMembership.from_wire(golden_genesis.to_wire())
    assert (back.doc_bytes, dict(back.signatures), back.id) == (
        golden_genesis.doc_bytes,
        dict(golden_genesis.signatures),
        golden_genesis.id,
    )
    assert back.membership == golden_genesis.membership


def doc_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = golden.genesis_membership().to_json()
    change(doc)
    return canonical_bytes(doc)


def set_in(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _feed_key(doc: dict[str, Any]) -> dict[str, Any]:
    key: dict[str, Any] = doc["organisations"]["city-pharmacy"]["feeds"][PHARMACY]["keys"][0]
    return key


def _set_from_seq_text(doc: dict[str, Any]) -> None:
    _feed_key(doc)["from_seq"] = "0"


def _set_feed_key_33_bytes(doc: dict[str, Any]) -> None:
    _feed_key(doc)["public"] = base64.b64encode(bytes(33)).decode()


def _unsort_kinds(doc: dict[str, Any]) -> None:
    kinds = doc["organisations"]["city-pharmacy"]["feeds"][PHARMACY]["kinds"]
    kinds.reverse()


BAD_DOCS: list[tuple[str, bytes]] = [
    ("wrong_type", doc_with(set_in(("type",), "medtrace/other"))),
    ("threshold_zero", doc_with(set_in(("governance", "threshold"), 0))),
    ("threshold_above_key_count", doc_with(set_in(("governance", "threshold"), 4))),
    ("threshold_as_text", doc_with(set_in(("governance", "threshold"), "2"))),
    ("governance_key_not_base64", doc_with(set_in(("governance", "keys", "gov-1"), "!!"))),
    ("unknown_role", doc_with(set_in(("organisations", "city-pharmacy", "role"), "wizard"))),
    (
        "gln_of_12_digits",
        doc_with(set_in(("organisations", "city-pharmacy", "gln"), "950612000000")),
    ),
    (
        "company_prefix_of_letters",
        doc_with(set_in(("organisations", "acme-pharma", "company_prefixes"), ["ACME"])),
    ),
    (
        "organisation_id_with_capitals",
        doc_with(lambda d: d["organisations"].update(Rogue=d["organisations"]["city-pharmacy"])),
    ),
    (
        "feed_of_another_organisation",
        doc_with(
            lambda d: d["organisations"]["city-pharmacy"]["feeds"].update(
                {"acme-pharma/x": d["organisations"]["city-pharmacy"]["feeds"][PHARMACY]}
            )
        ),
    ),
    ("missing_organisations", doc_with(lambda d: d.pop("organisations"))),
    ("from_seq_as_text", doc_with(_set_from_seq_text)),
    ("kinds_not_sorted", doc_with(_unsort_kinds)),
    (
        "governance_key_of_31_bytes",
        doc_with(set_in(("governance", "keys", "gov-1"), base64.b64encode(bytes(31)).decode())),
    ),
    ("feed_key_of_33_bytes", doc_with(_set_feed_key_33_bytes)),
    ("unknown_top_level_field", doc_with(set_in(("note",), "ignored?"))),
]


@pytest.mark.parametrize("doc_bytes", [d for _, d in BAD_DOCS], ids=[i for i, _ in BAD_DOCS])
def test_malformed_membership_document_is_refused(doc_bytes: bytes) -> None:
    wire = {
        "membership": base64.b64encode(doc_bytes).decode(),
        "signatures": {
            name: base64.b64encode(GOV[name].sign(MEMBERSHIP_DOMAIN + doc_bytes)).decode()
            for name in golden.GENESIS_SIGNERS
        },
    }
    with pytest.raises(MembershipError):
        SignedMembership.from_wire(wire)


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"membership": "!!", "signatures": {}},
        {"membership": base64.b64encode(b"{}").decode(), "signatures": []},
        {"membership": base64.b64encode(b'{ "type": 1 }').decode(), "signatures": {}},
    ],
    ids=["empty", "doc_not_base64", "signatures_not_a_map", "doc_not_canonical"],
)
def test_malformed_membership_wire_form_is_refused(wire: dict[str, Any]) -> None:
    with pytest.raises(MembershipError):
        SignedMembership.from_wire(wire)


def test_genesis_helper_validates_like_a_reader() -> None:
    bad = organisation("Bad Org", name="x", role=Role.PHARMACY, gln="9506120000001", feeds={})
    with pytest.raises(MembershipError):
        genesis("c", pubs(GOV), 2, [bad])


def test_adding_a_listed_organisation_or_feed_again_is_refused(
    golden_membership: Membership,
) -> None:
    org = golden_membership.organisations["city-pharmacy"]
    with pytest.raises(MembershipError):
        golden_membership.with_organisation(org)
    with pytest.raises(MembershipError):
        golden_membership.with_feed("city-pharmacy", PHARMACY, raw_public(NEW_KEY))
    with pytest.raises(MembershipError):
        golden_membership.with_feed("nobody", "nobody/x", raw_public(NEW_KEY))
