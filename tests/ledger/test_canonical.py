"""RFC 8785 canonical JSON: one byte form per value, everything else refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.errors import MalformedEntry

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
