"""Master data: the vocabulary list of an EPCIS header or of a query's results body."""

from __future__ import annotations

from typing import Any

from ledger.epcis.validate.checker import Checker, child, describe


def header(c: Checker, value: Any, path: str) -> None:
    epcis_header = c.obj(value, path)
    c.names(epcis_header, path, frozenset({"epcisMasterData"}))
    if "epcisMasterData" in epcis_header:
        master = c.obj(epcis_header["epcisMasterData"], child(path, "epcisMasterData"))
        if "vocabularyList" in master:
            vocabulary_list(
                c,
                master["vocabularyList"],
                child(child(path, "epcisMasterData"), "vocabularyList"),
            )


def vocabulary_list(c: Checker, value: Any, path: str) -> None:
    for index, item in enumerate(c.arr(value, path)):
        p = child(path, index)
        vocabulary = c.obj(item, p)
        c.required(vocabulary, p, "type")
        c.uri(vocabulary["type"], child(p, "type"))
        if "vocabularyElementList" in vocabulary:
            elements = child(p, "vocabularyElementList")
            for i, element in enumerate(c.arr(vocabulary["vocabularyElementList"], elements)):
                _vocabulary_element(c, element, child(elements, i))


def _vocabulary_element(c: Checker, value: Any, path: str) -> None:
    element = c.obj(value, path)
    c.required(element, path, "id")
    c.uri(element["id"], child(path, "id"))
    if "attributes" in element:
        attrs = child(path, "attributes")
        for j, attr in enumerate(c.arr(element["attributes"], attrs)):
            _attribute(c, attr, child(attrs, j))
    if "children" in element:
        kids = child(path, "children")
        for j, kid in enumerate(c.arr(element["children"], kids)):
            c.uri(kid, child(kids, j))


def _attribute(c: Checker, value: Any, path: str) -> None:
    attribute = c.obj(value, path)
    c.required(attribute, path, "id")
    c.uri(attribute["id"], child(path, "id"))
    if "attribute" in attribute and (
        isinstance(attribute["attribute"], bool | list) or attribute["attribute"] is None
    ):
        c.fail(
            child(path, "attribute"),
            f"expected a number, string or object, found {describe(attribute['attribute'])}",
        )
