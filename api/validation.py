"""Request bodies: strict JSON parsing and a small JSON Schema validator.

The schemas in ``api/schemas.py`` are both what the OpenAPI document publishes and what requests
are checked against, so the two cannot drift. The validator knows the subset those schemas use
(type, properties, required, additionalProperties, items, min/maxItems, min/maxLength, pattern,
enum, minimum/maximum, maxProperties, oneOf, format) plus one extension, ``x-ledger-json``: a
free-form value that must survive RFC 8785 canonical encoding (no floats, integers within
±2^53-1, no lone surrogates, bounded depth). The first problem is reported with its JSON path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from api.problems import Problem
from ledger.entry import ENTRY_ID, FEED_ID
from ledger.errors import IdentifierError
from ledger.identifiers import CheckDigitError, check_cset82, check_sscc, gtin14, parse_subject
from ledger.strictjson import refuse_constant, unique_members

Schema = Mapping[str, Any]
MAX_DEPTH = 32
_MAX_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# -- strict JSON ---------------------------------------------------------------------------------


def parse_json(data: bytes) -> Any:
    """Parse a request body; anything but one plain JSON value is a 400 problem."""
    if not data.strip():
        raise Problem("malformed-json", "expected a JSON body, found an empty one")
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=refuse_constant,
            object_pairs_hook=unique_members,
        )
    except UnicodeDecodeError as exc:
        raise Problem(
            "malformed-json", f"expected UTF-8, found an invalid byte at {exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise Problem(
            "malformed-json", f"expected JSON, found an error at line {exc.lineno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise Problem("malformed-json", "expected JSON nested less deeply") from None
    except ValueError as exc:
        raise Problem("malformed-json", str(exc)) from None


# -- formats -------------------------------------------------------------------------------------


def _date(value: str) -> None:
    if len(value) != 10:
        raise ValueError
    date.fromisoformat(value)


def _gtin(value: str) -> None:
    if not 8 <= len(value) <= 14:
        raise IdentifierError("length")
    gtin14(value)


def _regex(pattern: re.Pattern[str]) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not pattern.match(value):
            raise ValueError

    return check


FORMATS: dict[str, tuple[Callable[[str], object], str]] = {
    "date": (_date, "a date YYYY-MM-DD"),
    "gtin": (_gtin, "a GTIN-8/12/13/14 with a valid check digit"),
    "sscc": (check_sscc, "an 18-digit SSCC with a valid check digit"),
    "gs1-subject": (
        parse_subject,
        "a canonical GS1 Digital Link URI (https://id.gs1.org/01/{gtin}/21/{serial}, /00/{sscc}, "
        "/01/{gtin}/10/{lot} or /01/{gtin})",
    ),
    "gs1-cset82": (
        lambda v: check_cset82(v, "value"),
        "1 to 20 characters of the GS1 AI character set 82",
    ),
    "entry-id": (_regex(ENTRY_ID), "a 64-hex entry id"),
    "feed-id": (_regex(FEED_ID), "a feed id like 'acme/line-1'"),
}


# -- validation ----------------------------------------------------------------------------------


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[expected]


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _shown(value: Any) -> str:
    """A value in a message: a string quoted, anything else as JSON would write it."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False)[:100]
    except (TypeError, ValueError):
        return _json_name(value)


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def check_ledger_json(value: Any, path: str, depth: int = 0) -> None:
    """A value that canonical JSON can sign: no floats, safe integers, no lone surrogates."""
    if depth > MAX_DEPTH:
        raise Invalid(path, f"expected at most {MAX_DEPTH} levels of nesting")
    if isinstance(value, float):
        raise Invalid(path, "expected no numbers with a fraction (quantities travel as strings)")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise Invalid(path, "expected an integer within ±2^53-1")
        return
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise Invalid(path, "expected a string without lone UTF-16 surrogates")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_ledger_json(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise Invalid(path, "expected member names without lone UTF-16 surrogates")
            check_ledger_json(item, _key(path, key), depth + 1)
        return
    raise Invalid(path, f"expected a JSON value, found {type(value).__name__}")


def validate(value: Any, schema: Schema, path: str = "$") -> None:
    """Raise ``Invalid`` at the first place ``value`` does not match ``schema``."""
    if "oneOf" in schema:
        matches = 0
        first: Invalid | None = None
        for option in schema["oneOf"]:
            try:
                validate(value, option, path)
                matches += 1
            except Invalid as exc:
                first = first or exc
        if matches != 1:
            message = schema.get("x-oneOf-message", "expected exactly one of the alternatives")
            if matches == 0 and first is not None and "x-oneOf-message" not in schema:
                raise first
            raise Invalid(path, str(message))
    expected = schema.get("type")
    if expected is not None:
        types = [expected] if isinstance(expected, str) else list(expected)
        if not any(_type_ok(value, t) for t in types):
            wanted = " or ".join(types)
            raise Invalid(path, f"expected {wanted}, found {_json_name(value)}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        raise Invalid(path, f"expected one of {allowed}, found {_shown(value)}"[:300])
    if isinstance(value, str):
        _validate_string(value, schema, path)
    elif isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(path, f"expected at least {schema['minimum']}, found {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(path, f"expected at most {schema['maximum']}, found {value}")
    elif isinstance(value, list):
        _validate_array(value, schema, path)
    elif isinstance(value, dict):
        _validate_object(value, schema, path)
    if schema.get("x-ledger-json"):
        check_ledger_json(value, path)


def _validate_string(value: str, schema: Schema, path: str) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise Invalid(path, f"expected at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Invalid(path, f"expected at most {schema['maxLength']} characters")
    if _SURROGATE.search(value):
        raise Invalid(path, "expected a string without lone UTF-16 surrogates")
    # ASCII: ``\d`` and ``\w`` in a pattern mean what a JSON Schema (ECMA-262) reader takes.
    if "pattern" in schema and not re.search(schema["pattern"], value, re.ASCII):
        raise Invalid(
            path, f"expected a string matching {schema['pattern']}, found {value!r}"[:300]
        )
    fmt = schema.get("format")
    if fmt is not None and fmt in FORMATS:
        check, what = FORMATS[fmt]
        try:
            check(value)
        except CheckDigitError as exc:  # the one identifier, its expected and found digit
            raise Invalid(path, str(exc)) from None
        except (ValueError, IdentifierError):
            raise Invalid(path, f"expected {what}, found {value!r}"[:300]) from None


def _validate_array(value: list[Any], schema: Schema, path: str) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise Invalid(path, f"expected at least {schema['minItems']} items, found {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise Invalid(path, f"expected at most {schema['maxItems']} items, found {len(value)}")
    items = schema.get("items")
    if items is not None:
        for index, item in enumerate(value):
            validate(item, items, f"{path}[{index}]")
    if schema.get("uniqueItems") and len(set(map(repr, value))) != len(value):
        raise Invalid(path, "expected distinct items, found one listed twice")


def _validate_object(value: dict[str, Any], schema: Schema, path: str) -> None:
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise Invalid(path, f"expected at most {schema['maxProperties']} members")
    for name in schema.get("required", ()):
        if name not in value:
            raise Invalid(_key(path, name), "expected this member, found it missing")
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            validate(item, properties[key], _key(path, key))
        elif extra is False:
            allowed = sorted(properties)
            raise Invalid(_key(path, key), f"expected only the members {allowed}")
        elif isinstance(extra, Mapping):
            validate(item, extra, _key(path, key))


def check_body(value: Any, schema: Schema) -> None:
    """``validate`` with the answer a client gets: 400 naming the JSON path."""
    try:
        validate(value, schema)
    except Invalid as exc:
        raise Problem(
            "invalid-request", f"{exc.path}: {exc.message}", extra={"path": exc.path}
        ) from None
