"""RFC 8785 canonical JSON: the only byte form a payload is signed in.

Floats are refused outright: their canonical form depends on a number formatter, and a value
that a peer parses differently would change a signed fact. Quantities travel as strings.
"""

from __future__ import annotations

import json
from json import encoder as json_encoder
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
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        # A lone surrogate (from a "\\ud800" escape, say) has no UTF-8 form.
        raise MalformedEntry(f"expected text UTF-8 can encode, found: {exc}") from None


class _Unsafe(Exception):
    """An integer outside ±2^53-1: the fast path steps aside for the precise error."""


def _parse_int_fast(text: str) -> int:
    number = int(text)
    if abs(number) > _MAX_SAFE_INT:
        raise _Unsafe
    return number


# Built once: ``json.dumps``/``json.loads`` with options build a new coder on every call,
# which costs as much as coding a whole payload.
_PLAIN_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_FAST_DECODER = json.JSONDecoder(
    parse_float=_refuse_float, parse_constant=_refuse_constant, parse_int=_parse_int_fast
)


def _c_encoder() -> Any:
    """``_PLAIN_ENCODER``'s C encoder, made once (``JSONEncoder.encode`` makes one per call,
    half the cost of encoding a payload); ``None`` without the C accelerator. No circular
    check: a decoded value cannot contain itself."""
    make = json_encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:
        return None
    e = _PLAIN_ENCODER
    return make(
        None,
        e.default,
        json_encoder.encode_basestring,
        None,
        ":",
        ",",
        True,
        e.skipkeys,
        e.allow_nan,
    )


_C_ENCODER = _c_encoder()


def _plain_dumps(value: JsonValue) -> str:
    """``json.dumps`` in the form that equals RFC 8785 under ``_parse_fast``'s conditions.

    Same escapes (``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as ``\\u00xx`` lower-case,
    everything else raw), same integer digits, no white space. It differs from RFC 8785 only in
    key order (code points rather than UTF-16 units: they differ only for keys outside the BMP),
    for lone surrogates (emitted raw, so never equal to valid UTF-8 input) and for numbers the
    parse refuses or fences off.
    """
    if _C_ENCODER is None or isinstance(value, str):
        return _PLAIN_ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


_SCAN = _FAST_DECODER.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__

#: ``_parse_fast`` found no proof; ``None`` cannot say so, it is the JSON ``null``.
_UNPROVEN = object()


def _parse_fast(text: str) -> JsonValue:
    """The value of ``text`` if the fast check proves it canonical, else ``_UNPROVEN``.

    It never refuses: whatever it cannot prove goes the precise way, which gives the error.
    """
    if not text.isascii() and max(text) > "\uffff":
        return _UNPROVEN  # a character outside the BMP: key order may differ from RFC 8785's
    try:  # the scanner alone: white space before or after the value is not canonical anyway
        value, end = _SCAN(text, 0)
    except (_Unsafe, MalformedEntry, json.JSONDecodeError, StopIteration):
        return _UNPROVEN
    return value if end == len(text) and _plain_dumps(value) == text else _UNPROVEN


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
        fast = _parse_fast(text)
        if fast is not _UNPROVEN:
            return fast
        value = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_constant)
        canonical = canonical_bytes(value)
    except json.JSONDecodeError as exc:
        raise MalformedEntry(f"expected JSON, found an error at byte {exc.pos}: {exc.msg}") from exc
    except RecursionError:  # a peer's payload nested deeper than Python's stack allows
        raise MalformedEntry("expected JSON nested a few levels deep, found deeper") from None
    except ValueError as exc:  # an integer longer than int() converts (4300 digits)
        raise MalformedEntry(f"expected an integer within ±2^53-1, found: {exc}"[:200]) from None
    if canonical != data:
        raise MalformedEntry(
            "expected RFC 8785 canonical JSON (sorted keys, no white space, no duplicate keys), "
            "found another encoding of the same value"
        )
    return value
