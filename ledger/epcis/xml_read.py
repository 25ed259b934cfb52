"""An EPCIS 2.0 XML document (GS1's XML binding) as the JSON-LD document the capture path takes.

``read_xml(data)`` parses bytes handed in (no file, no network) and returns the EPCISDocument or
EPCISQueryDocument in EPCIS 2.0 JSON-LD, the way GS1's JSON binding writes it: standard fields
under their JSON names, lists as arrays (``epcList``, ``bizTransactionList`` of ``{type,
bizTransaction}`` …), CBV values given as EPCIS 1.x URNs or Web Vocabulary URIs as bare words
(``urn:epcglobal:cbv:bizstep:shipping`` -> ``shipping``), quantities and sensor values as
numbers with their exact digits (``Decimal``), and every element of another namespace (user
extensions, ILMD) as ``prefix:localName`` with the prefix defined in the document's
``@context`` (``urn:epcglobal:cbv:mda`` is the standard ``cbvmda``). EPCIS 1.x ``extension``
wrappers are unwrapped. The header (SBDH, master data) is not carried over: only the events are
captured.

Untrusted XML is parsed safely (``ledger.epcis.xml_safe``): entities are never expanded, nothing is fetched, a document type
declaration that declares anything (entities, elements) or names an external DTD is refused, and
so is a tree deeper than ``MAX_DEPTH``. Bytes beyond the caller's limit are refused before
parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ledger.epcis.vocab import EPCIS_CONTEXT, MT, STANDARD_PREFIXES, Vocab, compact, expand
from ledger.epcis.xml_safe import MAX_DEPTH, XmlRefused, parse

EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
QUERY_NS = "urn:epcglobal:epcis-query:xsd:2"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
#: XML namespaces that are a standard JSON-LD prefix of EPCIS 2.0 (no inline definition needed).
KNOWN_NAMESPACES = {
    **{namespace: prefix for prefix, namespace in STANDARD_PREFIXES.items()},
    "urn:epcglobal:cbv:mda": "cbvmda",
    MT: "mt",
}
EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransactionEvent",
        "TransformationEvent",
        "AssociationEvent",
        "QuantityEvent",
    }
)
_TEXT = frozenset(
    [
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "parentID",
        "action",
        "transformationID",
    ]
)
_VOCAB = {"bizStep": Vocab.BIZ_STEP, "disposition": Vocab.DISPOSITION}
#: The binding's tables of list, pair and sensor fields, read here and written by
#: ``ledger.epcis.xml_write``.
EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
QUANTITY_LISTS = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
PAIRS = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}
PAIR_VOCAB = {
    "bizTransactionList": Vocab.BIZ_TRANSACTION_TYPE,
    "sourceList": Vocab.SOURCE_DEST_TYPE,
    "destinationList": Vocab.SOURCE_DEST_TYPE,
}
_SENSOR_NUMBERS = frozenset(
    ["value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"]
)
SENSOR_VOCAB = {
    "type": Vocab.MEASUREMENT_TYPE,
    "exception": Vocab.SENSOR_ALERT_TYPE,
    "component": Vocab.COMPONENT,
}
_INTEGER = re.compile(r"\A[+-]?[0-9]+\Z")
_DECIMAL = re.compile(r"\A[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


# -- names -------------------------------------------------------------------------------------


class _Names:
    """Namespace -> JSON-LD prefix, as the document's XML prefixes suggest."""

    def __init__(self) -> None:
        self.by_namespace: dict[str, str] = {}

    def prefix(self, namespace: str, wanted: str | None) -> str:
        if namespace in KNOWN_NAMESPACES:
            return KNOWN_NAMESPACES[namespace]
        if namespace in self.by_namespace:
            return self.by_namespace[namespace]
        taken = set(self.by_namespace.values()) | set(STANDARD_PREFIXES) | {"mt"}
        prefix = wanted if wanted and wanted not in taken else None
        number = 1
        while prefix is None or prefix in taken:
            prefix, number = f"ns{number}", number + 1
        self.by_namespace[namespace] = prefix
        return prefix

    def key(self, element: etree._Element) -> str:
        qname = etree.QName(element)
        if not qname.namespace:
            return qname.localname
        return f"{self.prefix(qname.namespace, element.prefix)}:{qname.localname}"

    def attribute(self, name: str, element: etree._Element) -> str:
        qname = etree.QName(name)
        if not qname.namespace:
            return qname.localname
        wanted = next((p for p, n in element.nsmap.items() if n == qname.namespace), None)
        return f"{self.prefix(qname.namespace, wanted)}:{qname.localname}"

    def context(self) -> list[Any]:
        inline = {p: ns for ns, p in self.by_namespace.items()}
        return [EPCIS_CONTEXT, inline] if inline else [EPCIS_CONTEXT]


