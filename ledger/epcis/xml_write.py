"""An EPCIS 2.0 JSON-LD (query) document written in GS1's XML binding.

``write_xml(document)`` is the inverse of ``ledger.epcis.xml_read.read_xml``: standard fields in
the order GS1's XSD (EPCglobal-epcis-2_0.xsd) requires, CBV values as the EPCIS URNs the XML
binding uses (``shipping`` -> ``urn:epcglobal:cbv:bizstep:shipping``; a medtrace term as its
URI, ``urn:medtrace:voc:…``), numbers with their exact digits, sensor metadata and reports as
attributes, and every ``prefix:name`` member as an element of the namespace the document's (or
the event's own) ``@context`` gives the prefix. A member whose name no prefix resolves is left
out (XML has no element for it). Reading the output back gives events with the same CBV 2.0
event hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lxml import etree

from ledger.epcis.context import context_prefixes
from ledger.epcis.hash import events_of
from ledger.epcis.vocab import STANDARD_PREFIXES, VOCABULARIES, Vocab, compact, expand, words
from ledger.epcis.xml_read import (
    EPC_LISTS,
    EPCIS_NS,
    PAIR_VOCAB,
    PAIRS,
    QUANTITY_LISTS,
    QUERY_NS,
    SENSOR_VOCAB,
)

_BASE = "eventTime recordTime eventTimeZoneOffset eventID errorDeclaration certificationInfo"
#: The standard fields of each event type, in the XSD's order.
ORDER: dict[str, list[str]] = {
    "ObjectEvent": f"""{_BASE} epcList action bizStep disposition readPoint bizLocation
        bizTransactionList quantityList sourceList destinationList sensorElementList
        persistentDisposition ilmd""".split(),
    "AggregationEvent": f"""{_BASE} parentID childEPCs action bizStep disposition readPoint
        bizLocation bizTransactionList childQuantityList sourceList destinationList
        sensorElementList persistentDisposition""".split(),
    "TransactionEvent": f"""{_BASE} bizTransactionList parentID epcList action bizStep
        disposition readPoint bizLocation quantityList sourceList destinationList
        sensorElementList persistentDisposition""".split(),
    "TransformationEvent": f"""{_BASE} inputEPCList inputQuantityList outputEPCList
        outputQuantityList transformationID bizStep disposition readPoint bizLocation
        bizTransactionList sourceList destinationList sensorElementList persistentDisposition
        ilmd""".split(),
    "AssociationEvent": f"""{_BASE} parentID childEPCs childQuantityList action bizStep
        disposition readPoint bizLocation bizTransactionList sourceList destinationList
        sensorElementList persistentDisposition""".split(),
}
#: JSON-LD IRIs whose XML binding writes another namespace: CBV master data attributes are
#: ``urn:epcglobal:cbv:mda`` in XML (``<cbvmda:lotNumber>``), read back as the same prefix.
XML_NAMESPACES = {"urn:epcglobal:cbv:mda:": "urn:epcglobal:cbv:mda"}


def text(value: Any) -> str:
    """A JSON scalar as XML text: numbers with their digits, no exponent; booleans as words."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def vocab_urn(value: Any, vocab: Vocab, prefixes: Mapping[str, str] | None = None) -> str:
    """A CBV value as the XML binding writes it: the EPCIS URN of a standard term, else a URI
    (a CURIE of one of ``prefixes`` expanded, as JSON-LD reads it)."""
    uri = expand(str(value), vocab)
    prefix, sep, local = uri.partition(":")
    if sep and prefixes and prefix in prefixes:
        uri = prefixes[prefix] + local
    word = compact(uri, vocab)
    urn = VOCABULARIES[vocab][2]
    if word in words(vocab):
        if urn is not None:
            return urn + word
        return uri
    return uri


