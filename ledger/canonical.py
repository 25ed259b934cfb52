"""RFC 8785 canonical JSON: the only byte form a payload is signed in.

Floats are refused outright: their canonical form depends on a number formatter, and a value
that a peer parses differently would change a signed fact. Quantities travel as strings.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import MalformedEntry

JsonValue = Any  # JSON has no precise static type in Python; callers validate structure.

_MAX_SAFE_INT = 2**53 - 1


def _refuse_float(text: str) -> float:
    raise MalformedEntry(f"expected no floating-point numbers in a payload, found {text!r}")


def _refuse_constant(text: str) -> float:
    raise MalformedEntry(f"expected plain JSON, found the non-standard constant {text!r}")


def _check_no_floats(value: JsonValue, path: str = "$") -> None:
    if isinstance(value, float):
        raise MalformedEntry(
            f"expected no floating-point numbers in a payload, found {value!r} at {path}"
        )
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise MalformedEntry(f"expected an integer within ±2^53-1 at {path}, found {value}")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedEntry(f"expected string object keys at {path}, found {key!r}")
            _check_no_floats(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_no_floats(item, f"{path}[{index}]")
        return
    raise MalformedEntry(f"expected a JSON value at {path}, found {type(value).__name__}")


def canonical_bytes(value: JsonValue) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON (UTF-8), refusing floats."""
    _check_no_floats(value)
    return bytes(rfc8785.dumps(value))


def parse_canonical(data: bytes) -> JsonValue:
    """Parse bytes that must already be canonical; anything else is ``MalformedEntry``.

    Parsing then re-encoding is a check only: the caller keeps and verifies ``data`` itself.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEntry(
            f"expected UTF-8 payload bytes, found invalid byte at {exc.start}"
        ) from exc
    try:
        value = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedEntry(f"expected JSON, found an error at byte {exc.pos}: {exc.msg}") from exc
    if canonical_bytes(value) != data:
        raise MalformedEntry(
            "expected RFC 8785 canonical JSON (sorted keys, no white space, no duplicate keys), "
            "found another encoding of the same value"
        )
    return value
