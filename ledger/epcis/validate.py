"""Validation of EPCIS 2.0 JSON / JSON-LD documents, written for medtrace (no schema file).

``validate_document`` checks what the EPCIS 2.0 JSON Schema checks (structure, types, the
members each event type requires, CBV 2.0 vocabularies as bare words or URIs, RFC 3339
date-times, URI syntax, the ``anyOf`` rules such as "an ObjectEvent names EPCs, quantities or
sensor data") and raises ``EpcisInvalid`` naming the JSON path of the first problem, e.g.
``$.epcisBody.eventList[2].bizStep``. The tests hold it against GS1's schema on every
published example and on documents broken on purpose: both accept or both reject.

With ``strict=True`` (what capture uses) it checks a little more than the schema does, each
a rule the CBV states in words: an EPC URN must be well formed (``urn:epc:id:sgtin:…`` with the
digits the Tag Data Standard requires), a GS1 Web Vocabulary URI must name a CBV 2.0 term that
exists, an ``mt:`` term must be one medtrace publishes (docs/spec/vocabulary.md).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.epcis.normalise import canonical
from ledger.epcis.vocab import CBV, GS1_VOC, MT, Vocab, expand, is_known, words

DOCUMENT = "EPCISDocument"
QUERY_DOCUMENT = "EPCISQueryDocument"
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)


class EpcisInvalid(ValueError):
    """The first problem found: where (a JSON path) and what was expected."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# -- formats -------------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"\A(\d{4})-(0[1-9]|1[0-2])-(\d{2})[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z"
)
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_URI = re.compile(
    r"\A[A-Za-z][A-Za-z0-9+\-.]*:"
    r"(?://(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::\d*)?"
    rf"(?:/{_PCHAR}*)*"
    rf"|/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?\Z"
)
_OFFSET = re.compile(r"\A[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)\Z")
_VERSION = re.compile(r"\A\d+(?:\.\d+)*\Z")
_UOM = re.compile(r"\A[A-Z0-9]{2,3}\Z")
_HEX = re.compile(r"\A[A-Fa-f0-9]+\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENT = re.compile(r"\A[A-Za-z_@][A-Za-z0-9_@]*\Z")


def is_date_time(value: str) -> bool:
    """RFC 3339 ``date-time``, the JSON Schema format: offset required, a real calendar day."""
    match = _DATE_TIME.match(value)
    if match is None:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    return 1 <= day <= calendar.monthrange(year, month)[1]


def is_uri(value: str) -> bool:
    """An RFC 3986 URI (absolute: a scheme, then no spaces or other characters URIs forbid)."""
    return _URI.match(value) is not None


def child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{key!r}]"


