"""What each standard member of an event holds: EPC and quantity lists, action, business step
and disposition, locations, business transactions, sources and destinations, sensor data, ILMD.
"""

from __future__ import annotations

from typing import Any

from ledger.epcis.validate.checker import Checker, child
from ledger.epcis.validate.formats import UOM
from ledger.epcis.validate.sensors import sensor_element
from ledger.epcis.vocab import Vocab

_EPC_LISTS = frozenset({"epcList", "inputEPCList", "outputEPCList"})
_QUANTITY_LISTS = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)


def member(c: Checker, key: str, value: Any, path: str, kind: str) -> None:
    """Check the member ``key`` of an event of type ``kind``."""
    if key in _EPC_LISTS or key == "childEPCs":
        # unique where the JSON Schema asks it: not in childEPCs, nor in a TransactionEvent
        unique = key != "childEPCs" and kind != "TransactionEvent"
        for index, item in enumerate(c.arr(value, path, unique=unique)):
            c.epc(item, child(path, index))
    elif key in _QUANTITY_LISTS:
        for index, item in enumerate(c.arr(value, path)):
            _quantity(c, item, child(path, index))
    elif key == "action":
        text = c.string(value, path)
        if text not in ("OBSERVE", "ADD", "DELETE"):
            c.fail(path, f"expected OBSERVE, ADD or DELETE, found {text!r}")
    elif key == "bizStep":
        c.cbv(value, path, Vocab.BIZ_STEP)
    elif key == "disposition":
        c.cbv(value, path, Vocab.DISPOSITION)
    elif key == "persistentDisposition":
        _persistent_disposition(c, value, path)
    elif key in ("readPoint", "bizLocation"):
        location = c.obj(value, path)
        c.required(location, path, "id")
        c.gs1_key(c.uri(location["id"], child(path, "id")), child(path, "id"))
    elif key in ("parentID", "transformationID"):
        c.epc(value, path)
    elif key == "bizTransactionList":
        minimum = 1 if kind == "TransactionEvent" else 0
        for index, item in enumerate(c.arr(value, path, min_items=minimum)):
            _typed(c, item, child(path, index), "bizTransaction", Vocab.BIZ_TRANSACTION_TYPE)
    elif key in ("sourceList", "destinationList"):
        name = key.removesuffix("List")
        for index, item in enumerate(c.arr(value, path)):
            _typed(c, item, child(path, index), name, Vocab.SOURCE_DEST_TYPE)
    elif key == "sensorElementList":
        for index, item in enumerate(c.arr(value, path)):
            sensor_element(c, item, child(path, index))
    elif key == "ilmd":
        ilmd = c.obj(value, path)
        c.names(ilmd, path, frozenset())


def _quantity(c: Checker, value: Any, path: str) -> None:
    element = c.obj(value, path)
    c.required(element, path, "epcClass")
    c.closed(element, path, frozenset({"epcClass", "quantity", "uom"}))
    c.epc(element["epcClass"], child(path, "epcClass"))
    if "quantity" in element:
        c.number(element["quantity"], child(path, "quantity"))
    if "uom" in element:
        c.pattern(element["uom"], child(path, "uom"), UOM, "a UN/CEFACT unit code like KGM")


def _persistent_disposition(c: Checker, value: Any, path: str) -> None:
    pd = c.obj(value, path)
    c.closed(pd, path, frozenset({"set", "unset"}))
    if "set" not in pd and "unset" not in pd:
        c.fail(child(path, "set"), "expected set or unset, found neither")
    for key in ("set", "unset"):
        if key in pd:
            p = child(path, key)
            for index, item in enumerate(c.arr(pd[key], p, min_items=1, unique=True)):
                c.cbv(item, child(p, index), Vocab.DISPOSITION)


def _typed(c: Checker, value: Any, path: str, name: str, vocab: Vocab) -> None:
    """A business transaction, source or destination: a value and its CBV type."""
    item = c.obj(value, path)
    if name == "bizTransaction":
        c.required(item, path, name)
    else:
        c.required(item, path, "type", name)
    c.closed(item, path, frozenset({"type", name}))
    if "type" in item:
        c.cbv(item["type"], child(path, "type"), vocab)
    text = c.uri(item[name], child(path, name))
    if name != "bizTransaction":
        c.gs1_key(text, child(path, name))  # a source or destination: a /417/ party, a /414/ place
