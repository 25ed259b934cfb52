"""RFC 8785 canonical JSON: one byte form per value, everything else refused."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import _UNPROVEN, _parse_fast, _plain_dumps, canonical_bytes, parse_canonical
from ledger.errors import MalformedEntry
from tests.vectors import golden

SAFE = 2**53 - 1

scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)


def reversed_keys(value: Any) -> Any:
    """The same value with every object's keys in reverse insertion order."""
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(value.items())}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_encode_parse_encode_is_identical(value: Any) -> None:
    data = canonical_bytes(value)
    parsed = parse_canonical(data)
    assert parsed == value
    assert canonical_bytes(parsed) == data


@settings(max_examples=100, deadline=None)
@given(
    json_values,
    st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, 0, 2]),
    st.booleans(),
)
def test_parse_canonical_refuses_every_other_encoding_of_the_same_value(
    value: Any,
    separators: tuple[str, str],
    ensure_ascii: bool,
    sort_keys: bool,
    indent: int | None,
    reverse: bool,
) -> None:
    source = reversed_keys(value) if reverse else value
    text = json.dumps(
        source,
        separators=separators,
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
        indent=indent,
    )
    data = text.encode("utf-8")
    if data == canonical_bytes(value):
        assert parse_canonical(data) == value
    else:
        with pytest.raises(MalformedEntry):
            parse_canonical(data)


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_refused_on_both_sides(number: float) -> None:
    with pytest.raises(MalformedEntry):
        canonical_bytes({"q": number})
    with pytest.raises(MalformedEntry):
        parse_canonical(json.dumps({"q": number}).encode())


CANONICAL_EXAMPLES: list[tuple[str, Any, bytes]] = [
    ("keys_sorted", {"b": 1, "a": 2}, b'{"a":2,"b":1}'),
    ("no_white_space", [1, [2, {}]], b"[1,[2,{}]]"),
    ("non_ascii_raw_utf8", "é€😀", '"é€😀"'.encode()),
    ("control_escaped", "\x01\n", b'"\\u0001\\n"'),
    ("keys_by_utf16_units", {"\U0001f600": 1, "\ufb01": 2}, '{"😀":1,"ﬁ":2}'.encode()),
    ("largest_safe_integer", SAFE, b"9007199254740991"),
    ("literals", [None, True, False], b"[null,true,false]"),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, e) for _, v, e in CANONICAL_EXAMPLES],
    ids=[i for i, _, _ in CANONICAL_EXAMPLES],
)
def test_canonical_bytes_examples(value: Any, expected: bytes) -> None:
    assert canonical_bytes(value) == expected
    assert parse_canonical(expected) == value


@pytest.mark.parametrize(
    "value",
    [SAFE + 1, -SAFE - 1, {1: "x"}, {"s": {1, 2}}, b"bytes", object()],
    ids=["above_2_53", "below_minus_2_53", "int_key", "set", "bytes", "object"],
)
def test_values_json_cannot_carry_exactly_are_refused(value: Any) -> None:
    with pytest.raises(MalformedEntry):
        canonical_bytes(value)


# -- the json.dumps fast path of parse_canonical ----------------------------------------------
# parse_canonical first tries json.dumps (C) and only proves with rfc8785 (pure Python) what that
# cannot. These tests hold the two encoders against each other where they could disagree.

#: Characters where the encoders could part: the short escapes, other controls, DEL, line
#: separators, the top of the BMP (sorts after non-BMP in UTF-16 units), non-BMP, non-ASCII.
TRICKY = ['"', "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u2028", "\ue000",
          "\ufb01", "\uffff", "\U0001f600", "\U00010000", "é", "a", "Z", "0", "/"]  # fmt: skip
tricky_text = st.text(st.sampled_from(TRICKY) | st.characters(), max_size=8)
tricky_values = st.recursive(
    st.none() | st.booleans() | st.integers(-SAFE, SAFE) | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=5),
    max_leaves=20,
)


def precise_parse(data: bytes) -> Any:
    """parse_canonical as it was before the fast path: parse, re-encode with rfc8785, compare."""
    value = json.loads(data.decode("utf-8"), parse_float=_refuse_float)
    if canonical_bytes(value) != data:
        raise MalformedEntry("not canonical")
    return value


def outcome(parse: Any, data: bytes, refusals: tuple[type[Exception], ...]) -> tuple[str, Any]:
    try:
        return "value", parse(data)
    except refusals:
        return "refused", None


def _refuse_float(text: str) -> float:
    raise MalformedEntry(text)


@settings(max_examples=400, deadline=None)
@given(tricky_values)
def test_json_dumps_equals_rfc8785_for_every_value_without_characters_outside_the_bmp(
    value: Any,
) -> None:
    try:
        expected = canonical_bytes(value)
    except MalformedEntry:  # a lone surrogate
        return
    fast = _plain_dumps(value)
    if max(fast, default="a") <= "\uffff":
        assert fast.encode("utf-8") == expected


@settings(max_examples=400, deadline=None)
@given(
    tricky_values,
    st.booleans(),
    st.booleans(),
    st.sampled_from([(",", ":"), (", ", ": ")]),
)
def test_parse_canonical_takes_and_refuses_exactly_what_the_rfc8785_check_does(
    value: Any, ensure_ascii: bool, sort_keys: bool, separators: tuple[str, str]
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, sort_keys=sort_keys, separators=separators)
    inputs = [text.encode("utf-8", "surrogatepass")]
    with contextlib.suppress(MalformedEntry):
        inputs.append(canonical_bytes(value))
    for data in inputs:
        # parse_canonical refuses with MalformedEntry only; the old check also let rfc8785's
        # errors and invalid UTF-8 escape.
        expected = outcome(precise_parse, data, (MalformedEntry, ValueError))
        assert outcome(parse_canonical, data, (MalformedEntry,)) == expected