# -- the checker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checker:
    strict: bool

    def fail(self, path: str, message: str) -> None:
        raise EpcisInvalid(path, message)

    def obj(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, found {_kind(value)}")
        return value  # type: ignore[no-any-return]

    def arr(self, value: Any, path: str, *, min_items: int = 0, unique: bool = False) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, found {_kind(value)}")
        assert isinstance(value, list)
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
            self.fail(path, f"expected a string, found {_kind(value)}")
        assert isinstance(value, str)
        return value

    def number(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(path, f"expected a number, found {_kind(value)}")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, found {_kind(value)}")

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

    # -- vocabularies -----------------------------------------------------------------------------

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

    # -- document structure -----------------------------------------------------------------------

    def context(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            self.uri(value, path)
            return
        if isinstance(value, dict):
            return
        items = self.arr(value, path, unique=True)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                self.uri(item, child(path, index))

    def unicode(self, value: Any, path: str) -> None:
        """Text that UTF-8 can carry: no lone UTF-16 surrogates (a signed payload is UTF-8)."""
        if isinstance(value, str):
            if _SURROGATE.search(value):
                self.fail(path, "expected Unicode text, found a lone UTF-16 surrogate")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.unicode(item, child(path, index))
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    self.fail(path, "expected Unicode member names, found a lone surrogate")
                self.unicode(item, child(path, key))

    def document(self, doc: Any, allowed: tuple[str, ...]) -> None:
        if self.strict:
            self.unicode(doc, "$")
        root = self.obj(doc, "$")
        self.required(root, "$", "type")
        kind = self.string(root["type"], "$.type")
        if kind not in allowed:
            self.fail("$.type", f"expected {' or '.join(allowed)}, found {kind!r}")
        if kind == DOCUMENT:
            self.required(
                root, "$", "@context", "type", "schemaVersion", "creationDate", "epcisBody"
            )
            self.names(root, "$", _DOCUMENT_MEMBERS)
        else:
            self.required(root, "$", "@context", "type", "epcisBody")
            self.names(root, "$", _QUERY_DOCUMENT_MEMBERS)
        for key, value in root.items():
            path = child("$", key)
            if key == "@context":
                self.context(value, path)
            elif key == "id":
                self.uri(value, path)
            elif key == "schemaVersion":
                self.pattern(value, path, _VERSION, "a version like 2.0")
            elif key == "creationDate":
                self.time(value, path)
            elif key in ("instanceIdentifier", "sender", "receiver") and kind == DOCUMENT:
                self.string(value, path)
            elif key == "epcisHeader" and kind == DOCUMENT:
                self.header(value, path)
            elif key == "epcisBody":
                self.body(value, path, kind)

    def header(self, value: Any, path: str) -> None:
        header = self.obj(value, path)
        self.names(header, path, frozenset({"epcisMasterData"}))
        if "epcisMasterData" in header:
            master = self.obj(header["epcisMasterData"], child(path, "epcisMasterData"))
            if "vocabularyList" in master:
                self.vocabulary_list(
                    master["vocabularyList"],
                    child(child(path, "epcisMasterData"), "vocabularyList"),
                )

    def vocabulary_list(self, value: Any, path: str) -> None:
        for index, item in enumerate(self.arr(value, path)):
            p = child(path, index)
            vocabulary = self.obj(item, p)
            self.required(vocabulary, p, "type")
            self.uri(vocabulary["type"], child(p, "type"))
            if "vocabularyElementList" in vocabulary:
                elements = child(p, "vocabularyElementList")
                for i, element in enumerate(
                    self.arr(vocabulary["vocabularyElementList"], elements)
                ):
                    ep = child(elements, i)
                    el = self.obj(element, ep)
                    self.required(el, ep, "id")
                    self.uri(el["id"], child(ep, "id"))
                    if "attributes" in el:
                        attrs = child(ep, "attributes")
                        for j, attr in enumerate(self.arr(el["attributes"], attrs)):
                            ap = child(attrs, j)
                            a = self.obj(attr, ap)
                            self.required(a, ap, "id")
                            self.uri(a["id"], child(ap, "id"))
                            if "attribute" in a and (
                                isinstance(a["attribute"], bool | list) or a["attribute"] is None
                            ):
                                self.fail(
                                    child(ap, "attribute"),
                                    f"expected a number, string or object, found {_kind(a['attribute'])}",
                                )
                    if "children" in el:
                        kids = child(ep, "children")
                        for j, kid in enumerate(self.arr(el["children"], kids)):
                            self.uri(kid, child(kids, j))

    def body(self, value: Any, path: str, kind: str) -> None:
        body = self.obj(value, path)
        if kind == DOCUMENT:
            self.required(body, path, "eventList")
            self.event_list(body["eventList"], child(path, "eventList"))
            return
        self.required(body, path, "queryResults")
        self.names(body, path, frozenset({"queryResults"}))
        rp = child(path, "queryResults")
        results = self.obj(body["queryResults"], rp)
        self.required(results, rp, "queryName", "resultsBody")
        self.names(results, rp, frozenset({"queryName", "subscriptionID", "resultsBody"}))
        self.string(results["queryName"], child(rp, "queryName"))
        if "subscriptionID" in results:
            self.string(results["subscriptionID"], child(rp, "subscriptionID"))
        bp = child(rp, "resultsBody")
        results_body = self.obj(results["resultsBody"], bp)
        self.required(results_body, bp, "eventList")
        self.names(results_body, bp, frozenset({"eventList", "vocabularyList"}))
        self.event_list(results_body["eventList"], child(bp, "eventList"))
        if "vocabularyList" in results_body:
            self.vocabulary_list(results_body["vocabularyList"], child(bp, "vocabularyList"))

    def event_list(self, value: Any, path: str) -> None:
        for index, event in enumerate(self.arr(value, path)):
            self.event(event, child(path, index))

    # -- events -----------------------------------------------------------------------------------

    def event(self, value: Any, path: str) -> None:
        event = self.obj(value, path)
        self.required(event, path, "type")
        kind = self.string(event["type"], child(path, "type"))
        spec = _EVENTS.get(kind)
        if spec is None:
            self.uri(kind, child(path, "type"))
        self.common(event, path)
        if spec is None:
            return
        self.required(event, path, *spec.required)
        self.names(event, path, _COMMON | spec.members)
        for key, item in event.items():
            if key in spec.members:
                self.member(key, item, child(path, key), kind)
        spec.rule(self, event, path)

    def common(self, event: Mapping[str, Any], path: str) -> None:
        self.required(event, path, "eventTime", "eventTimeZoneOffset")
        for key in ("@context", "eventTime", "recordTime", "eventTimeZoneOffset", "eventID"):
            if key not in event:
                continue
            p = child(path, key)
            if key == "@context":
                self.context(event[key], p)
            elif key == "eventTimeZoneOffset":
                self.pattern(
                    event[key], p, _OFFSET, "a time zone offset from -13:59 to +14:00 like +01:00"
                )
            elif key == "eventID":
                self.uri(event[key], p)
            else:
                self.time(event[key], p)
        if "certificationInfo" in event:
            p = child(path, "certificationInfo")
            value = event["certificationInfo"]
            if isinstance(value, list):
                for index, item in enumerate(value):
                    self.uri(item, child(p, index))
            else:
                self.uri(value, p)
        if "errorDeclaration" in event:
            self.error_declaration(event["errorDeclaration"], child(path, "errorDeclaration"))

    def error_declaration(self, value: Any, path: str) -> None:
        declaration = self.obj(value, path)
        self.required(declaration, path, "declarationTime")
        self.names(
            declaration, path, frozenset({"declarationTime", "reason", "correctiveEventIDs"})
        )
        self.time(declaration["declarationTime"], child(path, "declarationTime"))
        if "reason" in declaration:
            self.vocab(
                declaration["reason"],
                child(path, "reason"),
                Vocab.ERROR_REASON,
                other_uri=_not_cbv_urn,
            )
        if "correctiveEventIDs" in declaration:
            p = child(path, "correctiveEventIDs")
            for index, item in enumerate(self.arr(declaration["correctiveEventIDs"], p)):
                self.uri(item, child(p, index))

    def member(self, key: str, value: Any, path: str, kind: str) -> None:
        if key in ("epcList", "inputEPCList", "outputEPCList"):
            unique = kind != "TransactionEvent"
            for index, item in enumerate(self.arr(value, path, unique=unique)):
                self.epc(item, child(path, index))
        elif key == "childEPCs":
            for index, item in enumerate(self.arr(value, path)):
                self.epc(item, child(path, index))
        elif key in (
            "quantityList",
            "childQuantityList",
            "inputQuantityList",
            "outputQuantityList",
        ):
            for index, item in enumerate(self.arr(value, path)):
                self.quantity(item, child(path, index))
        elif key == "action":
            text = self.string(value, path)
            if text not in ("OBSERVE", "ADD", "DELETE"):
                self.fail(path, f"expected OBSERVE, ADD or DELETE, found {text!r}")
        elif key == "bizStep":
            self.cbv(value, path, Vocab.BIZ_STEP)
        elif key == "disposition":
            self.cbv(value, path, Vocab.DISPOSITION)
        elif key == "persistentDisposition":
            self.persistent_disposition(value, path)
        elif key in ("readPoint", "bizLocation"):
            location = self.obj(value, path)
            self.required(location, path, "id")
            self.uri(location["id"], child(path, "id"))
        elif key in ("parentID", "transformationID"):
            self.epc(value, path)
        elif key == "bizTransactionList":
            minimum = 1 if kind == "TransactionEvent" else 0
            for index, item in enumerate(self.arr(value, path, min_items=minimum)):
                self.typed(item, child(path, index), "bizTransaction", Vocab.BIZ_TRANSACTION_TYPE)
        elif key in ("sourceList", "destinationList"):
            name = key.removesuffix("List")
            for index, item in enumerate(self.arr(value, path)):
                self.typed(item, child(path, index), name, Vocab.SOURCE_DEST_TYPE)
        elif key == "sensorElementList":
            for index, item in enumerate(self.arr(value, path)):
                self.sensor_element(item, child(path, index))
        elif key == "ilmd":
            ilmd = self.obj(value, path)
            self.names(ilmd, path, frozenset())

    def quantity(self, value: Any, path: str) -> None:
        element = self.obj(value, path)
        self.required(element, path, "epcClass")
        self.closed(element, path, frozenset({"epcClass", "quantity", "uom"}))
        self.epc(element["epcClass"], child(path, "epcClass"))
        if "quantity" in element:
            self.number(element["quantity"], child(path, "quantity"))
        if "uom" in element:
            self.pattern(element["uom"], child(path, "uom"), _UOM, "a UN/CEFACT unit code like KGM")

    def persistent_disposition(self, value: Any, path: str) -> None:
        pd = self.obj(value, path)
        self.closed(pd, path, frozenset({"set", "unset"}))
        if "set" not in pd and "unset" not in pd:
            self.fail(child(path, "set"), "expected set or unset, found neither")
        for key in ("set", "unset"):
            if key in pd:
                p = child(path, key)
                for index, item in enumerate(self.arr(pd[key], p, min_items=1, unique=True)):
                    self.cbv(item, child(p, index), Vocab.DISPOSITION)

    def typed(self, value: Any, path: str, name: str, vocab: Vocab) -> None:
        item = self.obj(value, path)
        if name == "bizTransaction":
            self.required(item, path, name)
        else:
            self.required(item, path, "type", name)
        self.closed(item, path, frozenset({"type", name}))
        if "type" in item:
            self.cbv(item["type"], child(path, "type"), vocab)
        self.uri(item[name], child(path, name))

    def sensor_element(self, value: Any, path: str) -> None:
        element = self.obj(value, path)
        self.required(element, path, "sensorReport")
        self.names(element, path, frozenset({"sensorMetadata", "sensorReport"}))
        if "sensorMetadata" in element:
            mp = child(path, "sensorMetadata")
            metadata = self.obj(element["sensorMetadata"], mp)
            self.names(metadata, mp, _METADATA)
            for key, item in metadata.items():
                if key in ("time", "startTime", "endTime"):
                    self.time(item, child(mp, key))
                elif key in _METADATA:
                    self.uri(item, child(mp, key))
        rp = child(path, "sensorReport")
        for index, item in enumerate(self.arr(element["sensorReport"], rp, min_items=1)):
            self.sensor_report(item, child(rp, index))

    def sensor_report(self, value: Any, path: str) -> None:
        report = self.obj(value, path)
        self.required(report, path, "type")
        self.names(report, path, _REPORT)
        for key, item in report.items():
            p = child(path, key)
            if key == "type":
                self.gs1_voc(item, p, Vocab.MEASUREMENT_TYPE)
            elif key == "exception":
                self.gs1_voc(item, p, Vocab.SENSOR_ALERT_TYPE)
            elif key == "component":
                self.cbv(item, p, Vocab.COMPONENT)
            elif key == "time":
                self.time(item, p)
            elif key in _REPORT_NUMBERS:
                self.number(item, p)
            elif key in ("stringValue", "uom"):
                self.string(item, p)
            elif key == "booleanValue":
                self.boolean(item, p)
            elif key == "hexBinaryValue":
                self.pattern(item, p, _HEX, "hexadecimal digits")
            elif key in _REPORT:
                self.uri(item, p)


def _kind(value: Any) -> str:
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


def _split(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DOCUMENT_MEMBERS = frozenset(
    {
        "@context",
        "id",
        "type",
        "schemaVersion",
        "creationDate",
        "instanceIdentifier",
        "sender",
        "receiver",
        "epcisHeader",
        "epcisBody",
    }
)
_QUERY_DOCUMENT_MEMBERS = frozenset(
    {"@context", "id", "type", "schemaVersion", "creationDate", "epcisBody"}
)
_COMMON = frozenset(
    {
        "@context",
        "type",
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "errorDeclaration",
    }
)
_METADATA = _split(
    "time deviceID deviceMetadata rawData startTime endTime dataProcessingMethod bizRules"
)
_REPORT_NUMBERS = _split("value minValue maxValue meanValue sDev percRank percValue")
_REPORT = _split("""type exception deviceID deviceMetadata rawData dataProcessingMethod bizRules time
    microorganism chemicalSubstance coordinateReferenceSystem value component stringValue
    booleanValue hexBinaryValue uriValue minValue maxValue meanValue sDev percRank percValue
    uom""")


def _nonempty(event: Mapping[str, Any], key: str) -> bool:
    value = event.get(key)
    return isinstance(value, list) and len(value) > 0


def _object_rule(c: _Checker, event: Mapping[str, Any], path: str) -> None:
    has_sensors = _nonempty(event, "sensorElementList") and "readPoint" in event
    if "epcList" not in event and not _nonempty(event, "quantityList") and not has_sensors:
        c.fail(
            child(path, "epcList"),
            "expected epcList, a non-empty quantityList, or sensorElementList with a readPoint",
        )
    if "ilmd" in event and event.get("action") != "ADD":
        c.fail(child(path, "ilmd"), "expected ilmd only on an ObjectEvent with action ADD")


def _children_rule(c: _Checker, event: Mapping[str, Any], path: str) -> None:
    if (
        not _nonempty(event, "childEPCs")
        and not _nonempty(event, "childQuantityList")
        and event.get("action") != "DELETE"
    ):
        c.fail(
            child(path, "childEPCs"),
            "expected non-empty childEPCs or childQuantityList (unless action is DELETE)",
        )


def _transaction_rule(c: _Checker, event: Mapping[str, Any], path: str) -> None:
    if (
        "epcList" not in event
        and not _nonempty(event, "quantityList")
        and event.get("action") != "DELETE"
    ):
        c.fail(
            child(path, "epcList"),
            "expected epcList or a non-empty quantityList (unless action is DELETE)",
        )


def _transformation_rule(c: _Checker, event: Mapping[str, Any], path: str) -> None:
    inputs = _nonempty(event, "inputEPCList") or _nonempty(event, "inputQuantityList")
    outputs = _nonempty(event, "outputEPCList") or _nonempty(event, "outputQuantityList")
    if inputs and outputs:
        return
    if (inputs or outputs) and "transformationID" in event:
        return
    c.fail(
        child(path, "inputEPCList"),
        "expected inputs and outputs, or a transformationID with inputs or outputs",
    )


@dataclass(frozen=True)
class _EventSpec:
    required: tuple[str, ...]
    members: frozenset[str]
    rule: Callable[[_Checker, Mapping[str, Any], str], None]


_WHY_WHERE = {
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
}
_EVENTS: dict[str, _EventSpec] = {
    "ObjectEvent": _EventSpec(
        ("type", "action"),
        frozenset(_WHY_WHERE | {"epcList", "quantityList", "persistentDisposition", "ilmd"}),
        _object_rule,
    ),
    "AggregationEvent": _EventSpec(
        ("type", "action"),
        frozenset(_WHY_WHERE | {"parentID", "childEPCs", "childQuantityList"}),
        _children_rule,
    ),
    "AssociationEvent": _EventSpec(
        ("type", "action", "parentID"),
        frozenset(_WHY_WHERE | {"parentID", "childEPCs", "childQuantityList"}),
        _children_rule,
    ),
    "TransactionEvent": _EventSpec(
        ("type", "bizTransactionList", "action"),
        frozenset(_WHY_WHERE | {"parentID", "epcList", "quantityList"}),
        _transaction_rule,
    ),
    "TransformationEvent": _EventSpec(
        ("type",),
        frozenset(
            (_WHY_WHERE - {"action"})
            | {
                "inputEPCList",
                "inputQuantityList",
                "outputEPCList",
                "outputQuantityList",
                "transformationID",
                "persistentDisposition",
                "ilmd",
            }
        ),
        _transformation_rule,
    ),
}


def validate_document(
    document: Any, *, allowed: tuple[str, ...] = (DOCUMENT, QUERY_DOCUMENT), strict: bool = True
) -> None:
    """Raise ``EpcisInvalid`` for the first problem of an EPCIS 2.0 JSON document."""
    _Checker(strict).document(document, allowed)


def validate_event(event: Any, *, strict: bool = True, path: str = "$") -> None:
    """Raise ``EpcisInvalid`` for the first problem of one event."""
    _Checker(strict).event(event, path)


__all__ = [
    "DOCUMENT",
    "EVENT_TYPES",
    "QUERY_DOCUMENT",
    "EpcisInvalid",
    "is_date_time",
    "is_uri",
    "validate_document",
    "validate_event",
]