# -- values ------------------------------------------------------------------------------------


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _local(element: etree._Element) -> str | None:
    """The local name of an element of no namespace (a standard EPCIS field), else None."""
    if not isinstance(element.tag, str):
        return None
    qname = etree.QName(element)
    return None if qname.namespace else qname.localname


def number(text: str) -> int | Decimal | str:
    """An XML number as a JSON number with the same digits; anything else stays text (the
    validator then names it)."""
    text = text.strip()
    if _INTEGER.match(text):
        return int(text)
    if _DECIMAL.match(text):
        try:
            value = Decimal(text)
        except InvalidOperation:
            return text
        if value.is_finite():
            return value
    return text


def _vocab(text: str, vocab: Vocab) -> str:
    return compact(expand(text, vocab), vocab)


def _generic(element: etree._Element, names: _Names) -> Any:
    """A user extension element: text, or an object of its children (a repeated child name
    becomes a list); attributes other than ``xsi:`` ones become members too."""
    children = [c for c in element if isinstance(c.tag, str)]
    attributes = {
        names.attribute(str(k), element): str(v)
        for k, v in element.attrib.items()
        if etree.QName(str(k)).namespace != XSI_NS
    }
    if not children and not attributes:
        return _text(element)
    value: dict[str, Any] = dict(attributes)
    counts: dict[str, int] = {}
    for child in children:
        key = names.key(child)
        counts[key] = counts.get(key, 0) + 1
    for child in children:
        key = names.key(child)
        item = _generic(child, names)
        if counts[key] > 1:
            value.setdefault(key, []).append(item)
        else:
            value[key] = item
    return value


def _members(children: Iterable[etree._Element], names: _Names, target: dict[str, Any]) -> None:
    """Extension elements (any namespace) as members, unwrapping EPCIS 1.x ``extension``."""
    counts: dict[str, int] = {}
    items: list[tuple[str, Any]] = []
    for child in children:
        if not isinstance(child.tag, str):
            continue
        if _local(child) in ("extension", "baseExtension"):
            nested: dict[str, Any] = {}
            _members(child, names, nested)
            items.extend(nested.items())
            continue
        items.append((names.key(child), _generic(child, names)))
    for key, _ in items:
        counts[key] = counts.get(key, 0) + 1
    for key, value in items:
        if counts[key] > 1:
            target.setdefault(key, []).append(value)
        else:
            target[key] = value


