"""The CBV 2.0 event hash of an EPCIS 2.0 JSON/JSON-LD event (``ni:///sha-256;…?ver=CBV2.0``).

CBV 2.0 section 8.9 defines a pre-hash string per event: ``eventType=…`` then the standard
fields in the canonical property order, each ``name=value`` with values canonicalised (times in
UTC at millisecond precision, numbers without superfluous zeros, identifiers as canonical GS1
Digital Link, CBV values as GS1 Web Vocabulary URIs), repeated elements sorted, then everything
else (ILMD, the business transaction, source and destination lists, user extensions) sorted,
extension names written ``{namespace}localName``. ``recordTime``, ``eventID`` and
``errorDeclaration`` are left out, so an error declaration has the hash of the event it
declares wrong. The hash is SHA-256 over the UTF-8 pre-hash, as an RFC 6920 ``ni`` URI.

Where the standard text leaves room, this implementation does what GS1's reference
implementation (epcis-event-hash-generator, whose published hashes the tests reproduce) does;
the choices it makes differently, and why, are in docs/adr/0010-event-hash-conformance.md:
the hash of an event depends on that event alone (not on its siblings in a document), numbers
are compared as exact decimals, booleans are written ``true``/``false``, and an event-level
``@context`` is context, not data.

Values arrive as parsed by ``ledger.epcis.jsontext.loads``: numbers with a fraction are
``Decimal`` (exact), never ``float``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.epcis.context import HashContext, document_context
from ledger.epcis.values import canonical_time, canonical_value
from ledger.epcis.vocab import CBV, GS1_VOC, Vocab, expand, words

HASH_PREFIX = "ni:///sha-256;"
HASH_SUFFIX = "?ver=CBV2.0"
HASH_URI = re.compile(r"\Ani:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0\Z")

#: Left out of the pre-hash: bookkeeping, not the event (CBV 2.0 section 8.9).
_NOT_HASHED = frozenset({"recordTime", "eventID", "type", "errorDeclaration", "@context"})
#: Dropped wherever they appear: comments are not data.
_COMMENTS = frozenset({"#text", "rdfs:comment", "comment"})
_PAIR_LISTS = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}


def _split(text: str) -> list[str]:
    return text.split()


_Order = list[tuple[str, "_Order | None"]]
_QUANTITY: _Order = [("epcClass", None), ("quantity", None), ("uom", None)]
#: The canonical property order of CBV 2.0 section 8.9 (business transactions, sources and
#: destinations are hashed with the trailing elements, as the reference implementation does).
PROPERTY_ORDER: _Order = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", [("epc", None)]),
    ("inputEPCList", [("epc", None)]),
    ("childEPCs", [("epc", None)]),
    ("quantityList", [("quantityElement", _QUANTITY)]),
    ("childQuantityList", [("quantityElement", _QUANTITY)]),
    ("inputQuantityList", [("quantityElement", _QUANTITY)]),
    ("outputEPCList", [("epc", None)]),
    ("outputQuantityList", [("quantityElement", _QUANTITY)]),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [
                    (
                        "sensorMetadata",
                        [
                            (name, None)
                            for name in _split(
                                "time startTime endTime deviceID deviceMetadata rawData "
                                "dataProcessingMethod bizRules"
                            )
                        ],
                    ),
                    (
                        "sensorReport",
                        [
                            (name, None)
                            for name in _split(
                                "type exception deviceID deviceMetadata rawData "
                                "dataProcessingMethod time microorganism chemicalSubstance value "
                                "component stringValue booleanValue hexBinaryValue uriValue "
                                "minValue maxValue meanValue sDev percRank percValue uom "
                                "coordinateReferenceSystem"
                            )
                        ],
                    ),
                ],
            )
        ],
    ),
]


def _scalar(value: object, ctx: HashContext) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return ctx.expand_value(value)
    return str(value)  # int or Decimal: the exact decimal digits


# -- the bare-word rule ------------------------------------------------------------------------------

#: (path of keys from the event, vocabulary) of every CBV-valued field.
_VOCAB_FIELDS: list[tuple[tuple[str, ...], Vocab]] = [
    (("bizStep",), Vocab.BIZ_STEP),
    (("disposition",), Vocab.DISPOSITION),
    (("persistentDisposition", "set"), Vocab.DISPOSITION),
    (("persistentDisposition", "unset"), Vocab.DISPOSITION),
    (("bizTransactionList", "type"), Vocab.BIZ_TRANSACTION_TYPE),
    (("sourceList", "type"), Vocab.SOURCE_DEST_TYPE),
    (("destinationList", "type"), Vocab.SOURCE_DEST_TYPE),
    (("errorDeclaration", "reason"), Vocab.ERROR_REASON),
    (("sensorElementList", "sensorReport", "type"), Vocab.MEASUREMENT_TYPE),
    (("sensorElementList", "sensorReport", "exception"), Vocab.SENSOR_ALERT_TYPE),
    (("sensorElementList", "sensorReport", "component"), Vocab.COMPONENT),
]


def _at(value: object, path: tuple[str, ...]) -> Iterable[object]:
    if isinstance(value, list):
        for item in value:
            yield from _at(item, path)
        return
    if not path:
        yield value
        return
    if isinstance(value, Mapping) and path[0] in value:
        yield from _at(value[path[0]], path[1:])


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)


def _vocabulary_uris(event: Mapping[str, Any]) -> frozenset[str]:
    """The CBV / GS1 vocabulary URIs the event uses (JSON-LD expands bare words to these)."""
    uris = {s for s in _strings(event) if s.startswith((CBV, GS1_VOC))}
    for path, vocab in _VOCAB_FIELDS:
        for value in _at(event, path):
            if isinstance(value, str) and value in words(vocab):
                uris.add(expand(value, vocab))
    return frozenset(uris)


def _bare_words(value: object, uris: frozenset[str]) -> object:
    """A bare word anywhere in the event that names exactly one of ``uris`` becomes that URI,
    the way JSON-LD expansion plus the reference implementation's matching treats it."""
    if isinstance(value, str):
        matches = [u for u in uris if u.endswith(("-" + value, "/" + value))]
        return matches[0] if len(matches) == 1 else value
    if isinstance(value, list):
        return [_bare_words(item, uris) for item in value]
    if isinstance(value, Mapping):
        return {key: _bare_words(item, uris) for key, item in value.items()}
    return value


