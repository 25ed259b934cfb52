"""JSON text for EPCIS documents, numbers kept exact.

EPCIS quantities and sensor values are decimals (``0.005``, ``26.2``): parsed as ``float``
they would be rounded to binary and could not enter a signed payload (no floats, ADR 0009).
``loads`` keeps every number with a fraction or exponent as ``Decimal`` (the exact digits
sent), integers as ``int``; ``dumps`` writes them back as JSON numbers with those digits.
The non-standard constants (``NaN``, ``Infinity``) are refused. A member name given twice in
one object keeps its last value, as ``JSON.parse`` and Python do (RFC 8259 leaves it open; one
of GS1's own examples repeats ``eventID``); ``loads(..., duplicates=False)`` refuses instead.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ledger.errors import EpcisError
from ledger.strictjson import NotPlainJson, refuse_constant, unique_members

MAX_DEPTH = 64


class JsonTextError(EpcisError):
    """Not one plain JSON value."""


def _depth(value: Any, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise JsonTextError(f"expected JSON nested at most {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for item in value.values():
            _depth(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _depth(item, level + 1)


def loads(data: bytes | str, *, duplicates: bool = True) -> Any:
    """Parse JSON; numbers with a fraction or exponent become ``Decimal``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"expected UTF-8, found an invalid byte at {exc.start}") from None
    try:
        value = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=refuse_constant,
            object_pairs_hook=None if duplicates else unique_members,
        )
    except json.JSONDecodeError as exc:
        raise JsonTextError(
            f"expected JSON, found an error at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except NotPlainJson as exc:
        raise JsonTextError(str(exc)) from None
    except RecursionError:
        raise JsonTextError(f"expected JSON nested at most {MAX_DEPTH} levels deep") from None
    _depth(value)
    return value


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise JsonTextError(f"expected a finite number, found {value}")
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise JsonTextError(f"expected no binary floating-point numbers, found {value!r}")
    else:
        out.append(json.dumps(value))


def dumps(value: Any) -> str:
    """Compact ASCII JSON (other characters escaped, so any text survives), member order
    kept, ``Decimal`` written with its exact digits."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


__all__ = ["JsonTextError", "dumps", "loads"]
