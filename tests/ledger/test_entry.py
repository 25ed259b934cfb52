"""The signed entry: envelope, canonical bytes, wire form, and what tampering breaks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.canonical import canonical_bytes
from ledger.entry import ENTRY_DOMAIN, Payload, SignedEntry, decode_payload, entry_id, sign
from ledger.errors import (
    ChainError,
    KeyNotAuthorised,
    LedgerError,
    MalformedEntry,
    MembershipError,
    SignatureInvalid,
    UnknownFeed,
)
from ledger.feed import verify_chain, verify_entry
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.membership.versions import MEMBERSHIP_DOMAIN
from tests.ledger.builders import MFR, PACK, PHARMACY, keys, membership

ID = "ab" * 32
TS = "2026-03-02T08:00:00.000Z"


def small_payload(**changes: Any) -> Payload:
    fields: dict[str, Any] = {
        "feed": MFR,
        "seq": 0,
        "prev": None,
        "ts": TS,
        "kind": Kind.LOCK,
        "subjects": (PACK,),
        "refs": (),
        "body": {"reason": "audit"},
    }
    fields.update(changes)
    return Payload(**fields)


def small_entry() -> SignedEntry:
    return sign(small_payload(), keys()[MFR])


def receive_as_peer(payload_bytes: bytes, signature: bytes, members: Membership) -> SignedEntry:
    """What a node does with bytes fetched from a peer for feed ``MFR`` (a fresh feed)."""
    entry = SignedEntry.from_bytes(payload_bytes, signature)
    verify_chain([entry], members, feed=MFR)
    return entry


# -- the envelope ------------------------------------------------------------------------------


def test_payload_round_trips_through_its_canonical_bytes() -> None:
    payload = small_payload(seq=3, prev=ID, refs=(ID,), kind=Kind.RECEIVE)
    data = payload.encode()
    assert decode_payload(data) == payload
    assert data == canonical_bytes(payload.to_json())
    assert entry_id(data) == sign(payload, keys()[MFR]).id


def test_payload_bytes_are_sorted_compact_utf8() -> None:
    data = small_payload(body={"b": 1, "a": "é"}).encode()
    assert data.startswith(b'{"body":{"a":"\xc3\xa9","b":1},"feed":"acme-pharma/line-1",')
    assert b" " not in data.replace(b"\xc3\xa9", b"")


def test_order_key_is_ts_then_feed_then_seq() -> None:
    assert small_payload(seq=7, prev=ID).order_key == (TS, MFR, 7)


def base_json() -> dict[str, Any]:
    return small_payload().to_json()


def with_field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj[key] = value

    return change


def without_field(key: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        del obj[key]

    return change


ENVELOPE_CASES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("missing_body", without_field("body")),
    ("missing_prev", without_field("prev")),
    ("unknown_field", with_field("note", "x")),
    ("version_3", with_field("v", 3)),
    ("version_true_is_not_1", with_field("v", True)),
    ("version_as_string", with_field("v", "1")),
    ("feed_without_site", with_field("feed", "acme-pharma")),
    ("feed_with_capitals", with_field("feed", "Acme/line-1")),
    ("feed_too_long", with_field("feed", "a" * 33 + "/x")),
    ("negative_seq", with_field("seq", -1)),
    ("seq_as_string", with_field("seq", "0")),
    ("seq_true", with_field("seq", True)),
    ("prev_set_at_seq_0", with_field("prev", ID)),
    ("ts_without_milliseconds", with_field("ts", "2026-03-02T08:00:00Z")),
    ("ts_with_offset", with_field("ts", "2026-03-02T08:00:00.000+00:00")),
    ("ts_impossible_day", with_field("ts", "2026-02-30T08:00:00.000Z")),
    ("ts_as_number", with_field("ts", 1767340800000)),
    ("unknown_kind", with_field("kind", "teleport")),
    ("kind_upper_case", with_field("kind", "LOCK")),
    ("subjects_not_a_list", with_field("subjects", PACK)),
    ("subject_not_a_string", with_field("subjects", [1])),
    ("refs_not_hex", with_field("refs", ["zz" * 32])),
    ("refs_upper_hex", with_field("refs", ["AB" * 32])),
    ("refs_short", with_field("refs", ["ab" * 31])),
    ("body_a_list", with_field("body", [])),
    ("body_null", with_field("body", None)),
]


@pytest.mark.parametrize(
    "change", [c for _, c in ENVELOPE_CASES], ids=[i for i, _ in ENVELOPE_CASES]
)
def test_envelope_breaking_payload_is_malformed(change: Callable[[dict[str, Any]], None]) -> None:
    obj = base_json()
    change(obj)
    with pytest.raises(MalformedEntry):
        SignedEntry.from_bytes(canonical_bytes(obj), bytes(64))


@pytest.mark.parametrize(
    ("seq", "prev"), [(1, None), (1, "ab" * 31), (2, ID.upper())], ids=["null", "short", "upper"]
)
def test_prev_that_is_not_an_entry_id_after_seq_0_is_malformed(seq: int, prev: Any) -> None:
    obj = base_json() | {"seq": seq, "prev": prev}
    with pytest.raises(MalformedEntry):
        decode_payload(canonical_bytes(obj))


def test_top_level_array_is_malformed() -> None:
    with pytest.raises(MalformedEntry):
        decode_payload(b"[]")


# -- non-canonical encodings of a valid payload ------------------------------------------------


def replace_once(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert data.count(old) == 1, old
        return data.replace(old, new)

    return change


NON_CANONICAL: list[tuple[str, Callable[[bytes], bytes]]] = [
    (
        "space_after_colons",
        lambda d: json.dumps(json.loads(d), sort_keys=True, separators=(",", ": ")).encode(),
    ),
    ("indented", lambda d: json.dumps(json.loads(d), sort_keys=True, indent=1).encode()),
    ("leading_space", lambda d: b" " + d),
    ("trailing_newline", lambda d: d + b"\n"),
    ("utf8_byte_order_mark", lambda d: b"\xef\xbb\xbf" + d),
    (
        "unsorted_keys",
        lambda d: json.dumps(dict(reversed(json.loads(d).items())), separators=(",", ":")).encode(),
    ),
    ("duplicate_key_other_value", lambda d: b'{"body":{"x":1},' + d[1:]),
    ("duplicate_key_same_value", lambda d: b'{"body":{"reason":"audit"},' + d[1:]),
    ("float_seq", replace_once(b'"seq":0', b'"seq":0.0')),
    ("exponent_seq", replace_once(b'"seq":0', b'"seq":0e0')),
    ("negative_zero_seq", replace_once(b'"seq":0', b'"seq":-0')),
    ("float_in_body", replace_once(b'"reason":"audit"', b'"reason":1.5')),
    ("nan_in_body", replace_once(b'"reason":"audit"', b'"reason":NaN')),
    ("infinity_in_body", replace_once(b'"reason":"audit"', b'"reason":-Infinity')),
    ("integer_beyond_2_53", replace_once(b'"reason":"audit"', b'"reason":9007199254740992')),
    ("unicode_escape_for_ascii", replace_once(b'"audit"', b'"\\u0061udit"')),
    ("escaped_solidus", replace_once(b"acme-pharma/line-1", b"acme-pharma\\/line-1")),
    ("invalid_utf8", replace_once(b'"audit"', b'"aud\xffit"')),
    ("overlong_utf8", replace_once(b'"audit"', b'"aud\xc1\xa9it"')),
    ("single_quotes", replace_once(b'"audit"', b"'audit'")),
    ("truncated", lambda d: d[:-1]),
    ("empty", lambda d: b""),
]


@pytest.mark.parametrize("change", [c for _, c in NON_CANONICAL], ids=[i for i, _ in NON_CANONICAL])
def test_non_canonical_payload_bytes_are_malformed(change: Callable[[bytes], bytes]) -> None:
    data = small_payload().encode()
    altered = change(data)
    assert altered != data
    with pytest.raises(MalformedEntry):
        SignedEntry.from_bytes(altered, bytes(64))


def test_float_in_a_payload_cannot_even_be_encoded() -> None:
    with pytest.raises(MalformedEntry):
        small_payload(body={"quantity": 2.5}).encode()


# -- tampering ---------------------------------------------------------------------------------

TAMPER_FAMILIES = (MalformedEntry, SignatureInvalid, ChainError, MembershipError)


@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80, 0xFF], ids=lambda m: f"xor_{m:#04x}")
def test_flipped_byte_anywhere_in_the_payload_is_refused(mask: int) -> None:
    entry = small_entry()
    members = membership()
    receive_as_peer(entry.payload_bytes, entry.signature, members)  # the original passes
    accepted: list[int] = []
    outside: list[tuple[int, str]] = []
    for position in range(len(entry.payload_bytes)):
        data = bytearray(entry.payload_bytes)
        data[position] ^= mask
        try:
            receive_as_peer(bytes(data), entry.signature, members)
        except TAMPER_FAMILIES:
            continue
        except LedgerError as exc:  # any other error kind is reported below
            outside.append((position, type(exc).__name__))
        else:
            accepted.append(position)
    assert accepted == [], f"payloads accepted after flipping byte(s) at {accepted}"
    assert outside == []


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF], ids=lambda m: f"xor_{m:#04x}")
def test_flipped_byte_anywhere_in_the_signature_is_signature_invalid(mask: int) -> None:
    entry = small_entry()
    members = membership()
    for position in range(64):
        signature = bytearray(entry.signature)
        signature[position] ^= mask
        with pytest.raises(SignatureInvalid):
            receive_as_peer(entry.payload_bytes, bytes(signature), members)


def test_entry_signed_with_another_feeds_key_is_signature_invalid() -> None:
    forged = sign(small_payload(), keys()[PHARMACY])
    with pytest.raises(SignatureInvalid):
        verify_entry(forged, membership())


def test_entry_signed_with_an_unknown_key_is_signature_invalid() -> None:
    forged = sign(small_payload(), Ed25519PrivateKey.from_private_bytes(bytes([0x99]) * 32))
    with pytest.raises(SignatureInvalid):
        verify_entry(forged, membership())


def test_entry_of_an_unlisted_feed_is_unknown_feed() -> None:
    entry = sign(small_payload(feed="rogue/line-1"), keys()[MFR])
    with pytest.raises(UnknownFeed):
        verify_entry(entry, membership())


def test_entry_signature_without_the_domain_prefix_is_signature_invalid() -> None:
    data = small_payload().encode()
    bare = SignedEntry.from_bytes(data, keys()[MFR].sign(data))
    with pytest.raises(SignatureInvalid):
        verify_entry(bare, membership())


def test_membership_signature_over_payload_bytes_is_not_an_entry_signature() -> None:
    """Domain separation: the same key signing the same bytes as membership is no entry."""
    data = small_payload().encode()
    replayed = SignedEntry.from_bytes(data, keys()[MFR].sign(MEMBERSHIP_DOMAIN + data))
    with pytest.raises(SignatureInvalid):
        verify_entry(replayed, membership())


def test_domains_differ_and_neither_is_a_prefix_of_the_other() -> None:
    assert ENTRY_DOMAIN == b"medtrace/entry/v1\x00"
    assert not MEMBERSHIP_DOMAIN.startswith(ENTRY_DOMAIN)
    assert not ENTRY_DOMAIN.startswith(MEMBERSHIP_DOMAIN)


# -- wire form ---------------------------------------------------------------------------------


def test_wire_form_round_trips_the_exact_bytes() -> None:
    entry = small_entry()
    wire = entry.to_wire()
    assert set(wire) == {"id", "payload", "signature"}
    assert base64.b64decode(wire["payload"]) == entry.payload_bytes
    back = SignedEntry.from_wire(wire)
    assert (back.payload_bytes, back.signature, back.id) == (
        entry.payload_bytes,
        entry.signature,
        entry.id,
    )


def test_wire_form_without_id_is_accepted() -> None:
    wire = small_entry().to_wire()
    del wire["id"]
    assert SignedEntry.from_wire(wire).id == small_entry().id


def wire_with(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = dict(small_entry().to_wire())
    for key, value in changes.items():
        if value is None:
            del wire[key]
        else:
            wire[key] = value
    return wire


BAD_WIRE: list[tuple[str, dict[str, Any]]] = [
    ("claimed_id_of_other_bytes", wire_with(id="00" * 32)),
    ("missing_payload", wire_with(payload=None)),
    ("missing_signature", wire_with(signature=None)),
    ("payload_not_base64", wire_with(payload="not base64!")),
    ("signature_not_base64", wire_with(signature="***")),
    ("signature_63_bytes", wire_with(signature=base64.b64encode(bytes(63)).decode())),
    ("signature_65_bytes", wire_with(signature=base64.b64encode(bytes(65)).decode())),
    ("payload_a_number", wire_with(payload=5)),
]


@pytest.mark.parametrize("wire", [w for _, w in BAD_WIRE], ids=[i for i, _ in BAD_WIRE])
def test_broken_wire_form_is_malformed(wire: dict[str, Any]) -> None:
    with pytest.raises(MalformedEntry):
        SignedEntry.from_wire(wire)


def test_wire_form_of_a_revoked_position_parses_but_does_not_verify() -> None:
    """Parsing is not verifying: from_wire checks bytes, verify_entry checks the membership."""
    later = sign(small_payload(seq=5, prev=ID), keys()[MFR])
    revoked = membership().revoke_feed(MFR, 5)
    parsed = SignedEntry.from_wire(later.to_wire())
    verify_entry(parsed, membership())
    with pytest.raises(KeyNotAuthorised):
        verify_entry(parsed, revoked)