class _Writer:
    def __init__(self, prefixes: Mapping[str, str]) -> None:
        self.prefixes = dict(prefixes)

    def within(self, event: Mapping[str, Any]) -> _Writer:
        own = context_prefixes(event.get("@context"))
        if not own:
            return self
        merged: dict[str, str | None] = {**self.prefixes, **own}
        return _Writer({k: v for k, v in merged.items() if v is not None})

    def qname(self, key: str) -> etree.QName | None:
        """The element name of a member: ``prefix:local`` in the prefix's namespace, a bare
        name in no namespace; None when the name cannot be an XML name."""
        prefix, sep, local = key.partition(":")
        try:
            if not sep:
                return etree.QName(key)
            namespace = self.prefixes.get(prefix, prefix + ":")
            return etree.QName(XML_NAMESPACES.get(namespace, namespace), local)
        except ValueError:
            return None

    def generic(self, parent: etree._Element, key: str, value: Any) -> None:
        """A user extension member as elements (a list as repeated elements)."""
        name = self.qname(key)
        if name is None:
            return
        for item in value if isinstance(value, list) else [value]:
            element = etree.SubElement(parent, name)
            if isinstance(item, Mapping):
                for child_key, child in item.items():
                    if not str(child_key).startswith("@"):
                        self.generic(element, str(child_key), child)
            elif isinstance(item, list):
                for child in item:
                    self.generic(element, key, child)
            else:
                element.text = text(item)

    def extensions(
        self, parent: etree._Element, members: Mapping[str, Any], standard: set[str]
    ) -> None:
        for key, value in members.items():
            if key not in standard and ":" in key:
                self.generic(parent, key, value)

    def attributes(self, element: etree._Element, members: Mapping[str, Any]) -> None:
        for key, value in members.items():
            if isinstance(value, Mapping | list):
                continue
            if ":" in key:
                name = self.qname(key)
                if name is not None:
                    element.set(name, text(value))
            elif key in SENSOR_VOCAB:
                element.set(key, vocab_urn(value, SENSOR_VOCAB[key], self.prefixes))
            else:
                element.set(key, text(value))

    def field(self, event_element: etree._Element, name: str, value: Any) -> None:
        sub = etree.SubElement(event_element, name)
        if name in ("bizStep", "disposition"):
            sub.text = vocab_urn(value, Vocab(name), self.prefixes)
        elif name in EPC_LISTS:
            for epc in value:
                etree.SubElement(sub, "epc").text = text(epc)
        elif name in QUANTITY_LISTS:
            for item in value:
                element = etree.SubElement(sub, "quantityElement")
                for part in ("epcClass", "quantity", "uom"):
                    if part in item:
                        etree.SubElement(element, part).text = text(item[part])
                self.extensions(element, item, {"epcClass", "quantity", "uom"})
        elif name in PAIRS:
            for item in value:
                element = etree.SubElement(sub, PAIRS[name])
                if "type" in item:
                    element.set("type", vocab_urn(item["type"], PAIR_VOCAB[name], self.prefixes))
                element.text = text(item.get(PAIRS[name]))
        elif name == "persistentDisposition":
            for part in ("unset", "set"):
                for item in value.get(part, []):
                    etree.SubElement(sub, part).text = vocab_urn(
                        item, Vocab.DISPOSITION, self.prefixes
                    )
        elif name in ("readPoint", "bizLocation"):
            etree.SubElement(sub, "id").text = text(value.get("id"))
            self.extensions(sub, value, {"id"})
        elif name == "errorDeclaration":
            self.error_declaration(sub, value)
        elif name == "sensorElementList":
            for item in value:
                self.sensor_element(etree.SubElement(sub, "sensorElement"), item)
        elif name == "ilmd":
            self.extensions(sub, value, set())
        else:
            sub.text = text(value)

    def error_declaration(self, element: etree._Element, value: Mapping[str, Any]) -> None:
        if "declarationTime" in value:
            etree.SubElement(element, "declarationTime").text = text(value["declarationTime"])
        if "reason" in value:
            etree.SubElement(element, "reason").text = vocab_urn(
                value["reason"], Vocab.ERROR_REASON
            )
        if "correctiveEventIDs" in value:
            ids = etree.SubElement(element, "correctiveEventIDs")
            for item in value["correctiveEventIDs"]:
                etree.SubElement(ids, "correctiveEventID").text = text(item)
        self.extensions(element, value, {"declarationTime", "reason", "correctiveEventIDs"})

    def sensor_element(self, element: etree._Element, value: Mapping[str, Any]) -> None:
        if isinstance(value.get("sensorMetadata"), Mapping):
            self.attributes(etree.SubElement(element, "sensorMetadata"), value["sensorMetadata"])
        for report in value.get("sensorReport", []):
            self.attributes(etree.SubElement(element, "sensorReport"), report)
        self.extensions(element, value, {"sensorMetadata", "sensorReport"})

    def event(self, parent: etree._Element, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        order = ORDER.get(kind)
        if order is None:
            return
        writer = self.within(event)
        element = etree.SubElement(parent, kind)
        for name in order:
            if name in event:
                writer.field(element, name, event[name])
        writer.extensions(element, event, set(order))


def _namespace_map(prefixes: Mapping[str, str]) -> dict[str | None, str]:
    nsmap: dict[str | None, str] = {"epcis": EPCIS_NS, "epcisq": QUERY_NS}
    seen = set(nsmap.values())
    for prefix, iri in prefixes.items():
        namespace = XML_NAMESPACES.get(iri, iri)
        if prefix in nsmap or namespace in seen:
            continue
        try:
            etree.QName(namespace, prefix)  # a valid NCName, a usable namespace
        except ValueError:
            continue
        nsmap[prefix] = namespace
        seen.add(namespace)
    return nsmap


def write_xml(document: Mapping[str, Any]) -> bytes:
    """An EPCISQueryDocument (or EPCISDocument) in the XML binding, UTF-8 with declaration."""
    prefixes = {**STANDARD_PREFIXES}
    prefixes.update({k: v for k, v in context_prefixes(document.get("@context")).items() if v})
    writer = _Writer(prefixes)
    query = document.get("type") == "EPCISQueryDocument"
    tag = etree.QName(QUERY_NS if query else EPCIS_NS, str(document.get("type", "EPCISDocument")))
    root = etree.Element(tag, nsmap=_namespace_map(prefixes))
    root.set("schemaVersion", text(document.get("schemaVersion", "2.0")))
    root.set("creationDate", text(document.get("creationDate", "")))
    body = etree.SubElement(root, "EPCISBody")
    if query:
        results = document.get("epcisBody", {}).get("queryResults", {})
        holder = etree.SubElement(body, etree.QName(QUERY_NS, "QueryResults"))
        etree.SubElement(holder, "queryName").text = text(results.get("queryName", ""))
        if "subscriptionID" in results:
            etree.SubElement(holder, "subscriptionID").text = text(results["subscriptionID"])
        event_list = etree.SubElement(etree.SubElement(holder, "resultsBody"), "EventList")
        extra = {k: v for k, v in results.items() if ":" in k}
        writer.extensions(holder, extra, set())
    else:
        event_list = etree.SubElement(body, "EventList")
    for event in events_of(document):
        writer.event(event_list, event)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


__all__ = ["ORDER", "text", "vocab_urn", "write_xml"]