TAKEN_BY_RFC8785_ONLY = [
    ("keys_outside_the_bmp_sort_by_utf16_units", '{"😀":1,"ﬁ":2}'),
    ("value_outside_the_bmp", '{"a":"😀"}'),
]
REFUSED_BY_BOTH = [
    ("keys_outside_the_bmp_in_code_point_order", '{"ﬁ":2,"😀":1}'),
    ("lone_surrogate_escape", '"\\ud800"'),
    ("lone_surrogate_escape_in_a_key", '{"\\udfff":1}'),
    ("escaped_pair_instead_of_raw_utf8", '"\\ud83d\\ude00"'),
    ("escaped_non_ascii", '"\\u00e9"'),
    ("upper_case_hex_escape", '"\\u001F"'),
    ("long_form_of_a_short_escape", '"\\u000a"'),
    ("escaped_solidus", '"\\/"'),
    ("above_2_53", "9007199254740992"),
    ("below_minus_2_53", "-9007199254740992"),
    ("minus_zero", "-0"),
    ("duplicate_key", '{"a":1,"a":1}'),
    ("exponent", "1E2"),
    ("float", "1.0"),
    ("leading_white_space", ' {"a":1}'),
    ("trailing_white_space", '{"a":1} '),
    ("trailing_newline", '{"a":1}\n'),
    ("a_second_value", '{"a":1}{}'),
    ("trailing_garbage", '{"a":1}x'),
    ("leading_zero", '{"a":01}'),
    ("plus_sign", '{"a":+1}'),
    ("white_space_inside", '{"a": 1}'),
    ("unsorted_keys", '{"b":1,"a":2}'),
    ("nan", '{"a":NaN}'),
    ("empty", ""),
]


@pytest.mark.parametrize(
    "text", [t for _, t in TAKEN_BY_RFC8785_ONLY], ids=[i for i, _ in TAKEN_BY_RFC8785_ONLY]
)
def test_canonical_bytes_the_fast_path_cannot_prove_are_still_taken(text: str) -> None:
    data = text.encode("utf-8")
    assert _parse_fast(text) is _UNPROVEN
    assert parse_canonical(data) == json.loads(text)


@pytest.mark.parametrize(
    "text", [t for _, t in REFUSED_BY_BOTH], ids=[i for i, _ in REFUSED_BY_BOTH]
)
def test_non_canonical_bytes_are_refused_with_a_ledger_error(text: str) -> None:
    with pytest.raises(MalformedEntry):
        parse_canonical(text.encode("utf-8"))


def test_every_golden_payload_is_proven_canonical_by_the_fast_path() -> None:
    for row in json.loads(golden.GOLDEN_PATH.read_text(encoding="utf-8"))["entries"]:
        payload: str = row["payload"]
        assert _parse_fast(payload) is not _UNPROVEN, row["step"]
        assert _plain_dumps(json.loads(payload)).encode("utf-8") == rfc8785.dumps(
            json.loads(payload)
        )


#: What the byte mutations below insert, replace or append: white space, separators, number
#: forms, escapes, a repeated member.
INSERTS = [" ", "\n", "\t", ",", ":", "0", "-", ".0", "e1", "\\u0041", "\\/", '"', "{}", "[]"]


def mutations(data: bytes, draw: Any) -> list[bytes]:
    """A few byte-level neighbours of ``data``: an insert, a deletion, two bytes swapped,
    something appended, a member repeated."""
    text = data.decode("utf-8")
    at = draw(st.integers(0, len(text)))
    other = draw(st.integers(0, len(text)))
    insert = draw(st.sampled_from(INSERTS))
    found = [
        text[:at] + insert + text[at:],
        text[:at] + text[at + 1 :],
        text + draw(st.sampled_from([" ", "\n", "x", "{}", "0"])),
    ]
    if at < other:
        found.append(text[:at] + text[other : other + 1] + text[at + 1 : other] + text[at : at + 1]
                     + text[other + 1 :])  # fmt: skip
    if text.startswith("{") and len(text) > 2:
        first = text[1:].split(",", 1)[0].rstrip("}")
        found.append("{" + first + "," + text[1:])  # the first member twice
    return [t.encode("utf-8", "surrogatepass") for t in found]


@settings(max_examples=300, deadline=None)
@given(tricky_values, st.data())
def test_parse_canonical_takes_exactly_what_the_rfc8785_check_does_near_canonical_bytes(
    value: Any, data: st.DataObject
) -> None:
    """The fast path (the scanner alone, then the C encoder made once) against the check it
    replaces, on canonical bytes and on byte-level mutations of them."""
    try:
        canonical = canonical_bytes(value)
    except MalformedEntry:
        return
    for candidate in [canonical, *mutations(canonical, data.draw)]:
        expected = outcome(precise_parse, candidate, (MalformedEntry, ValueError, RecursionError))
        assert outcome(parse_canonical, candidate, (MalformedEntry,)) == expected, candidate


@settings(max_examples=300, deadline=None)
@given(tricky_values)
def test_the_encoder_made_once_equals_json_encoder_encode(value: Any) -> None:
    plain = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert _plain_dumps(value) == plain.encode(value)


@pytest.mark.parametrize(
    "text", [t for _, t in REFUSED_BY_BOTH], ids=[i for i, _ in REFUSED_BY_BOTH]
)
def test_refused_bytes_are_refused_by_the_rfc8785_check_too(text: str) -> None:
    data = text.encode("utf-8")
    assert outcome(precise_parse, data, (MalformedEntry, ValueError))[0] == "refused"
