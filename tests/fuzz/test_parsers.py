"""Fuzzing the parsers of untrusted text and bytes: what a barcode scanner typed, Digital Link URIs
and EPC URNs, EPCIS documents, and entry payloads from peers. Each either returns a value or
raises its own documented error: nothing else, whatever the input."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, note
from hypothesis import strategies as st

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.entry import Payload, SignedEntry, decode_payload, sign
from ledger.epcis import normalise
from ledger.epcis.validate.checker import EpcisInvalid
from ledger.epcis.validate.document import validate_document
from ledger.errors import IdentifierError, LedgerError, MalformedEntry
from ledger.identifiers import pack_uri, parse_subject, with_check_digit
from ledger.kinds import Kind
from scanner.reading import ScanError, read_text
from tests.epcis import documents
from tests.fuzz.conftest import FUZZ, count

GS = "\x1d"
CSET82_SAFE = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789abcdefghijkmnopqrstuvwxyz"
GS1_EPCIS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "gs1-epcis"


gtins = st.builds(with_check_digit, st.text("0123456789", min_size=13, max_size=13))
any_digits = st.text("0123456789", min_size=0, max_size=20)
serials = st.text(CSET82_SAFE, min_size=1, max_size=20)
lots = st.text(CSET82_SAFE, min_size=1, max_size=20)
dates = st.builds(
    lambda y, m, d: f"{y:02d}{m:02d}{d:02d}",
    st.integers(24, 40),
    st.integers(1, 12),
    st.integers(1, 28),
)
junk = st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))


@st.composite
def element_strings(draw: st.DrawFn) -> str:
    """GS1 element strings as keyboard wedges type them, sometimes damaged."""
    gtin = draw(gtins | any_digits)
    parts = [
        "01" + gtin,
        "17" + draw(dates | any_digits),
        "10" + draw(lots | junk),
        "21" + draw(serials | junk),
    ]
    parts = [parts[0], *draw(st.permutations(parts[1:]))]
    gs = draw(st.sampled_from([GS, "<GS>", "", "\x1d\x1d", "|"]))
    prefix = draw(st.sampled_from(["]d2", "", "]Q3", "]C1", "]e0", "]d1", "]"]))
    text = prefix + gs.join(parts)
    if draw(st.booleans()):  # damage: cut, insert or swap a character
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=3)) + text[at + draw(st.integers(0, 3)) :]
    return text


@st.composite
def digital_links(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(["https://id.gs1.org", "http://example.com/dl", "https://x"]))
    path = f"/01/{draw(gtins | any_digits)}/21/{quote(draw(serials | junk), safe='')}"
    if draw(st.booleans()):
        path = f"/01/{draw(gtins)}/10/{quote(draw(lots), safe='')}" + path[18:]
    query = draw(st.sampled_from(["", "?17=" + draw(dates), "?10=" + draw(lots), "?x=%ZZ", "#f"]))
    return host + path + query


def test_read_text_answers_scan_data_or_a_scan_error() -> None:
    @FUZZ
    @given(st.one_of(junk, element_strings(), digital_links()))
    def run(text: str) -> None:
        count("scanner.read.read_text")
        try:
            data = read_text(text)
        except ScanError as exc:
            code = exc.code  # a kind the counter can act on
            assert code
            return
        # what reads is a pack the ledger can name (or the API's second line of defence says so)
        with contextlib.suppress(IdentifierError):
            pack_uri(data.gtin, data.serial)

    run()


def test_read_text_reads_back_what_an_element_string_says() -> None:
    @FUZZ
    @given(gtins, dates, lots, serials, st.sampled_from([GS, "<GS>"]), st.booleans())
    def run(gtin: str, expiry: str, lot: str, serial: str, gs: str, prefixed: bool) -> None:
        count("scanner.read.read_text (round trip)")
        text = ("]d2" if prefixed else "") + f"01{gtin}17{expiry}10{lot}{gs}21{serial}"
        data = read_text(text)
        assert (data.gtin, data.serial, data.lot) == (gtin, serial, lot)
        assert data.expiry == f"20{expiry[:2]}-{expiry[2:4]}-{expiry[4:]}"

    run()


def test_parse_subject_answers_a_subject_or_an_identifier_error() -> None:
    @FUZZ
    @given(st.one_of(junk, digital_links(), st.builds(pack_uri, gtins, serials)))
    def run(uri: str) -> None:
        count("ledger.identifiers.parse_subject")
        try:
            subject = parse_subject(uri)
        except IdentifierError:
            return
        assert subject.uri == uri

    run()


@st.composite
def epc_urns(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["sgtin", "sscc", "sgln", "lgtin", "grai", "x", "sgtin-96"]))
    kind = draw(st.sampled_from(["id", "class", "idpat", "tag", "raw"]))
    fields = draw(st.lists(any_digits | st.just("*") | serials | junk, min_size=0, max_size=4))
    return f"urn:epc:{kind}:{scheme}:" + ".".join(fields)


def test_normalise_answers_a_canonical_uri_or_none_and_is_idempotent() -> None:
    @FUZZ
    @given(st.one_of(junk, epc_urns(), digital_links(), st.integers(), st.none()))
    def run(uri: Any) -> None:
        count("ledger.epcis.normalise (canonical, parse, ledger_subject)")
        dl = normalise.canonical(uri)
        if dl is not None:
            assert normalise.canonical(dl) == dl
        normalise.parse(uri)
        subject = normalise.ledger_subject(uri)
        if subject is not None:
            parse_subject(subject)  # the ledger accepts what normalisation names

    run()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


def _examples() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [documents.valid()]
    for path in sorted(GS1_EPCIS.rglob("*.json*"))[:12]:
        try:
            found.append(json.loads(path.read_text()))
        except (ValueError, UnicodeDecodeError):
            continue
    return found


EXAMPLES = _examples()


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def epcis_documents(draw: st.DrawFn) -> Any:
    """A published or valid document with a few values replaced or removed."""
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return doc


def test_validate_document_answers_none_or_epcis_invalid() -> None:
    @FUZZ
    @given(st.one_of(json_values, epcis_documents()))
    def run(doc: Any) -> None:
        count("ledger.epcis.validate.validate_document")
        message = "valid"
        try:
            validate_document(doc)
        except EpcisInvalid as exc:
            message = str(exc)
        assert message

    run()


ENTRY = sign(
    Payload(
        feed="acme/line-1",
        seq=0,
        prev=None,
        ts="2026-03-02T08:00:00.000Z",
        kind=Kind.COMMISSION,
        subjects=(pack_uri("04012345000016", "S1"),),
        body={"ilmd": {"lotNumber": "L1", "itemExpirationDate": "2030-12-31"}},
    ),
    Ed25519PrivateKey.generate(),
)


@st.composite
def payload_bytes(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=400))
    if choice == 1:
        return json.dumps(draw(json_values)).encode()
    data = bytearray(ENTRY.payload_bytes)
    if choice == 2:  # flip a few bytes of a real payload
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        return bytes(data)
    obj = parse_canonical(bytes(data))  # a real payload with one field replaced
    obj[draw(st.sampled_from(sorted(obj)))] = draw(json_values)
    try:
        return canonical_bytes(obj)
    except LedgerError:
        return json.dumps(obj).encode()


def test_payloads_from_peers_decode_or_raise_a_ledger_error() -> None:
    @FUZZ
    @given(payload_bytes(), st.binary(min_size=0, max_size=80))
    def run(data: bytes, signature: bytes) -> None:
        count("ledger.entry.decode_payload / SignedEntry.from_bytes")
        note(repr(data[:200]))
        with contextlib.suppress(LedgerError):
            decode_payload(data)
        try:
            entry = SignedEntry.from_bytes(data, signature)
        except LedgerError:
            return
        assert entry.payload_bytes == data

    run()


def test_wire_entries_from_peers_parse_or_raise_a_ledger_error() -> None:
    wire = ENTRY.to_wire()
    values = st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "id": st.sampled_from([wire["id"], "0" * 64]) | json_values,
                "payload": st.sampled_from([wire["payload"], "!!", ""]) | json_values,
                "signature": st.sampled_from(
                    [wire["signature"], base64.b64encode(b"x" * 64).decode()]
                )
                | json_values,
            }
        ),
    )

    @FUZZ
    @given(values)
    def run(obj: Any) -> None:
        count("ledger.entry.SignedEntry.from_wire")
        if not isinstance(obj, dict):
            obj = {"payload": obj}
        with contextlib.suppress(LedgerError):
            SignedEntry.from_wire(obj)

    run()


def test_deeply_nested_or_huge_payloads_are_refused_not_crashed() -> None:
    """Regressions (found by the fuzzer): nesting deeper than the recursion limit raised
    RecursionError, an integer of more than 4,300 digits ValueError."""
    for data in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"1" * 100_000,
        b'"' + b"\\u" * 1000 + b'"',
    ):
        count("ledger.entry.decode_payload (edge cases)")
        with pytest.raises(MalformedEntry):
            decode_payload(data)


def test_a_payload_whose_kind_is_a_list_is_malformed_not_a_type_error() -> None:
    """Regression (found by the fuzzer): ``kind: []`` raised TypeError (unhashable) in ingest."""
    obj = parse_canonical(ENTRY.payload_bytes)
    obj["kind"] = []
    count("ledger.entry.decode_payload (edge cases)")
    with pytest.raises(MalformedEntry, match="expected a kind"):
        decode_payload(canonical_bytes(obj))
