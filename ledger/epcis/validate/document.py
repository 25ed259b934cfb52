"""An EPCIS 2.0 document (``EPCISDocument`` or ``EPCISQueryDocument``) as a whole: its members,
header and body; each event is checked by ``events``."""

from __future__ import annotations

import re
from typing import Any

from ledger.epcis.validate.checker import Checker, child
from ledger.epcis.validate.events import event
from ledger.epcis.validate.formats import VERSION
from ledger.epcis.validate.master_data import header, vocabulary_list

DOCUMENT = "EPCISDocument"
QUERY_DOCUMENT = "EPCISQueryDocument"

_SURROGATE = re.compile("[\ud800-\udfff]")
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


def validate_document(
    document: Any, *, allowed: tuple[str, ...] = (DOCUMENT, QUERY_DOCUMENT), strict: bool = True
) -> None:
    """Raise ``EpcisInvalid`` for the first problem of an EPCIS 2.0 JSON document."""
    _document(Checker(strict), document, allowed)


def _document(c: Checker, doc: Any, allowed: tuple[str, ...]) -> None:
    if c.strict:
        _unicode(c, doc, "$")
    root = c.obj(doc, "$")
    c.required(root, "$", "type")
    kind = c.string(root["type"], "$.type")
    if kind not in allowed:
        c.fail("$.type", f"expected {' or '.join(allowed)}, found {kind!r}")
    if kind == DOCUMENT:
        c.required(root, "$", "@context", "type", "schemaVersion", "creationDate", "epcisBody")
        c.names(root, "$", _DOCUMENT_MEMBERS)
    else:
        c.required(root, "$", "@context", "type", "epcisBody")
        c.names(root, "$", _QUERY_DOCUMENT_MEMBERS)
    for key, value in root.items():
        path = child("$", key)
        if key == "@context":
            c.context(value, path)
        elif key == "id":
            c.uri(value, path)
        elif key == "schemaVersion":
            c.pattern(value, path, VERSION, "a version like 2.0")
        elif key == "creationDate":
            c.time(value, path)
        elif key in ("instanceIdentifier", "sender", "receiver") and kind == DOCUMENT:
            c.string(value, path)
        elif key == "epcisHeader" and kind == DOCUMENT:
            header(c, value, path)
        elif key == "epcisBody":
            _body(c, value, path, kind)


def _unicode(c: Checker, value: Any, path: str) -> None:
    """Text that UTF-8 can carry: no lone UTF-16 surrogates (a signed payload is UTF-8)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            c.fail(path, "expected Unicode text, found a lone UTF-16 surrogate")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _unicode(c, item, child(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                c.fail(path, "expected Unicode member names, found a lone surrogate")
            _unicode(c, item, child(path, key))


def _body(c: Checker, value: Any, path: str, kind: str) -> None:
    body = c.obj(value, path)
    if kind == DOCUMENT:
        c.required(body, path, "eventList")
        _event_list(c, body["eventList"], child(path, "eventList"))
        return
    c.required(body, path, "queryResults")
    c.names(body, path, frozenset({"queryResults"}))
    rp = child(path, "queryResults")
    results = c.obj(body["queryResults"], rp)
    c.required(results, rp, "queryName", "resultsBody")
    c.names(results, rp, frozenset({"queryName", "subscriptionID", "resultsBody"}))
    c.string(results["queryName"], child(rp, "queryName"))
    if "subscriptionID" in results:
        c.string(results["subscriptionID"], child(rp, "subscriptionID"))
    bp = child(rp, "resultsBody")
    results_body = c.obj(results["resultsBody"], bp)
    c.required(results_body, bp, "eventList")
    c.names(results_body, bp, frozenset({"eventList", "vocabularyList"}))
    _event_list(c, results_body["eventList"], child(bp, "eventList"))
    if "vocabularyList" in results_body:
        vocabulary_list(c, results_body["vocabularyList"], child(bp, "vocabularyList"))


def _event_list(c: Checker, value: Any, path: str) -> None:
    for index, item in enumerate(c.arr(value, path)):
        event(c, item, child(path, index))


__all__ = ["DOCUMENT", "QUERY_DOCUMENT", "validate_document"]
