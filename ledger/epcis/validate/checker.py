"""The checks every part of an EPCIS document is built from: a value of a JSON type, a URI, a
date-time, the members an object must or may have, a CBV vocabulary term, an EPC. The first
problem raises ``EpcisInvalid`` naming its JSON path, e.g. ``$.epcisBody.eventList[2].bizStep``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

from ledger.epcis.normalise import canonical, check_key_digits
from ledger.epcis.validate.formats import is_date_time, is_uri
from ledger.epcis.vocab import CBV, GS1_VOC, MT, Vocab, expand, is_known, words
from ledger.errors import EpcisError, IdentifierError

_IDENT = re.compile(r"\A[A-Za-z_@][A-Za-z0-9_@]*\Z")


class EpcisInvalid(EpcisError):
    """The first problem found: where (a JSON path) and what was expected."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{key!r}]"


def describe(value: Any) -> str:
    """The JSON type of ``value``, as a message names what it found."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


@dataclass(frozen=True)
class Checker:
    """``strict``: also the rules the CBV states in words (well-formed EPC URNs, CBV and
    medtrace terms that exist), not only what the JSON Schema checks."""

    strict: bool

    def fail(self, path: str, message: str) -> NoReturn:
        raise EpcisInvalid(path, message)

    def obj(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, found {describe(value)}")
        return value

    def arr(self, value: Any, path: str, *, min_items: int = 0, unique: bool = False) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, found {describe(value)}")
        if len(value) < min_items:
            self.fail(path, f"expected at least {min_items} item(s), found {len(value)}")
        if unique:
            seen: list[Any] = []
            for index, item in enumerate(value):
                if item in seen:
                    self.fail(child(path, index), f"expected unique items, found {item!r} again")
                seen.append(item)
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, found {describe(value)}")
        return value

    def number(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(path, f"expected a number, found {describe(value)}")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, found {describe(value)}")

    def uri(self, value: Any, path: str) -> str:
        text = self.string(value, path)
        if not is_uri(text):
            self.fail(path, f"expected a URI (with a scheme, no spaces), found {text!r}")
        return text

    def time(self, value: Any, path: str) -> None:
        text = self.string(value, path)
        if not is_date_time(text):
            self.fail(
                path,
                "expected an RFC 3339 date-time with a time zone, like "
                f"2026-03-02T08:00:00.000+01:00, found {text!r}",
            )

    def pattern(self, value: Any, path: str, regex: re.Pattern[str], what: str) -> None:
        text = self.string(value, path)
        if not regex.match(text):
            self.fail(path, f"expected {what}, found {text!r}")

    def required(self, value: Mapping[str, Any], path: str, *names: str) -> None:
        for name in names:
            if name not in value:
                self.fail(child(path, name), "expected this member, found it missing")

    def names(self, value: Mapping[str, Any], path: str, allowed: frozenset[str]) -> None:
        """Member names: the standard ones or an extension named by a URI / CURIE."""
        for key in value:
            if key not in allowed and not is_uri(key):
                self.fail(
                    child(path, key),
                    f"expected a standard member ({', '.join(sorted(allowed))}) or an extension "
                    f"named by a URI or CURIE (prefix:name), found {key!r}",
                )

    def closed(self, value: Mapping[str, Any], path: str, allowed: frozenset[str]) -> None:
        for key in value:
            if key not in allowed:
                self.fail(
                    child(path, key),
                    f"expected only {', '.join(sorted(allowed))}, found the member {key!r}",
                )

    def context(self, value: Any, path: str) -> None:
        """A JSON-LD ``@context``: a URI, an object, or an array of them without repeats."""
        if isinstance(value, str):
            self.uri(value, path)
            return
        if isinstance(value, dict):
            return
        items = self.arr(value, path, unique=True)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                self.uri(item, child(path, index))

    # -- vocabularies and identifiers -----------------------------------------------------------

    def vocab(
        self, value: Any, path: str, vocab: Vocab, *, other_uri: Callable[[str], bool]
    ) -> None:
        """A bare CBV word, or a URI that is not a CBV URN / retired CBV namespace."""
        text = self.string(value, path)
        if text in words(vocab):
            return
        if not is_uri(text) or not other_uri(text):
            self.fail(
                path,
                f"expected a CBV 2.0 {vocab.value} (a bare word such as "
                f"{_example(vocab)!r}) or a URI, found {text!r}"
                + (
                    f" (write the bare word {text.rsplit(':', 1)[-1]!r})"
                    if text.startswith("urn:epcglobal:cbv:")
                    else ""
                ),
            )
        if self.strict:
            uri = expand(text, vocab)
            cbv_base = {Vocab.MEASUREMENT_TYPE: GS1_VOC, Vocab.SENSOR_ALERT_TYPE: GS1_VOC}.get(
                vocab, CBV
            )
            if (uri.startswith(MT) or uri.startswith(cbv_base)) and not is_known(text, vocab):
                known = "medtrace" if uri.startswith(MT) else "CBV 2.0"
                self.fail(path, f"expected a {known} {vocab.value} term, found {text!r}")

    def cbv(self, value: Any, path: str, vocab: Vocab) -> None:
        self.vocab(value, path, vocab, other_uri=_not_cbv_urn)

    def gs1_voc(self, value: Any, path: str, vocab: Vocab) -> None:
        self.vocab(value, path, vocab, other_uri=_not_gs1_voc)

    def epc(self, value: Any, path: str) -> None:
        text = self.uri(value, path)
        if self.strict and text.startswith("urn:epc:") and canonical(text) is None:
            self.fail(
                path,
                f"expected a well-formed EPC URN (GS1 Tag Data Standard), found {text!r}",
            )
        self.gs1_key(text, path)

    def gs1_key(self, text: str, path: str) -> None:
        """Strict: a Digital Link's GTIN, SSCC or GLN must carry the right check digit."""
        if self.strict:
            try:
                check_key_digits(text)
            except IdentifierError as exc:
                self.fail(path, str(exc))


def _example(vocab: Vocab) -> str:
    return {
        Vocab.BIZ_STEP: "shipping",
        Vocab.DISPOSITION: "in_transit",
        Vocab.BIZ_TRANSACTION_TYPE: "po",
        Vocab.SOURCE_DEST_TYPE: "owning_party",
        Vocab.ERROR_REASON: "incorrect_data",
        Vocab.MEASUREMENT_TYPE: "Temperature",
        Vocab.SENSOR_ALERT_TYPE: "ALARM_CONDITION",
        Vocab.COMPONENT: "x",
    }[vocab]


def _not_cbv_urn(uri: str) -> bool:
    return re.match(r"urn:epcglobal:cbv|https?://ns\.gs1\.org/cbv/", uri) is None


def _not_gs1_voc(uri: str) -> bool:
    return re.match(r"https?://(?:www\.)?gs1\.org/voc/", uri) is None


__all__ = ["Checker", "EpcisInvalid", "child", "describe"]