def _quantity(element: etree._Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest: list[etree._Element] = []
    for child in element:
        name = _local(child)
        if name in {"epcClass", "uom"}:
            out[name] = _text(child)
        elif name == "quantity":
            if str(child.get(f"{{{XSI_NS}}}nil", "")).strip() not in ("true", "1"):
                out[name] = number(_text(child))
        else:
            rest.append(child)
    _members(rest, names, out)
    return out


def _sensor_attributes(element: etree._Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw, value in element.attrib.items():
        name = str(raw)
        text = str(value).strip()
        if etree.QName(name).namespace == XSI_NS:
            continue
        if etree.QName(name).namespace:
            out[names.attribute(name, element)] = text
        elif name in _SENSOR_NUMBERS:
            out[name] = number(text)
        elif name == "booleanValue":
            out[name] = {"true": True, "1": True, "false": False, "0": False}.get(text, text)
        elif name in SENSOR_VOCAB:
            out[name] = _vocab(text, SENSOR_VOCAB[name])
        else:
            out[name] = text
    return out


def _sensor_element(element: etree._Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reports: list[dict[str, Any]] = []
    rest: list[etree._Element] = []
    for child in element:
        name = _local(child)
        if name == "sensorMetadata":
            out["sensorMetadata"] = _sensor_attributes(child, names)
        elif name == "sensorReport":
            reports.append(_sensor_attributes(child, names))
        else:
            rest.append(child)
    if reports:
        out["sensorReport"] = reports
    _members(rest, names, out)
    return out


def _error_declaration(element: etree._Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest: list[etree._Element] = []
    for child in element:
        name = _local(child)
        if name == "declarationTime":
            out[name] = _text(child)
        elif name == "reason":
            out[name] = _vocab(_text(child), Vocab.ERROR_REASON)
        elif name == "correctiveEventIDs":
            out[name] = [_text(c) for c in child if _local(c) == "correctiveEventID"]
        else:
            rest.append(child)
    _members(rest, names, out)
    return out


def _with_id(element: etree._Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest: list[etree._Element] = []
    for child in element:
        if _local(child) == "id":
            out["id"] = _text(child)
        else:
            rest.append(child)
    _members(rest, names, out)
    return out


def _field(name: str, child: etree._Element, names: _Names) -> Any:
    """The JSON value of one standard field of an event."""
    if name in _TEXT:
        return _text(child)
    if name in _VOCAB:
        return _vocab(_text(child), _VOCAB[name])
    if name in EPC_LISTS:
        return [_text(c) for c in child if _local(c) == "epc"]
    if name in QUANTITY_LISTS:
        return [_quantity(c, names) for c in child if _local(c) == "quantityElement"]
    if name in PAIRS:
        pairs = []
        for item in child:
            if _local(item) != PAIRS[name]:
                continue
            pair: dict[str, Any] = {}
            if item.get("type") is not None:
                pair["type"] = _vocab(str(item.get("type")).strip(), PAIR_VOCAB[name])
            pair[PAIRS[name]] = _text(item)
            pairs.append(pair)
        return pairs
    if name == "persistentDisposition":
        found: dict[str, list[str]] = {}
        for item in child:
            key = _local(item)
            if key in ("set", "unset"):
                found.setdefault(key, []).append(_vocab(_text(item), Vocab.DISPOSITION))
        return {k: found[k] for k in ("set", "unset") if k in found}
    if name in ("readPoint", "bizLocation"):
        return _with_id(child, names)
    if name == "errorDeclaration":
        return _error_declaration(child, names)
    if name == "sensorElementList":
        return [_sensor_element(c, names) for c in child if _local(c) == "sensorElement"]
    if name == "ilmd":
        ilmd: dict[str, Any] = {}
        _members(child, names, ilmd)
        return ilmd
    return _generic(child, names)


def _event(element: etree._Element, names: _Names) -> dict[str, Any]:
    event: dict[str, Any] = {"type": etree.QName(element).localname}
    rest: list[etree._Element] = []
    for child in _unwrapped(element):
        name = _local(child)
        if name is None or name in ("type", "@context"):
            rest.append(child)
            continue
        event[name] = _field(name, child, names)
    _members(rest, names, event)
    return event


def _unwrapped(element: etree._Element) -> list[etree._Element]:
    """Children, with the standard fields EPCIS 1.x nested in ``extension`` brought up."""
    out: list[etree._Element] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if _local(child) in ("extension", "baseExtension"):
            out.extend(_unwrapped(child))
        else:
            out.append(child)
    return out


def _events(event_list: etree._Element | None, names: _Names) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if event_list is None:
        return events
    for child in event_list:
        name = _local(child)
        if name == "extension":
            events.extend(_events(child, names))
        elif name is not None or (
            isinstance(child.tag, str) and etree.QName(child).localname in EVENT_TYPES
        ):
            events.append(_event(child, names))
    return events


def _find(parent: etree._Element | None, name: str) -> etree._Element | None:
    if parent is None:
        return None
    return next(
        (c for c in parent if isinstance(c.tag, str) and etree.QName(c).localname == name), None
    )


def read_xml(data: bytes, max_bytes: int) -> dict[str, Any]:
    """The JSON-LD EPCIS (query) document an XML EPCIS document stands for."""
    root = parse(data, max_bytes)
    qname = etree.QName(root)
    names = _Names()
    document: dict[str, Any] = {"@context": []}
    body = _find(root, "EPCISBody")
    if (qname.namespace, qname.localname) == (EPCIS_NS, "EPCISDocument"):
        document["type"] = "EPCISDocument"
    elif (qname.namespace, qname.localname) == (QUERY_NS, "EPCISQueryDocument"):
        document["type"] = "EPCISQueryDocument"
    else:
        raise XmlRefused(
            f"expected an EPCISDocument ({{{EPCIS_NS}}}) or EPCISQueryDocument ({{{QUERY_NS}}}), "
            f"found <{qname.localname}> of namespace {qname.namespace or 'none'!r}"
        )
    for attribute in ("schemaVersion", "creationDate"):
        if root.get(attribute) is not None:
            document[attribute] = str(root.get(attribute)).strip()
    if document["type"] == "EPCISDocument":
        events = _events(_find(body, "EventList"), names)
        document["epcisBody"] = {"eventList": events}
    else:
        results = _find(body, "QueryResults")
        out: dict[str, Any] = {}
        for name in ("queryName", "subscriptionID"):
            found = _find(results, name)
            if found is not None:
                out[name] = _text(found)
        event_list = _find(_find(results, "resultsBody"), "EventList")
        out["resultsBody"] = {"eventList": _events(event_list, names)}
        document["epcisBody"] = {"queryResults": out}
    document["@context"] = names.context()
    return document


__all__ = ["EPCIS_NS", "MAX_DEPTH", "QUERY_NS", "XmlRefused", "number", "parse", "read_xml"]