# -- the tree ----------------------------------------------------------------------------------------


@dataclass
class _Node:
    name: str
    value: str = ""
    children: list[_Node] = field(default_factory=list)
    pair: bool = False  # one element of bizTransactionList / sourceList / destinationList


def _nodes(key: str, value: object, ctx: HashContext) -> list[_Node]:
    if key in _COMMENTS:
        return []
    name = ctx.expand_name(key)
    if isinstance(value, list):
        return [node for item in value for node in _nodes(key, item, ctx)]
    if isinstance(value, Mapping):
        children = [n for k, v in value.items() for n in _nodes(str(k), v, ctx)]
        return [_Node(name, "", children)]
    return [_Node(name, _scalar(value, ctx))]


_RENAMES = {
    "inputEPC": "epc",
    "outputEPC": "epc",
    "inputQuantity": "quantityElement",
    "outputQuantity": "quantityElement",
    "childQuantity": "quantityElement",
}


def _shape(node: _Node) -> _Node:
    """JSON's lists to the element structure CBV's pre-hash names (``epcList`` of ``epc``,
    ``quantityList`` of ``quantityElement``, business transactions as (type, value) pairs)."""
    kept: list[_Node] = []
    grouped: dict[str, list[_Node]] = {}
    child_epcs: list[_Node] = []
    for child in node.children:
        if child.name.endswith("List"):
            grouped.setdefault(child.name, []).append(child)
        elif child.name == "childEPCs":
            child_epcs.append(_Node("epc", child.value))
        else:
            kept.append(child)
    for list_name, elements in grouped.items():
        if list_name in _PAIR_LISTS:
            value_name = _PAIR_LISTS[list_name]
            pairs = []
            for element in elements:
                typed = [c for c in element.children if c.name == "type"]
                valued = [c for c in element.children if c.name == value_name]
                others = [c for c in element.children if c.name not in ("type", value_name)]
                pairs.append(_Node("", "", [*typed, *valued, *others], pair=True))
            kept.append(_Node(list_name, "", pairs))
        else:
            singular = list_name[: -len("List")]
            kept.append(
                _Node(list_name, "", [_Node(singular, e.value, e.children) for e in elements])
            )
    if child_epcs:
        kept.append(_Node("childEPCs", "", child_epcs))
    shaped = [c if c.name in _PAIR_LISTS else _shape(c) for c in kept]
    name = _RENAMES.get(node.name, node.name)
    if name == "quantity" and shaped:
        name = "quantityElement"
    return _Node(name, node.value, shaped, node.pair)


def _is_extension(node: _Node) -> bool:
    return not node.pair and "{" in node.name and "/}" in node.name


def _ordered(children: list[_Node], order: _Order, *, top: bool) -> str:
    """Standard fields of one level in ``order``, consuming them from ``children``; extensions
    of a nested standard field follow its standard fields (sorted)."""
    extensions: list[_Node] = []
    if (
        not top
        and len(children) > 1
        and not any("eventTime" in c.name or "action" in c.name for c in children)
    ):
        extensions = [c for c in children if _is_extension(c)]
        for ext in extensions:
            children.remove(ext)
    text = ""
    for name, sub_order in order:
        values = []
        for child in [c for c in children if not c.pair and c.name == name]:
            rendered = _standard(child, sub_order)
            if rendered:
                values.append(rendered)
            if not child.children:
                children.remove(child)
        text += "".join(sorted(values))
    if extensions:
        text += _generic(extensions)
    return text


def _standard(node: _Node, order: _Order | None) -> str:
    grand = _ordered(node.children, order, top=False) if order else ""
    text = node.value.strip()
    if text:
        lowered = node.name.lower()
        text = (
            canonical_time(text)
            if "time" in lowered and "offset" not in lowered
            else (canonical_value(text))
        )
    if not text and not grand:
        return ""
    return node.name + (f"={text}" if text else "") + grand


def _generic(children: list[_Node]) -> str:
    values = []
    for child in children:
        if child.pair:
            values.append("".join(_generic([c]) for c in child.children))
            continue
        text = child.value.strip()
        values.append(
            child.name + (f"={canonical_value(text)}" if text else "") + _generic(child.children)
        )
    if len(children) > 1 and not any(c.name in _PAIR_LISTS.values() for c in children):
        values.sort()
    return "".join(values)


def prehash(event: Mapping[str, Any], ctx: HashContext | None = None) -> str:
    """The canonical pre-hash string of one event (CBV 2.0 section 8.9)."""
    ctx = (ctx or HashContext()).within(event)
    expanded = _bare_words(event, _vocabulary_uris(event))
    assert isinstance(expanded, Mapping)
    root = _Node(
        str(event.get("type", "")),
        "",
        [n for key, value in expanded.items() for n in _nodes(str(key), value, ctx)],
    )
    children = _shape(root).children
    standard = _ordered(children, PROPERTY_ORDER, top=True)
    skipped = _NOT_HASHED | ctx.ignore
    rest = [c for c in children if c.name not in skipped]
    return f"eventType={root.name}{standard}{_generic(rest) if rest else ''}"


def hash_of_prehash(text: str) -> str:
    return HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest() + HASH_SUFFIX


def event_hash(event: Mapping[str, Any], ctx: HashContext | None = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of one event in its document's context."""
    return hash_of_prehash(prehash(event, ctx))


def document_hashes(document: Mapping[str, Any]) -> list[str]:
    """The hash of every event of an EPCIS (query) document, in document order."""
    ctx = document_context(document)
    return [event_hash(event, ctx) for event in events_of(document)]


def events_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    body = document.get("epcisBody")
    if not isinstance(body, Mapping):
        return []
    if isinstance(body.get("queryResults"), Mapping):
        results = body["queryResults"].get("resultsBody")
        body = results if isinstance(results, Mapping) else {}
    events = body.get("eventList")
    if isinstance(events, list):
        return [e for e in events if isinstance(e, Mapping)]
    event = body.get("event")
    return [event] if isinstance(event, Mapping) else []


__all__ = ["HASH_URI", "document_hashes", "event_hash", "events_of", "prehash"]
